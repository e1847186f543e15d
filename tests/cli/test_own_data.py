"""`aekit` on a user's own data, as a new user meets it: tables and image folders nobody showed us, and outputs that
cannot be written. Each either works or stops with one line ``aekit: error: …``, exit code 2, nothing left behind."""

import json

import numpy as np
import pytest
from aekit_subprocess import aekit_cli as aekit
from PIL import Image


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AEKIT_CACHE", str(tmp_path / "cache"))


def snapshot(root):
    """Every file and folder under `root` but aekit's image cache (decoded images kept for later runs)."""
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() else "dir")
        for p in sorted(root.rglob("*"))
        if p.relative_to(root).parts[0] != "cache"
    }


def refused(roots, args, words):
    """Run `aekit ARGS`: exit 2, one line naming the problem, and nothing under the folders `roots` changed."""
    before = [snapshot(root) for root in roots]
    proc = aekit(*args, cwd=roots[0])
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("aekit: error: ") and words in lines[0], proc.stderr
    assert [snapshot(root) for root in roots] == before


@pytest.fixture(scope="module")
def table_run(tmp_path_factory):
    """A 1-epoch run on a 6-column table of values around 5 (standard-scaled), and the table itself."""
    root = tmp_path_factory.mktemp("table")
    np.save(root / "rows.npy", np.random.default_rng(0).normal(5, 3, (24, 6)))
    args = ("--epochs", "1", "--encoding-dim", "2", "--no-tensorboard", "--out", root / "run")
    proc = aekit("train", "--data", root / "rows.npy", *args)
    assert proc.returncode == 0, proc.stderr
    return root


@pytest.fixture(scope="module")
def gray_run(tmp_path_factory):
    """A 1-epoch run on four gray 8×8 images (with a cache of their own): the folder holding both."""
    import os

    root = tmp_path_factory.mktemp("gray")
    gray = _gray_folder(root)
    os.environ["AEKIT_CACHE"], before = str(root / "cache"), os.environ.get("AEKIT_CACHE")
    try:
        args = ("--epochs", "1", "--encoding-dim", "2", "--no-tensorboard", "--out", root / "run", "-q")
        proc = aekit("train", "--data", gray, *args)
    finally:
        os.environ.pop("AEKIT_CACHE") if before is None else os.environ.update(AEKIT_CACHE=before)
    assert proc.returncode == 0, proc.stderr
    return root


def _gray_folder(t):
    rng = np.random.default_rng(1)
    (t / "gray").mkdir()
    for i in range(4):
        Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(t / "gray" / f"{i}.png")
    return t / "gray"


def _nan_csv(t):
    (t / "holes.csv").write_text("a,b,c\n1,2,3\n4,,6\n7,8,9\n2,3,4\n")
    return t / "holes.csv"


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


def _one_row(root):
    root.mkdir()
    np.save(root / "row.npy", np.array([[3.0, 40.0, -2.0, 7.0]]))
    return root / "row.npy"


@pytest.mark.parametrize(
    "make, words",
    [
        (_one_row, "every column of the training data is constant (1 row): standard-scaled, the network sees only"),
        (_mixed_colours, "pass --color gray or --color rgb to choose"),
        (_one_column, "add a penalty (--l1, --kl-beta, --contractive) or input noise (--noise), or make --encoding"),
    ],
    ids=["one-row", "mixed-colour-images", "code-larger-than-a-one-column-table"],
)
def test_warnings_name_the_flags_on_the_command_line(tmp_path, make, words):
    data = make(tmp_path / "data")
    args = ("--epochs", "1", "--encoding-dim", "2", "--no-tensorboard", "--out", tmp_path / "run", "-q")
    proc = aekit("train", "--data", data, *args)
    assert proc.returncode == 0, proc.stderr
    assert words in proc.stderr
    assert "⟦" not in proc.stderr and "aekit: warning: " in proc.stderr


