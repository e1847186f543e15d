"""Tests for aekit.reporting.curves: a history's loss curves."""

from matplotlib.colors import to_rgba

from aekit.reporting import curves


def test_loss_curves_lines_and_colours():
    history = {
        "loss": [1.0, 0.5, 0.3],
        "val_loss": [1.1, 0.6, 0.4],
        "recon": [0.9, 0.45, 0.25],
        "val_recon": [1.0, 0.5, 0.35],
        "sparsity": [0.1, 0.05, 0.05],
        "epoch_time": [1.2, 1.1, 1.0],
        "note": ["a", "b", "c"],
    }
    fig = curves.loss_curves(history, title="t")
    (ax,) = fig.axes
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    assert set(lines) == {"loss", "val_loss", "recon", "val_recon", "sparsity"}
    for key in ("loss", "recon"):
        assert to_rgba(lines[key].get_color()) == to_rgba(lines["val_" + key].get_color())
        assert lines[key].get_linestyle() == "-"
        assert lines["val_" + key].get_linestyle() == "--"
    assert to_rgba(lines["loss"].get_color()) != to_rgba(lines["recon"].get_color())
    assert list(lines["loss"].get_xdata()) == [1, 2, 3]
    assert ax.get_xlabel() == "epoch"
    assert ax.get_legend() is not None
    assert ax.get_yscale() == "linear"


def test_loss_curves_draw_no_recon_on_top_of_an_equal_loss():
    fig = curves.loss_curves({"loss": [1.0, 0.5], "recon": [1.0, 0.5], "val_loss": [1.1, 0.6], "val_recon": [1.1, 0.6]})
    assert {ln.get_label() for ln in fig.axes[0].get_lines()} == {"loss", "val_loss"}


def test_loss_curves_log_scale_for_very_different_terms():
    fig = curves.loss_curves({"loss": [10.0, 5.0], "contractive": [1e-4, 5e-5]})
    assert fig.axes[0].get_yscale() == "log"
    fig = curves.loss_curves({"loss": [10.0, -5.0], "contractive": [1e-4, 5e-5]})
    assert fig.axes[0].get_yscale() == "linear"
