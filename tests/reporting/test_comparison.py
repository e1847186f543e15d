"""`aekit compare`: runs side by side in the terminal, and as HTML with the curves overlaid."""

import base64
import io
import json
import re

import numpy as np
import pytest
from aekit_subprocess import aekit_cli
from PIL import Image

from aekit.errors import ConfigError, ModelFileError
from aekit.reporting.comparison import compare, text_table


def row(text: str, name: str) -> list[str]:
    """The cells of the table row called `name` (cells are separated by 2+ spaces)."""
    for line in text.splitlines():
        if line.startswith(name + "  ") or line == name:
            return re.split(r"\s{2,}", line.strip())[1:]
    raise AssertionError(f"no row {name!r} in\n{text}")


def test_compare_puts_runs_side_by_side(tiny_runs):
    plain, sparse = tiny_runs
    text = compare([plain.path, sparse.path])
    lines = text.splitlines()
    assert lines[0].split() == ["run", "plain", "sparse-denoising"]
    assert set(lines[1]) == {"-", " "}
    assert row(text, "kind") == ["plain", "sparse (L1 1e-05) + denoising (gaussian 0.3)"]
    assert row(text, "optimizer") == ["adadelta", "adam"]
    assert row(text, "lr") == ["1", "0.001"]  # the learning rate in use, not the config's None
    for key in ("loss", "val_loss", "recon", "seconds_per_epoch", "mean_code_activation"):
        assert row(text, key) == [f"{plain.metrics[key]:.5g}", f"{sparse.metrics[key]:.5g}"]
    assert row(text, "val_l1") == [f"{sparse.metrics['val_l1']:.5g}"]  # blank for the run without that term
    # the value columns line up: every cell of a column starts (left-aligned) or ends (right-aligned) in one place
    starts = {line.index(word) for line in lines for word in ("adadelta", "plain", "bce") if f" {word} " in line}
    ends = {len(line) for line in lines[2:] if re.search(r"\s[-+]?\d[\d.e+-]*$", line)}
    assert len(starts) == 1 and len(ends) == 1


def test_compare_shows_settings_only_one_run_has(tiny_runs, tmp_path):
    import shutil

    other = tmp_path / "other"
    shutil.copytree(tiny_runs[0].path, other)
    config = json.loads((other / "config.json").read_text())
    config["train"]["patience"] = 3
    config["train"]["new_setting"] = "x"  # a field from a newer aekit
    (other / "config.json").write_text(json.dumps(config))
    text = compare([tiny_runs[0].path, other])
    assert row(text, "patience") == ["0", "3"] and row(text, "new_setting") == ["x"]
    assert "shuffle" not in text  # the same in both runs: left out


def test_compare_html_overlays_the_curves(tiny_runs, tmp_path):
    out = tmp_path / "cmp.html"
    text = compare([r.path for r in tiny_runs], html=out)
    page = out.read_text(encoding="utf-8")
    assert "<th>plain</th><th>sparse-denoising</th>" in page and "sparse (L1 1e-05) + denoising (gaussian 0.3)" in page
    srcs = re.findall(r'<img src="(data:image/png;base64,[^"]+)"', page)
    assert len(srcs) == 1 and not re.search(r'(?:src|href)="(?!data:)', page)
    img = Image.open(io.BytesIO(base64.b64decode(srcs[0].split(",", 1)[1])))
    assert img.width > 500 and img.height > 300
    assert text.splitlines()[0].split() == ["run", "plain", "sparse-denoising"]


def test_overlay_has_a_panel_per_term_and_a_line_per_run(tiny_runs):
    from aekit.reporting.comparison import _load, overlay_curves

    runs = [_load(r.path) for r in tiny_runs]
    fig = overlay_curves(runs, ["a", "b"])
    panels = {ax.get_title(): [line.get_label() for line in ax.get_lines()] for ax in fig.axes if ax.get_visible()}
    assert panels == {
        "loss": ["a train", "a val", "b train", "b val"],
        "recon": ["a train", "a val", "b train", "b val"],
        "l1": ["b train", "b val"],
    }


def test_compare_refuses_bad_input(tiny_runs, tmp_path):
    with pytest.raises(ConfigError, match="list of run folders"):
        compare([])
    with pytest.raises(ConfigError, match="list of run folders"):
        compare(str(tiny_runs[0].path))
    with pytest.raises(ModelFileError, match="no such run folder"):
        compare([tiny_runs[0].path, tmp_path / "nope"], html=tmp_path / "c.html")
    assert not (tmp_path / "c.html").exists()


def test_text_table_aligns_numbers_right():
    text = text_table(["run", "a", "b"], [("kind", ["plain", "sparse"]), ("loss", [0.5, 0.123456])])
    assert text.splitlines() == [
        "run   a      b",
        "----  -----  -------",
        "kind  plain  sparse",
        "loss    0.5  0.12346",
    ]


def test_cli_compare(tiny_runs, tmp_path, chromium):
    out = tmp_path / "cmp.html"
    proc = aekit_cli("compare", *(str(r.path) for r in tiny_runs), "--html", str(out))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].split() == ["run", "plain", "sparse-denoising"]
    assert proc.stdout.strip().endswith(f"wrote {out}")
    # and the page shows its figure in a real browser (one launch)
    shot, sizes = chromium.render(out, 1200, 1600)
    assert np.asarray(shot).std() > 20
    sizes = [s for s in sizes if s["alt"] != "aekit-control"]
    assert len(sizes) == 1 and sizes[0]["complete"] and sizes[0]["width"] > 500 and sizes[0]["height"] > 300


@pytest.mark.parametrize(
    "kind, recorded, label",
    [
        ("conv", True, "conv"),
        ("deep", True, "deep"),
        ("deep-hinton", True, "deep-hinton + weight decay 5e-06"),
        ("undercomplete", True, "undercomplete"),
        ("sparse", True, "sparse (L1 0.0001)"),
        ("conv", False, "conv"),
        ("deep", False, "deep"),
        ("undercomplete", False, "plain"),  # runs that recorded no kind
    ],
)
def test_runs_are_labelled_by_their_kind(kind, recorded, label):
    from aekit.config import to_dict
    from aekit.kinds import configure
    from aekit.reporting.page_parts import kind_of

    model, train = configure(kind)
    config = {"model": to_dict(model), "train": to_dict(train), **({"kind": kind} if recorded else {})}
    assert kind_of(config) == label