@pytest.mark.parametrize(
    "setup, words",
    [
        (
            lambda t, r: ["impute", _nan_csv(t), "-o", t / "holes.csv"],
            "holes.csv: writing here would replace the input itself; choose another output path",
        ),
        (lambda t, r: ["encode", r / "run", r / "rows.npy", "-o", r / "rows.npy"], "would replace the input"),
        (
            lambda t, r: ["report", r / "run", "--out", r / "run" / "config.json"],
            "would replace the config.json of the run folder",
        ),
        (lambda t, r: ["compare", r / "run", "--html", r / "run" / "metrics.json"], "would replace the metrics.json"),
    ],
    ids=["impute-in-place", "encode-onto-its-input", "report-onto-config", "compare-onto-metric"],
)
def test_an_output_never_replaces_what_the_command_reads(tmp_path, table_run, setup, words):
    refused([tmp_path, table_run], setup(tmp_path, table_run), words)


def test_denoised_images_never_replace_the_input_folder(gray_run):
    args = ["denoise", gray_run / "run", gray_run / "gray", "--noisy", "-o", gray_run / "gray"]
    refused([gray_run], args, "would replace the input folder")


@pytest.mark.parametrize(
    "name, words",
    [("hist.xyz", "hist.xyz: a figure is written as .png, .svg or .pdf, not .xyz")],  # no suffix: test_plots
)
def test_a_plot_in_a_format_it_cannot_write_is_refused_before_any_work(tmp_path, table_run, name, words):
    args = ["anomaly", table_run / "run", table_run / "rows.npy", "-o", tmp_path / "s.csv", "--plot", tmp_path / name]
    refused([tmp_path, table_run], args, words)


def test_a_plot_is_written_in_the_format_its_name_says(tmp_path, table_run):
    plot = tmp_path / "hist.svg"  # it wrote PNG bytes under that name (save_figure's formats: tests/reporting)
    args = ["anomaly", table_run / "run", table_run / "rows.npy", "-o", tmp_path / "s.csv", "--plot", plot]
    proc = aekit(*args)
    assert proc.returncode == 0, proc.stderr
    assert plot.read_bytes().startswith(b"<?xml")


def test_denoise_corrupts_a_minmax_scaled_table_in_the_units_the_run_was_trained_in(tmp_path, table_run):
    """`train` tells a table outside [0, 1] with gaussian noise to pass --scale minmax; `denoise` then works."""
    rows = table_run / "rows.npy"
    args = ["--kind", "denoising", "--noise-level", "0.2", "--epochs", "1", "--encoding-dim", "2", "-q"]
    args += ["--no-tensorboard"]
    proc = aekit("train", "--data", rows, "--scale", "minmax", "--out", tmp_path / "dae", *args)
    assert proc.returncode == 0, proc.stderr
    proc = aekit("denoise", tmp_path / "dae", rows, "-o", tmp_path / "clean.npy", "--save-noisy", tmp_path / "n.npy")
    assert proc.returncode == 0, proc.stderr
    assert "gaussian noise 0.2: PSNR noisy" in proc.stdout
    x, noisy, out = np.load(rows), np.load(tmp_path / "n.npy"), np.load(tmp_path / "clean.npy")
    assert out.shape == noisy.shape == x.shape
    lo, hi = x.min(axis=0), x.max(axis=0)  # noise clipped to the scaled [0, 1]: the training rows' range per column
    assert (noisy >= lo - 1e-4).all() and (noisy <= hi + 1e-4).all() and not np.allclose(noisy, x)
    assert abs(out.mean() - x.mean()) < 2  # the user's units (around 5), not the network's [0, 1]


def test_denoise_of_a_standard_scaled_table_with_gaussian_noise_says_to_train_with_minmax(tmp_path, table_run):
    args = ["denoise", table_run / "run", table_run / "rows.npy", "-o", tmp_path / "c.npy", "--noise", "gaussian"]
    words = "standard-scaled by the model, has values outside [0, 1]"
    refused([tmp_path, table_run], [*args, "--noise-level", "0.2"], words + " (min -")
    proc = aekit(*args[:-1], "masking", "--noise-level", "0.2")  # masking needs no range: as in training
    assert proc.returncode == 0, proc.stderr


def test_an_image_size_too_large_to_decode_is_refused_before_anything_is_written(tmp_path):
    gray = _gray_folder(tmp_path)  # 4 images of 10^12 pixels: 3.6 TiB, more than any disk or memory here
    args = ["train", "--data", gray, "--image-size", "1000000", "--epochs", "1", "--out", tmp_path / "run"]
    refused([tmp_path], args, "gray: 4 images of 1000000x1000000 (gray) need 3,725.3 GiB, but only ")


