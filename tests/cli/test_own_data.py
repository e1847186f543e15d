"""`aekit` on a user's own data, as a new user meets it: tables and image folders nobody showed us, and outputs that
cannot be written. Each either works or stops with one line ``aekit: error: …``, exit code 2, nothing left behind."""

import numpy as np
import pytest
from aekit_subprocess import aekit_cli as aekit
from PIL import Image


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AEKIT_CACHE", str(tmp_path / "cache"))


def _mixed_colours(root):
    """Three gray 8×8 PNGs and one RGB: a folder whose colour is read as the majority's, with a warning."""
    rng = np.random.default_rng(0)
    root.mkdir()
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(root / f"g{i}.png")
    Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(root / "c.png")
    return root


def _one_column(root):
    path = root / "one.npy"
    root.mkdir()
    np.save(path, np.random.default_rng(0).normal(5, 3, (12, 1)))
    return path


@pytest.mark.parametrize(
    "make, words",
    [
        (_mixed_colours, "pass --color gray or --color rgb to choose"),
        (_one_column, "add a penalty (--l1, --kl-beta, --contractive) or input noise (--noise), or make --encoding"),
    ],
    ids=["mixed-colour-images", "code-larger-than-a-one-column-table"],
)
def test_warnings_name_the_flags_on_the_command_line(tmp_path, make, words):
    data = make(tmp_path / "data")
    proc = aekit("train", "--data", data, "--epochs", "1", "--encoding-dim", "2", "--out", tmp_path / "run", "-q")
    assert proc.returncode == 0, proc.stderr
    assert words in proc.stderr
    assert "⟦" not in proc.stderr and "aekit: warning: " in proc.stderr
