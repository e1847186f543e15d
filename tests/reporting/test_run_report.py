"""report.html: built at the end of every run, rebuilt by `aekit report`, opened in headless Chromium."""

import base64
import io
import json
import re
import shutil

import numpy as np
import pytest
import torch
from aekit_subprocess import aekit_cli, modules_after
from PIL import Image

import aekit
from aekit.errors import ModelFileError
from aekit.jacobians import jacobian_norms
from aekit.reporting.page_parts import kind_of
from aekit.reporting.run_report import report


def data_uri_images(text: str) -> list[tuple[str, Image.Image]]:
    """(alt, decoded PNG) for each <img> of an HTML page; fails on any src that is not a PNG data URI."""
    out = []
    for tag in re.findall(r"<img\b[^>]*>", text):
        src = re.search(r'src="([^"]*)"', tag).group(1)
        alt = re.search(r'alt="([^"]*)"', tag).group(1)
        assert src.startswith("data:image/png;base64,"), f"{alt}: not an embedded PNG: {src[:60]}"
        out.append((alt, Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))))
    return out


def copy_run(run, tmp_path, name="copy"):
    dst = tmp_path / name
    shutil.copytree(run.path, dst)
    (dst / "report.html").unlink()
    return dst


def edit_json(path, **changes):
    data = json.loads(path.read_text())
    for key, value in changes.items():
        section, _, field = key.partition("__")
        if field:
            data[section][field] = value
        else:
            data[section] = value
    path.write_text(json.dumps(data))


def test_train_writes_a_self_contained_report(tiny_runs):
    plain, sparse = tiny_runs
    for run, figures in (
        (plain, {"loss curves", "reconstructions", "mean code activation"}),
        (sparse, {"loss curves", "reconstructions", "mean code activation", "denoising examples"}),
    ):
        text = (run.path / "report.html").read_text(encoding="utf-8")
        images = data_uri_images(text)
        assert {alt for alt, _ in images} == figures
        for alt, img in images:
            img.load()  # a damaged PNG raises here
            assert img.width > 100 and img.height > 100, alt
        # nothing to fetch: no external src/href, no stylesheet or script files
        assert not re.search(r'(?:src|href)="(?!data:|#)', text)
        assert "<script" not in text and "<link" not in text
        for key, value in run.metrics.items():  # every final figure, with its value
            assert f"<th>{key}</th>" in text
            if isinstance(value, float):
                assert f"{value:.6g}" in text
        assert "Model: &quot;autoencoder&quot;" in text and "Total params: 50,992" in text  # the summary table
        assert kind_of(json.loads((run.path / "config.json").read_text())) in text
    assert "sparse (L1 1e-05) + denoising (gaussian 0.3)" in (sparse.path / "report.html").read_text()
    # the curves show every loss term: the sparse run has an l1 term, in its history and its report
    assert "l1" in sparse.history.history and "<th>val_l1</th>" in (sparse.path / "report.html").read_text()


def test_loss_curves_have_a_panel_per_term(tiny_runs):
    from aekit.reporting.page_parts import history_series, loss_terms_of
    from aekit.reporting.run_report import term_curves

    series = history_series(json.loads((tiny_runs[1].path / "history.json").read_text()))
    assert loss_terms_of(series) == ["loss", "recon", "l1"]
    fig = term_curves(series)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == ["loss", "recon", "l1"]
    assert [line.get_label() for line in panels[2].get_lines()] == ["l1", "val_l1"]
    np.testing.assert_allclose(panels[0].get_lines()[1].get_ydata(), series["val_loss"])


def test_report_shows_new_metrics_without_code_changes(tiny_runs, tmp_path):
    run = copy_run(tiny_runs[0], tmp_path)
    metrics = json.loads((run / "metrics.json").read_text())
    metrics.update(psnr_noisy=14.25, psnr_denoised=19.5)
    (run / "metrics.json").write_text(json.dumps(metrics))
    text = report(run).read_text()
    assert '<th>psnr_noisy</th><td class="num">14.25</td>' in text
    assert '<th>psnr_denoised</th><td class="num">19.5</td>' in text


def test_report_of_a_contractive_run_shows_the_jacobian_norm(tiny_runs, tmp_path):
    run = copy_run(tiny_runs[0], tmp_path)
    edit_json(run / "config.json", train__contractive=0.1)
    text = report(run).read_text()
    assert "contractive (λ 0.1)" in text
    assert "Jacobian norm" in {alt for alt, _ in data_uri_images(text)}


@pytest.mark.parametrize("hidden, code", [((8,), 4), ((12, 8), 70)])  # 70 units: two chunks of backward passes
def test_jacobian_norms_match_a_row_by_row_jacobian(hidden, code):
    config = aekit.ModelConfig(input_dim=20, hidden=hidden, encoding_dim=code, code_activation="sigmoid")
    model = aekit.Autoencoder(config)
    x = torch.rand(6, 20, generator=torch.Generator().manual_seed(0))
    got = jacobian_norms(model, x, batch_size=4)
    want = [torch.autograd.functional.jacobian(lambda r: model.encode(r[None])[0], row).norm().item() for row in x]
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_a_deep_models_jacobian_norm_imports_no_torch_dynamo():
    """torch.func's jacrev imports torch._dynamo (1.2 s at the end of every run of a deep model); the metric does
    without."""
    code = (
        "import torch, aekit\n"
        "from aekit.jacobians import jacobian_norm\n"
        "m = aekit.Autoencoder(aekit.ModelConfig(input_dim=8, hidden=(6,), encoding_dim=2, activation='elu'))\n"
        "assert jacobian_norm(m, torch.rand(5, 8)) > 0\n"
    )
    assert modules_after(code, "torch._dynamo") == []