def test_an_image_size_or_colour_the_model_does_not_take_is_refused_before_decoding(tmp_path, gray_run):
    for option, value, words in [
        ("--image-size", "16", "16x16 gray, an image has 256 values"),
        ("--color", "rgb", "8x8 rgb, an image has 192 values"),
    ]:
        args = ["encode", gray_run / "run", gray_run / "gray", option, value, "-o", tmp_path / "codes.npy"]
        refused(
            [tmp_path, gray_run], args, f"{words}, but the model takes 64 (8x8 gray); drop --image-size and --color"
        )


def _dates_parquet(t):
    import pandas as pd

    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "when": pd.to_datetime(["2020-01-01", "2020-02-01"] * 2)})
    frame.to_parquet(t / "dated.parquet")
    return t / "dated.parquet"


def _numbers_txt(t):
    (t / "numbers.txt").write_text("1 2 3\n4 5 6\n")
    return t / "numbers.txt"


@pytest.mark.parametrize(
    "make, words",
    [
        (_dates_parquet, "column 'when' holds dates or durations (datetime64"),  # was trained on as nanoseconds
        (_numbers_txt, "numbers.txt: none of its 2 lines names an existing file (first: '1 2 3'); a .txt is read as"),
    ],
    ids=["dates-in-a-parquet-table", "numbers-in-a-txt-file"],
)
def test_a_table_aekit_cannot_read_as_numbers_is_refused_in_one_line(tmp_path, make, words):
    data = make(tmp_path)
    refused([tmp_path], ["train", "--data", data, "--epochs", "1", "--out", tmp_path / "run"], words)


@pytest.mark.parametrize("folder", [False, True], ids=["table", "image-folder"])
def test_a_validation_split_that_leaves_no_training_rows_says_so(tmp_path, folder):
    if folder:
        data = _gray_folder(tmp_path)
    else:
        data = tmp_path / "rows.npy"
        np.save(data, np.random.default_rng(0).normal(size=(4, 3)))
    args = ["train", "--data", data, "--val-split", "0.9", "--epochs", "1", "--out", tmp_path / "run"]
    refused([tmp_path], args, "--val-split 0.9 of 4 rows leaves no training rows; pass a smaller fraction")
    # it said "training data has no rows; pass at least one row of data"


@pytest.mark.parametrize("kind", ["conv", "denoising-conv", "denoising-photo"])
def test_an_image_kind_on_a_table_says_what_it_needs_and_what_to_use(tmp_path, table_run, kind):
    args = ["train", "--data", table_run / "rows.npy", "--kind", kind, "--epochs", "1", "--out", tmp_path / "run"]
    refused([tmp_path, table_run], args, "needs images (an image_shape of channels, height, width); train it on a")


def test_anomaly_normal_labels_without_labels_are_refused_not_ignored(tmp_path, table_run):
    args = ["anomaly", table_run / "run", table_run / "rows.npy", "--normal", "1", "-o", tmp_path / "s.csv"]
    refused([tmp_path, table_run], args, "--normal names the labels of the normal rows, but these rows have no labels")


def test_a_blank_line_between_rows_is_a_row_of_empty_fields_not_dropped(tmp_path):
    (tmp_path / "two.csv").write_text("a,b\n1,2\n\n3,4\n5,6\n\n")  # the blank line at the end is no row
    args = ["train", "--data", tmp_path / "two.csv", "--epochs", "1", "--out", tmp_path / "run"]
    refused([tmp_path], args, "two.csv: missing value (NaN) in column 'a', row 2;")  # it trained on 3 rows in silence
    (tmp_path / "one.csv").write_text("a\n1\n\n3\n4\n5\n")  # one column: an empty field is a blank line
    proc = aekit("impute", tmp_path / "one.csv", "-o", tmp_path / "filled.csv", "--epochs", "2")
    assert proc.returncode == 0, proc.stderr
    assert "filled 1 of 5 cells" in proc.stdout  # it said "nothing to fill" and wrote 4 rows
    filled = np.loadtxt(tmp_path / "filled.csv", delimiter=",", skiprows=1)
    assert filled.shape == (5,) and np.isfinite(filled).all() and list(filled[[0, 2, 3, 4]]) == [1, 3, 4, 5]


