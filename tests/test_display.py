"""What a notebook shows of aekit's core objects: HTML tables (parsed back here) and the loss curves' Figure."""

from html_tables import parse_html
from matplotlib.figure import Figure

from aekit import Autoencoder, History, ModelConfig, summary
from aekit.display import show_figures_inline, table


def test_table_escapes_and_formats_its_cells():
    tables, _, _ = parse_html(table([("<b>", 0.123456), ("n", 50992), ("tiny", 1e-5)], ["name", "value"], caption="c"))
    assert tables == [[["name", "value"], ["<b>", "0.1235"], ["n", "50,992"], ["tiny", "1e-05"]]]


def history(epochs=12):
    h = History()
    for e in range(1, epochs + 1):
        h.append(
            e,
            {
                "recon": 1 / e,
                "l1": 0.01,
                "loss": 1 / e + 0.01,
                "val_recon": 1.1 / e,
                "val_loss": 1.1 / e + 0.01,
                "epoch_time": 0.5,
            },
        )
    return h


def test_history_html_is_a_table_of_epochs_and_terms():
    tables, _, text = parse_html(history()._repr_html_())
    (rows,) = tables
    assert rows[0] == ["epoch", "loss", "val_loss", "recon", "l1", "val_recon"]
    assert [r[0] for r in rows[1:]] == ["1", "2", "3", "4", "5", "…", "8", "9", "10", "11", "12"]  # long runs: ends
    assert rows[1][1] == "1.0100" and "History: 12 epochs" in text
    assert repr(history()) == "History(epochs=12, keys=['epoch_time', 'l1', 'loss', 'recon', 'val_loss', 'val_recon'])"


def test_history_plot_draws_every_term_with_validation_dashed():
    fig = history().plot()
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert sorted(lines) == ["l1", "loss", "recon", "val_loss", "val_recon"]
    assert lines["val_loss"].get_linestyle() == "--" and lines["loss"].get_linestyle() == "-"
    assert lines["val_loss"].get_color() == lines["loss"].get_color()
    assert list(lines["loss"].get_xdata()) == list(range(1, 13))
    assert ax.get_yscale() == "linear" and ax.get_xlabel() == "epoch"
    plain = History({"loss": [0.3, 0.2], "recon": [0.3, 0.2], "epoch_time": [1.0, 1.0]}, [1, 2]).plot()
    assert [line.get_label() for line in plain.axes[0].get_lines()] == ["loss"]  # recon == loss: drawn once


def test_model_html_is_its_summary_table():
    model = Autoencoder(ModelConfig())
    tables, _, text = parse_html(model._repr_html_())
    (rows,) = tables
    assert rows[0] == ["Layer (type)", "Output Shape", "Param #"]
    assert rows[1] == ["input (Input)", "(None, 784)", "0"]
    assert rows[2] == ["encoder.0 (Linear)", "(None, 32)", "25,120"]
    assert rows[-3] == ["Total params", "", "50,992"] and 'Model: "autoencoder"' in text
    assert "Total params: 50,992" in summary(model) and repr(model).startswith("Autoencoder(")  # text unchanged


def test_figures_are_registered_only_inside_a_kernel():
    assert show_figures_inline() is False  # pytest is no Jupyter kernel (the notebook tests show the PNGs)