def test_report_without_its_data_still_builds_with_a_note(tiny_runs, tmp_path):
    run = copy_run(tiny_runs[0], tmp_path)
    edit_json(run / "config.json", data__data=str(tmp_path / "gone.npy"), data__dataset=None)
    text = report(run, tmp_path / "out.html").read_text()
    assert "could not be loaded again" in text and "gone.npy" in text
    assert {alt for alt, _ in data_uri_images(text)} == {"loss curves", "reconstructions"}  # from history.json and disk


def test_report_embeds_other_pngs_of_the_run_folder(tiny_runs, tmp_path):
    from aekit.reporting.plots import histogram
    from aekit.reporting.rendering import save_figure

    run = copy_run(tiny_runs[0], tmp_path)
    save_figure(histogram(np.arange(10.0)), run / "scores.png")
    alts = [alt for alt, _ in data_uri_images(report(run).read_text())]
    assert alts.count("scores") == 1 and "loss" not in alts  # loss.png is drawn afresh, not embedded twice


def test_report_refuses_what_is_not_a_run_folder(tmp_path):
    with pytest.raises(ModelFileError, match="no such run folder"):
        report(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelFileError, match="no config.json"):
        report(tmp_path / "empty")
    assert not (tmp_path / "empty" / "report.html").exists()


def test_cli_report_rebuilds_the_report(tiny_runs, tmp_path):
    run = copy_run(tiny_runs[1], tmp_path)
    proc = aekit_cli("report", run)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(run / "report.html")
    assert len(data_uri_images((run / "report.html").read_text())) == 4


def test_cli_report_of_a_run_on_a_memmapped_npy_prints_no_warning(tmp_path, rng):
    np.save(tmp_path / "rows.npy", rng.random((120, 16), dtype=np.float32))  # float32: the run reads it as a memmap
    aekit.train(
        None,
        aekit.TrainConfig(epochs=1, batch_size=32),
        data=str(tmp_path / "rows.npy"),
        out=tmp_path / "run",
        tensorboard=False,
        verbose=0,
    )
    proc = aekit_cli("report", tmp_path / "run")  # a fresh process: torch's read-only-array warning is not spent yet
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr


def test_cli_report_error_is_one_line(tmp_path, capsys):
    from aekit.cli.main import main

    assert main(["report", str(tmp_path / "missing")]) == 2  # in-process: the subprocess path is tested above
    err = capsys.readouterr().err
    assert err.startswith("aekit: error: ") and "no such run folder" in err and len(err.strip().splitlines()) == 1


def test_train_passes_labels_and_thumbnails_to_the_projector(tiny_runs):
    from aekit import load_dataset

    run = tiny_runs[0]
    config = (run.path / "tb" / "projector_config.pbtxt").read_text()
    folder = run.path / "tb" / "00002" / "codes"
    assert 'tensor_name: "codes:00002"' in config and "00002/codes/sprite.png" in config
    y_val = load_dataset("mnist", limit=300).y_test  # the validation rows of the run
    assert (folder / "metadata.tsv").read_text().split() == [str(v) for v in y_val]
    assert np.loadtxt(folder / "tensors.tsv").shape == (len(y_val), 32)
    assert Image.open(folder / "sprite.png").size == (8 * 28, 8 * 28)  # ceil(√50) = 8 thumbnails a side


# --------------------------------------------------------------------------- in a real browser
@pytest.fixture(scope="module")
def rendered(tiny_runs, chromium):
    """The sparse denoising run's report as headless Chromium showed it: screenshot and image sizes (one launch)."""
    page = tiny_runs[1].path / "report.html"
    return (page, *chromium.render(page, 1200, 2400))


def test_report_renders_its_images_in_chromium(rendered):
    page, _, sizes = rendered
    control = [s for s in sizes if s["alt"] == "aekit-control"]
    assert control == [
        {"alt": "aekit-control", "complete": True, "width": 0, "height": 0}
    ]  # the probe sees a broken image
    loaded = [s for s in sizes if s["alt"] != "aekit-control"]
    expected = data_uri_images(page.read_text())
    assert [s["alt"] for s in loaded] == [alt for alt, _ in expected]
    for s, (alt, img) in zip(loaded, expected):
        assert s["complete"] and (s["width"], s["height"]) == img.size, alt


def test_report_screenshot_is_not_blank(rendered):
    _, shot, _ = rendered
    pixels = np.asarray(shot)
    assert shot.size == (1200, 2400)
    assert pixels.std() > 20
    # Text is drawn in #222 (luma 34): near-black areas can only come from the digit images.
    assert (pixels < 20).mean() > 0.02


def test_cli_a_write_the_system_refuses_is_one_line(tiny_runs, tmp_path, capsys):
    from aekit.cli.main import main

    run = copy_run(tiny_runs[0], tmp_path)
    # /proc takes no new files: as root the up-front check passes and the write itself fails (OSError), otherwise
    # the check refuses it; either way one line and exit 2
    assert main(["report", str(run), "--out", "/proc/aekit-report.html"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("aekit: error: ") and len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize("units", [32, 8192])
def test_the_code_activation_figure_stays_readable_for_a_code_of_thousands_of_units(units):
    """A conv code of thousands of units (a full-resolution model's: 32 channels × 16 × 16) is drawn as one filled step
    outline in a figure of bounded width; a small code keeps one bar per unit."""
    from aekit.reporting.run_report import code_activation_figure

    codes = np.random.default_rng(0).random((20, units))
    fig = code_activation_figure(codes)
    ax = fig.axes[0]
    assert fig.get_size_inches()[0] <= 14.0
    assert len(ax.patches) == (units if units <= 256 else 1)
    assert f"of {units} units never active" in ax.get_title()