def test_a_conditional_run_on_a_folder_with_a_loose_image_says_why_it_has_no_labels(tmp_path):
    gray = _gray_folder(tmp_path)
    for i, cls in enumerate(["cat", "dog"]):
        (gray / cls).mkdir()
        for j in range(2):
            (gray / f"{2 * i + j}.png").rename(gray / cls / f"{j}.png")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(gray / "loose.png")
    args = ["train", "--data", gray, "--kind", "cvae", "--epochs", "1", "--out", tmp_path / "run"]
    refused([tmp_path], args, "a single image directly in the folder leaves the whole folder without labels")


def test_a_run_folder_inside_the_image_folder_it_trains_on_is_refused(tmp_path):
    gray = _gray_folder(tmp_path)  # the next run on it read the run's figures as images of other sizes
    args = ["train", "--data", gray, "--epochs", "1", "--out", gray / "run"]
    refused([tmp_path], args, "the run folder would lie inside the image folder")


def test_a_table_whose_header_names_the_training_columns_otherwise_is_refused(tmp_path):
    import pandas as pd

    frame = pd.DataFrame(np.random.default_rng(0).normal(5, 3, (20, 3)), columns=["height", "weight", "age"])
    frame.to_csv(tmp_path / "train.csv", index=False)
    args = ("--epochs", "1", "--encoding-dim", "2", "--no-tensorboard", "-q", "--out", tmp_path / "run")
    proc = aekit("train", "--data", tmp_path / "train.csv", *args)
    assert proc.returncode == 0, proc.stderr
    frame[["age", "height", "weight"]].to_parquet(tmp_path / "shuffled.parquet")  # encoded in silence before
    frame.rename(columns={"age": "years"}).to_csv(tmp_path / "renamed.csv", index=False)
    for name, words in [
        (
            "shuffled.parquet",
            "differ from the run's training table (the same names in another order: column 1 is 'age'",
        ),
        ("renamed.csv", "(other names: column 3 is 'years', in training 'age'); pass the columns height, weight, age"),
    ]:
        refused([tmp_path], ["encode", tmp_path / "run", tmp_path / name, "-o", tmp_path / "codes.npy"], words)
    proc = aekit("encode", tmp_path / "run", tmp_path / "train.csv", "-o", tmp_path / "codes.npy")
    assert proc.returncode == 0, proc.stderr  # the same header: as before
    args = [
        "train",
        "--data",
        tmp_path / "train.csv",
        "--val-data",
        tmp_path / "shuffled.parquet",
        "--out",
        tmp_path / "v",
    ]
    refused([tmp_path], args, "shuffled.parquet: its columns differ from those of train.csv (column 1 is 'age', in")


def test_an_onnx_opset_the_exporter_cannot_write_is_refused_not_replaced_in_silence(tmp_path, table_run):
    args = ["export", table_run / "run", "--out", tmp_path / "onnx", "--opset", "5"]
    # it wrote 18 with three tracebacks on stderr and exit 0; the line says what the exporter wrote instead (torch
    # >= 2.5) or which opsets it writes (torch < 2.5's TorchScript exporter)
    refused([tmp_path, table_run], args, "cannot write this model at opset 5 (")


def test_a_data_file_in_the_place_of_the_model_is_named_a_mix_up_not_a_damaged_model(tmp_path, table_run):
    refused([tmp_path, table_run], ["summary", table_run / "rows.npy"], "rows.npy: not a model file; pass a run folder")


@pytest.mark.parametrize(
    "command, name, words",
    [
        *[
            ("anomaly", n, "the scores are written as CSV; name the output .csv")
            for n in ("s.parquet",)  # .npy and .json meet the same check (files.py: the suffix against the format)
        ],
        ("report", "page.png", "the page is HTML; name the output .html"),
        ("compare", "page.csv", "the page is HTML; name the output .html"),
    ],
)
def test_an_output_goes_to_its_own_format_not_under_another_name(tmp_path, table_run, command, name, words):
    run, out = table_run / "run", tmp_path / name
    args = {
        "anomaly": ["anomaly", run, table_run / "rows.npy", "-o", out],
        "report": ["report", run, "--out", out],
        "compare": ["compare", run, "--html", out],
    }[command]
    refused([tmp_path, table_run], args, f"{name}: {words}")


