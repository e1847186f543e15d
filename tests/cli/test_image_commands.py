"""`aekit` on a folder of colour images, as a user runs it: a conv run on 32×32 RGB, then encode, anomaly and denoise
on the same folder; bad files and mixed sizes refused with one line and nothing written."""

import csv
import json

import numpy as np
import pytest
from aekit_subprocess import aekit_cli as aekit
from PIL import Image


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """16 RGB 32×32 images in two class folders (reddish cats, bluish dogs), PNG and JPEG, and a cache of their own."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for cls, channel in (("cat", 0), ("dog", 2)):
        (root / "photos" / cls).mkdir(parents=True)
        for i in range(8):
            a = rng.integers(0, 60, (32, 32, 3))
            a[..., channel] += 180
            Image.fromarray(a.astype(np.uint8)).save(
                root / "photos" / cls / (f"{i}.png" if i % 2 else f"{i}.jpg"), quality=95
            )
    return root


@pytest.fixture(autouse=True)
def _cache(photos, monkeypatch):
    monkeypatch.setenv("AEKIT_CACHE", str(photos / "cache"))


@pytest.fixture(scope="module")
def run(photos):
    import os

    os.environ["AEKIT_CACHE"] = str(photos / "cache")  # module scope: the autouse fixture is not yet active
    proc = aekit(
        "train",
        "--data",
        photos / "photos",
        "--kind",
        "conv",
        "--epochs",
        "2",
        "--optimizer",
        "adam",
        "--batch-size",
        "8",
        "--out",
        photos / "run",
        "-q",
        "--no-tensorboard",
    )
    assert proc.returncode == 0, proc.stderr
    return photos / "run"


def test_a_conv_run_on_rgb_images_records_their_shape_and_classes(run):
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["image_shape"] == [3, 32, 32] and config["model"]["architecture"] == "conv"
    images = config["data"]["images"]
    assert images["classes"] == ["cat", "dog"] and images["n_images"] == 16 and images["color"] == "rgb"
    assert config["data"]["resize"] == "crop" and config["data"]["image_size"] is None
    assert json.loads((run / "metrics.json").read_text())["skipped_images"] == 0
    grid = np.asarray(Image.open(run / "reconstructions.png").convert("RGB")).astype(int)
    assert (np.abs(grid[..., 0] - grid[..., 2]) > 100).any(), "the originals are drawn in colour"


def test_encode_and_anomaly_write_one_row_per_file_with_its_path(run, photos, tmp_path):
    proc = aekit("encode", run, photos / "photos", "-o", tmp_path / "codes.csv")
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / "codes.csv") as f:
        table = list(csv.DictReader(f))
    assert [r["path"] for r in table] == [
        f"{c}/{i}.{'png' if i % 2 else 'jpg'}" for c in ("cat", "dog") for i in sorted(range(8), key=str)
    ]
    assert {r["label"] for r in table} == {"cat", "dog"} and len(table[0]) == 2 + 256
    proc = aekit("anomaly", run, photos / "photos", "--normal", "cat", "-o", tmp_path / "scores.csv")
    assert proc.returncode == 0, proc.stderr
    assert "ROC-AUC" in proc.stdout
    with open(tmp_path / "scores.csv") as f:
        scores = list(csv.DictReader(f))
    assert [r["path"] for r in scores] == [r["path"] for r in table]
    assert [r["label"] for r in scores] == ["0"] * 8 + ["1"] * 8  # dog, not in --normal, is the anomaly
    proc = aekit("anomaly", run, photos / "photos", "--normal", "cow", "-o", tmp_path / "s2.csv")
    assert proc.returncode == 2 and "unknown normal label 'cow'; the classes of photos are cat, dog" in proc.stderr


def test_anomaly_on_class_folders_without_normal_gives_no_roc_auc(run, photos, tmp_path):
    """Folders cat and dog are labels 0 and 1 by their order alone: taken as 0/1, dog was the anomaly (and in an
    MVTec-like folder of crack/ and good/, good would be), so without --normal there is no ROC-AUC, and a note."""
    proc = aekit("anomaly", run, photos / "photos", "-o", tmp_path / "scores.csv")
    assert proc.returncode == 0, proc.stderr
    assert "flagged, ROC-AUC" not in proc.stdout and "are the folders cat, dog and no --normal was given" in proc.stdout
    with open(tmp_path / "scores.csv") as f:
        assert len(list(csv.DictReader(f))) == 16


def test_denoise_writes_images_with_the_same_names_and_formats(run, photos, tmp_path):
    out = tmp_path / "clean"
    proc = aekit("denoise", run, photos / "photos", "--noisy", "-o", out)
    assert proc.returncode == 0, proc.stderr
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == sorted(p.relative_to(photos / "photos").as_posix() for p in (photos / "photos").rglob("*.*"))
    with Image.open(out / "cat" / "0.jpg") as a, Image.open(out / "cat" / "1.png") as b:
        assert (a.format, a.size, a.mode, b.format, b.mode) == ("JPEG", (32, 32), "RGB", "PNG", "RGB")
    again = aekit("denoise", run, photos / "photos", "--noisy", "-o", out)  # never overwrites an image
    assert again.returncode == 2 and "exists already" in again.stderr
    into_source = aekit("denoise", run, photos / "photos", "--noisy", "-o", photos / "photos")
    assert into_source.returncode == 2 and "would replace the input folder itself" in into_source.stderr


def test_a_bad_file_stops_with_one_line_or_is_skipped_and_counted(photos, tmp_path):
    bad = tmp_path / "bad"
    for p in (photos / "photos" / "cat").glob("*.png"):
        (bad / "cat").mkdir(parents=True, exist_ok=True)
        (bad / "cat" / p.name).write_bytes(p.read_bytes())
    (bad / "cat" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    proc = aekit("train", "--data", bad, "--epochs", "1", "--out", tmp_path / "run", "-q")
    assert proc.returncode == 2 and not (tmp_path / "run").exists()
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "broken.png: cannot read it as an image" in lines[0] and "--skip-bad-images" in lines[0]
    proc = aekit(
        "train",
        "--data",
        bad,
        "--epochs",
        "1",
        "--out",
        tmp_path / "run",
        "-q",
        "--skip-bad-images",
        "--no-tensorboard",
    )
    assert proc.returncode == 0, proc.stderr
    assert "skipped 1 unreadable file" in proc.stderr
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["skipped_images"] == 1


def test_mixed_sizes_and_misplaced_image_options_get_one_line(tmp_path):
    (tmp_path / "m").mkdir()
    Image.new("RGB", (16, 16)).save(tmp_path / "m" / "a.png")
    Image.new("RGB", (20, 12)).save(tmp_path / "m" / "b.png")
    proc = aekit("train", "--data", tmp_path / "m", "--out", tmp_path / "run", "-q")
    assert proc.returncode == 2 and "pass --image-size" in proc.stderr and not (tmp_path / "run").exists()
    proc = aekit("train", "--image-size", "64", "--out", tmp_path / "run", "-q")
    assert proc.returncode == 2 and "apply to a folder of images" in proc.stderr
    proc = aekit("train", "--data", tmp_path / "m", "--image-size", "64x", "--out", tmp_path / "run", "-q")
    assert proc.returncode == 2 and "image size must be N or HEIGHTxWIDTH" in proc.stderr