@pytest.mark.parametrize("flag", ["-o", "--save-noisy"])
def test_denoised_images_go_to_a_folder_not_a_folder_named_like_a_file(tmp_path, gray_run, flag):
    outs = {"-o": tmp_path / "clean", flag: tmp_path / "rows.npy"}  # it made a folder named rows.npy
    args = ["denoise", gray_run / "run", gray_run / "gray", "--noise", "masking", "--noise-level", "0.2"]
    args += [a for pair in outs.items() for a in pair]
    refused([tmp_path, gray_run], args, "rows.npy: images are written as a folder of files with their own names")


def test_a_npy_of_colour_images_trains_a_conv_kind_and_its_uses_read_it(tmp_path):
    """(n, h, w, 3) uint8, as numpy users keep photos: the conv kind learns (3, h, w) images in [0, 1], and denoised
    images are written back as (n, h, w, 3)."""
    images = np.random.default_rng(0).integers(0, 256, (40, 16, 16, 3), dtype=np.uint8)
    np.save(tmp_path / "photos.npy", images)
    run = tmp_path / "run"
    args = ["--kind", "conv", "--epochs", "1", "--batch-size", "16", "--out", run, "-q", "--no-tensorboard"]
    proc = aekit("train", "--data", tmp_path / "photos.npy", *args)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((run / "config.json").read_text())["model"]["image_shape"] == [3, 16, 16]
    proc = aekit("encode", run, tmp_path / "photos.npy", "-o", tmp_path / "codes.npy")
    assert proc.returncode == 0, proc.stderr
    assert np.load(tmp_path / "codes.npy").shape[0] == 40
    # denoised images come back in the input's layout, (n, h, w, 3), as the library's rows of (3, h, w) say
    noise = ["--noise", "gaussian", "--noise-level", "0.1", "--seed", "3"]
    proc = aekit("denoise", run, tmp_path / "photos.npy", "-o", tmp_path / "clean.npy", *noise)
    assert proc.returncode == 0, proc.stderr
    from aekit.data.arrays import load_array
    from aekit.uses.denoising import denoise

    rows = denoise(run, load_array(tmp_path / "photos.npy"), noise="gaussian", noise_level=0.1, seed=3).denoised
    want = np.moveaxis(rows.reshape(40, 3, 16, 16), 1, -1)
    np.testing.assert_allclose(np.load(tmp_path / "clean.npy"), want, atol=1e-5)


def test_the_anomaly_recipe_on_a_csv_of_nine_columns_trains_the_table_recipe(tmp_path):
    """9 columns outside [0, 1] are a table, not a 3×3 image: a dense run (it was a conv one, below chance on it)."""
    r = np.random.default_rng(0)
    x = r.normal(size=(80, 9))
    (tmp_path / "t.csv").write_text(
        ",".join(f"f{j}" for j in range(9)) + "\n" + "\n".join(",".join(f"{v:.4f}" for v in row) for row in x) + "\n"
    )
    proc = aekit(
        "train",
        "--recipe",
        "anomaly",
        "--data",
        "t.csv",
        "--epochs",
        1,
        "--out",
        "run",
        "-q",
        "--no-tensorboard",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["model"]["architecture"] == "dense" and config["model"]["image_shape"] is None
    proc = aekit("anomaly", "run", "t.csv", "-o", "s.csv", cwd=tmp_path)
    assert proc.returncode == 0 and "80 rows scored by recipe" in proc.stdout, proc.stderr


def test_encode_refusing_its_map_leaves_no_codes_file(tmp_path):
    """t-SNE of 2 rows is refused in one line, naming the fix; the codes were written before and left behind."""
    (tmp_path / "t.csv").write_text("a,b,c\n" + "\n".join(f"{i % 7},{i % 5},{i % 3}" for i in range(40)) + "\n")
    aekit("train", "--data", "t.csv", "--epochs", 1, "--out", "run", "-q", "--no-tensorboard", cwd=tmp_path, check=True)
    (tmp_path / "two.csv").write_text("a,b,c\n1,2,0\n3,4,1\n")
    proc = aekit("encode", "run", "two.csv", "-o", "codes.csv", "--plot", "map.png", "--method", "tsne", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "t-SNE needs at least 3 points, got 2; pass --method pca, or more rows" in proc.stderr
    assert not (tmp_path / "codes.csv").exists() and not (tmp_path / "map.png").exists()
