"""The bad-input table (docs/reliability.md): every row through the real CLI in a subprocess.

Each row must give exit code 2, exactly one stderr line ``aekit: error: …`` naming the problem, no
traceback, and leave every file and folder under the test's folder exactly as it was (no output folder
created, no run folder changed, no temporary file left).
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from aekit_subprocess import aekit_cli

from aekit import ConfigError, TrainConfig, train
from aekit.data.arrays import write_idx
from aekit.errors import cli_text, option, render


def aekit(*args, cwd=None):
    return aekit_cli(*args, cwd=cwd)


def snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else "dir") for p in sorted(root.rglob("*"))}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A real 2-epoch run folder on a 6-feature table (copied by the rows that need one)."""
    root = tmp_path_factory.mktemp("trained")
    np.save(root / "rows.npy", np.random.default_rng(0).random((60, 6), dtype=np.float32))
    train(
        None,
        TrainConfig(epochs=2, batch_size=16),
        data=str(root / "rows.npy"),
        out=root / "run",
        verbose=0,
        tensorboard=False,
    )
    return root / "run"


# --------------------------------------------------------------------------- inputs for the rows
def idx_set(t: Path, *, images=None, labels=None, raw_images: bytes | None = None) -> Path:
    """A tiny MNIST-shaped IDX folder (12 training images); `raw_images` replaces the training images file."""
    d = t / "idx"
    d.mkdir()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (12, 28, 28), dtype=np.uint8) if images is None else images
    labels = np.arange(len(images), dtype=np.uint8) % 10 if labels is None else labels
    write_idx(d / "train-images-idx3-ubyte.gz", images)
    write_idx(d / "train-labels-idx1-ubyte.gz", labels)
    write_idx(d / "t10k-images-idx3-ubyte.gz", images[:2])
    write_idx(d / "t10k-labels-idx1-ubyte.gz", labels[:2])
    if raw_images is not None:
        (d / "train-images-idx3-ubyte.gz").unlink()
        (d / "train-images-idx3-ubyte").write_bytes(raw_images)
    return d


def idx_bytes(a: np.ndarray) -> bytes:
    return bytes([0, 0, 8, a.ndim]) + np.array(a.shape, ">u4").tobytes() + a.tobytes()


def damaged_gz(t: Path, cut: bool) -> Path:
    d = idx_set(t)
    f = d / "train-images-idx3-ubyte.gz"
    data = f.read_bytes()
    f.write_bytes(data[: len(data) // 2] if cut else data[:40] + bytes(64) + data[104:])
    return d


def text(t: Path, name: str, content: str) -> Path:
    (t / name).write_text(content)
    return t / name


def npy(t: Path, array) -> Path:
    np.save(t / "x.npy", np.asarray(array, dtype=np.float32))
    return t / "x.npy"


def copy_run(t: Path, run: Path) -> Path:
    shutil.copytree(run, t / "run")
    return t / "run"


def edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def edited_config(t: Path, run: Path) -> Path:
    r = copy_run(t, run)
    edit_json(r / "config.json", lambda c: c["model"].update(encoding_dim=7))
    return r


def flipped_byte(t: Path, run: Path) -> Path:
    r = copy_run(t, run)
    f = r / "model.safetensors"
    data = bytearray(f.read_bytes())
    data[-5] ^= 0x40  # one bit of one weight
    f.write_bytes(bytes(data))
    return r


def tampered_header(t: Path, run: Path) -> Path:
    r = copy_run(t, run)
    f = r / "model.safetensors"
    f.write_bytes(f.read_bytes().replace(b'"F32"', b'"F16"', 1))
    return r


def truncated(t: Path, run: Path, name: str) -> Path:
    r = copy_run(t, run)
    f = r / name
    f.write_bytes(f.read_bytes()[:-100])
    return r


def other_features(t: Path, run: Path) -> Path:
    """The run's data file was replaced by one with 5 columns instead of 6."""
    r = copy_run(t, run)
    np.save(t / "new.npy", np.random.default_rng(1).random((60, 5), dtype=np.float32))
    edit_json(r / "config.json", lambda c: c["data"].update(data=str(t / "new.npy")))
    return r


HELD = []  # run-folder locks this process holds for a row, released after it


def locked(t: Path, run: Path) -> Path:
    """A copy of the run, locked as a training into it would lock it (an OS lock, held by this test's process)."""
    from aekit.runfolder import lock_run_folder

    r = copy_run(t, run)
    HELD.append(lock_run_folder(r))
    return r


def edited_train_config(t: Path, run: Path) -> Path:
    r = copy_run(t, run)
    edit_json(r / "config.json", lambda c: c["train"].update(batch_size=8))
    return r


OUT = "out"  # each train row writes (or rather, must not write) tmp/out

# id: (setup(tmp, trained_run) -> argv, words the message must hold)
ROWS = {
    "missing file": (lambda t, r: ["train", "--data", t / "nowhere.csv"], "nowhere.csv: no such file; check the path"),
    "truncated gzip": (lambda t, r: ["train", "--data-dir", damaged_gz(t, cut=True)], "corrupt or truncated gzip data"),
    "corrupt gzip": (lambda t, r: ["train", "--data-dir", damaged_gz(t, cut=False)], "corrupt or truncated gzip data"),
    "wrong IDX magic": (
        lambda t, r: ["train", "--data-dir", idx_set(t, raw_images=b"\x08\x03" + bytes(2) + bytes(12))],
        "not an IDX file (starts with 08 03 00 00",
    ),
    "IDX dims disagree with the size": (
        lambda t, r: ["train", "--data-dir", idx_set(t, raw_images=idx_bytes(np.zeros((12, 28, 28), np.uint8))[:-784])],
        "truncated: the header promises shape (12, 28, 28)",
    ),
    "image and label counts differ": (
        lambda t, r: ["train", "--data-dir", idx_set(t, labels=np.zeros(11, np.uint8))],
        "holds 12 images but train-labels-idx1-ubyte.gz holds 11 labels",
    ),
    "empty CSV": (lambda t, r: ["train", "--data", text(t, "e.csv", "")], "e.csv: the file is empty"),
    "non-numeric column": (
        lambda t, r: ["train", "--data", text(t, "n.csv", "a,b\n0.1,0.2\n0.3,12kg\n")],
        "column 'b' is not numeric (row 2: '12kg')",
    ),
    "CSV with pandas' index": (
        lambda t, r: ["train", "--data", text(t, "p.csv", ",a,b\n0,0.1,0.2\n1,0.3,0.4\n")],
        "p.csv: the first column has no name and holds the row numbers 0, 1, 2, …",
    ),
    "NaN in training data": (
        lambda t, r: ["train", "--data", npy(t, [[0.1, np.nan], [0.2, 0.3]])],
        "missing value (NaN) at [0, 1]",
    ),
    "inf in training data": (
        lambda t, r: ["train", "--data", text(t, "i.csv", "0.1,0.2\n0.3,inf\n")],
        "infinite value in column 2, row 2",
    ),
    "values outside [0, 1] with BCE": (
        lambda t, r: ["train", "--data", npy(t, [[0.1, 3.0], [0.2, 0.3]]), "--loss", "bce"],
        "outside [0, 1] (min 0.1, max 3), which the 'bce' loss cannot use; pass --scale minmax",
    ),
    "validation data outside [0, 1] with BCE": (
        lambda t, r: [
            "train",
            "--data",
            npy(t, [[0.1, 0.2], [0.3, 0.4]]),
            "--val-data",
            text(t, "v.csv", "0.1,2.5\n0.3,0.4\n"),
        ],
        "the validation data has values outside [0, 1] (min 0.1, max 2.5)",
    ),
    "validation data with other columns": (
        lambda t, r: [
            "train",
            "--data",
            npy(t, [[0.1, 0.2], [0.3, 0.4]]),
            "--val-data",
            text(t, "v.csv", "0.1\n0.3\n"),
        ],
        "the validation data has 1 feature but the training data has 2",
    ),
    "gaussian noise on data outside [0, 1]": (
        lambda t, r: [
            "train",
            "--data",
            npy(t, [[-1.5, 0.2], [0.4, 2.0]]),
            "--loss",
            "mse",
            "--noise",
            "gaussian",
            "--noise-level",
            0.3,
        ],
        "standard-scaled, has values outside [0, 1] (min -1, max 1), but gaussian noise puts the corrupted "
        "values in [0, 1]; pass --scale minmax (each column to [0, 1]) or --noise masking",
    ),
    "unknown scale": (
        lambda t, r: ["train", "--data", npy(t, [[0.1, 3.0], [0.2, 0.3]]), "--scale", "zscore"],
        "unknown scale 'zscore'; choose one of: auto, standard, minmax, none",
    ),
    "wrong number of features for a trained model": (
        lambda t, r: ["train", "--resume", other_features(t, r)],
        "has 5 features but the model expects 6",
    ),
    "wrong number of features for a trained model (encode)": (
        lambda t, r: ["encode", r, npy(t, np.random.default_rng(0).random((10, 5))), "-o", t / "codes.npy"],
        "input has 5 features but the model expects 6; pass data with the same columns",
    ),
    "unknown optimizer": (
        lambda t, r: ["train", "--optimizer", "rmsprop9"],
        "unknown --optimizer 'rmsprop9'; choose one of",
    ),
    "unknown loss": (lambda t, r: ["train", "--loss", "hinge"], "unknown --loss 'hinge'; choose one of: bce, mse"),
    "unknown precision": (
        lambda t, r: ["train", "--precision", "fp16"],
        "unknown --precision 'fp16'; choose one of: float32, bfloat16",
    ),
    "unknown kind": (
        lambda t, r: ["train", "--kind", "sparse2"],
        "argument --kind: unknown kind 'sparse2' (did you mean 'sparse'?); choose one of: undercomplete",
    ),
    "a word where a number goes": (
        lambda t, r: ["train", "--epochs", "abc"],
        "argument --epochs: invalid int value: 'abc'; see `aekit train --help`",
    ),
    "an empty place in --hidden": (
        lambda t, r: ["train", "--hidden", "128,,64"],
        "argument --hidden: '128,,64' has an empty place between commas",
    ),
    "a mistyped command": (lambda t, r: ["trian"], "invalid choice: 'trian' (choose from 'train', "),
    "a model too large for memory": (
        lambda t, r: ["train", "--limit", 50, "--hidden", 20000000],
        "the model has 32,680,000,816 parameters and needs about ",
    ),
    "zero code size": (
        lambda t, r: ["train", "--encoding-dim", 0],
        "aekit: error: --encoding-dim must be a positive integer, got 0",
    ),
    "negative hidden size": (
        lambda t, r: ["train", "--hidden", "64,-3"],
        "each hidden size must be a positive integer, got -3",
    ),
    "zero epochs": (lambda t, r: ["train", "--epochs", 0], "aekit: error: --epochs must be a positive integer, got 0"),
    "negative batch": (
        lambda t, r: ["train", "--batch-size", -5],
        "aekit: error: --batch-size must be a positive integer, got -5",
    ),
    "zero limit": (
        lambda t, r: ["train", "--limit", 0],
        "aekit: error: --limit must be a positive integer, got 0; pass a whole number",
    ),
    "negative patience": (lambda t, r: ["train", "--patience", -1], "aekit: error: --patience must be an integer ≥ 0"),
    "moving-average decay of 1": (
        lambda t, r: ["train", "--ema", 1],
        "--ema is the decay of the weights' moving average and must lie in [0, 1)",
    ),
    "a recipe with a kind that sets its own training": (
        lambda t, r: ["train", "--kind", "deep-hinton", "--recipe", "fast"],
        "--kind deep-hinton sets its own batch_size, epochs, optimizer, schedule",
    ),
    "output folder under a file": (
        lambda t, r: ["train", "--limit", 50, "--out", text(t, "f.txt", "x") / "run"],
        "f.txt is a file; choose another --out folder",
    ),
    "output folder that cannot be created": (
        lambda t, r: ["train", "--limit", 50, "--out", "/sys/aekit-test-run"],
        "/sys/aekit-test-run: cannot ",
    ),
    "existing run folder": (
        lambda t, r: ["train", "--limit", 50, "--out", copy_run(t, r)],
        "run folder already exists; pass --overwrite to replace it, --resume to continue it",
    ),
    "--overwrite of a folder that is no run": (
        lambda t, r: ["train", "--limit", 50, "--overwrite", "--out", text(t, "d", "x").parent],
        "is not an aekit run folder (no config.json); refusing to delete it",
    ),
    "a plot under a file (encode)": (
        lambda t, r: [
            "encode",
            r,
            npy(t, np.random.default_rng(0).random((10, 6))),
            "-o",
            t / "codes.npy",
            "--plot",
            text(t, "f.txt", "x") / "map.png",
        ],
        "map.png: cannot write here (",
    ),
    "noisy rows under a file (denoise)": (
        lambda t, r: [
            "denoise",
            r,
            npy(t, np.random.default_rng(0).random((10, 6))),
            "--noise",
            "masking",
            "--noise-level",
            0.2,
            "-o",
            t / "dn.npy",
            "--save-noisy",
            text(t, "f.txt", "x") / "n.npy",
        ],
        "n.npy: cannot write here (",
    ),
    "a pictures folder that is a file (features)": (
        lambda t, r: ["features", r, "--input", "none", "-o", text(t, "f.txt", "x")],
        "f.txt: cannot write here (it is a file); choose another path",
    ),
    "an ONNX folder under a file (export)": (
        lambda t, r: ["export", r, "--out", text(t, "f.txt", "x") / "onnx"],
        "onnx: cannot write here (",
    ),
    "truncated safetensors": (
        lambda t, r: ["summary", truncated(t, r, "model.safetensors")],
        "not a readable safetensors file",
    ),
    "tampered safetensors (weights)": (
        lambda t, r: ["summary", flipped_byte(t, r)],
        "checksum mismatch, the file was damaged or edited",
    ),
    "tampered safetensors (header)": (
        lambda t, r: ["summary", tampered_header(t, r)],
        "not a readable safetensors file",
    ),
    "config does not match the weights": (
        lambda t, r: ["summary", edited_config(t, r)],
        "disagree on encoding_dim; keep config.json and model.safetensors from the same run",
    ),
    "truncated checkpoint": (
        lambda t, r: ["train", "--resume", truncated(t, r, "checkpoint/last.safetensors")],
        "the checkpoint is damaged",
    ),
    "config edited since the checkpoint": (
        lambda t, r: ["train", "--resume", edited_train_config(t, r)],
        "its train config does not match the checkpoint's (batch_size: 8 in config.json, 16",
    ),
    "resume with other options": (
        lambda t, r: ["train", "--resume", copy_run(t, r), "--lr", 0.1, "--overwrite"],
        "drop --lr, --overwrite",
    ),
    "resume to fewer epochs than done": (
        lambda t, r: ["train", "--resume", copy_run(t, r), "--epochs", 1],
        "epochs 1 is fewer than the 2 epochs already done",
    ),
    "resume of a folder that is no run": (
        lambda t, r: ["train", "--resume", text(t, "d", "x").parent],
        "has no config.json, so it is not an aekit run folder",
    ),
    "resume of a missing folder": (lambda t, r: ["train", "--resume", t / "nope"], "no such run folder"),
    "a training checkpoint as a model (encode)": (
        lambda t, r: [
            "encode",
            copy_run(t, r) / "checkpoint" / "last.safetensors",
            npy(t, np.random.default_rng(0).random((10, 6))),
            "-o",
            t / "codes.npy",
        ],
        "is a training checkpoint, not a model file; pass the run folder ",
    ),
    "a training checkpoint as a model (summary)": (
        lambda t, r: ["summary", copy_run(t, r) / "checkpoint" / "last.safetensors"],
        "or continue training with `aekit train --resume ",
    ),
    "a run folder another process is training into": (
        lambda t, r: ["train", "--limit", 50, "--overwrite", "--out", locked(t, r)],
        "another aekit process (pid ",
    ),
    "resume of a run another process is training": (
        lambda t, r: ["train", "--resume", locked(t, r)],
        "is training into this run folder; wait for it to finish",
    ),
}


@pytest.mark.parametrize("row", ROWS)
def test_bad_input_row(tmp_path, trained, row):
    setup, words = ROWS[row]
    try:
        check_row(tmp_path, [*setup(tmp_path, trained)], words)
    finally:
        while HELD:
            HELD.pop().release()


def check_row(tmp_path, args, words):
    if args[0] == "train":
        if "--resume" not in args:
            args += [] if "--out" in args else ["--out", tmp_path / OUT]
            args += [] if "--epochs" in args else ["--epochs", 1]
        args.append("--quiet")
    before = snapshot(tmp_path)
    proc = aekit(*args, cwd=tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("aekit: error: "), proc.stderr
    assert words in lines[0], lines[0]
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert snapshot(tmp_path) == before  # nothing created, changed or left half-written


def test_the_docs_table_lists_every_row():
    doc = (Path(__file__).resolve().parents[1] / "docs" / "reliability.md").read_text()
    for row in ROWS:
        assert f"| {row} |" in doc, row


@pytest.mark.parametrize(
    "name, value, api, cli",
    [
        ("loss", "mse", 'loss="mse"', "--loss mse"),
        ("shuffle_block", 64, "shuffle_block=64", "--shuffle-block 64"),
        ("overwrite", True, "overwrite=True", "--overwrite"),
        ("restore_best", False, "restore_best=False", "--no-restore-best"),
        ("validation_split", 0.1, "validation_split=0.1", "--val-split 0.1"),
        ("min_lr", None, "min_lr", "--min-lr"),
        ("l1", 1e-4, "l1=0.0001", "--l1 0.0001"),  # a name with a digit
    ],
)
def test_errors_name_the_python_argument_and_the_cli_the_flag(name, value, api, cli):
    exc = ConfigError(f"bad; pass {option(name, value)}")
    assert str(exc) == f"bad; pass {api}"  # what a library caller reads
    assert cli_text(exc) == f"bad; pass {cli}"  # what `aekit` prints


@pytest.mark.parametrize(
    "name, value, flags, cli",
    [
        ("loss", "mse", {"--loss"}, "--loss mse"),
        ("loss", "mse", {"--lr"}, 'loss="mse"'),  # the command has no --loss: the library's name
        ("min_lr", None, {"--min-lr"}, "--min-lr"),
        ("min_lr", None, set(), "min_lr"),
        ("restore_best", False, {"--no-restore-best"}, "--no-restore-best"),
        ("restore_best", False, {"--restore-best"}, "restore_best=False"),  # only the other way round
        ("analytic_grad", True, {"--no-analytic-grad"}, "analytic_grad=True"),
        ("overwrite", True, {"--overwrite"}, "--overwrite"),
        ("validation_split", 0.1, {"--val-split"}, "--val-split 0.1"),  # _FLAGS
        ("validation_split", 0.1, {"--validation-split"}, "validation_split=0.1"),
    ],
)
def test_the_cli_names_a_flag_only_where_the_command_has_it(name, value, flags, cli):
    exc = ConfigError(f"bad; pass {option(name, value)}")
    assert cli_text(exc, frozenset(flags)) == f"bad; pass {cli}"
    assert render(str(exc.args[0]), flags=frozenset(flags)) == str(exc)  # the library's words ignore flags


def test_one_message_names_the_flags_there_are_and_the_names_of_the_others():
    exc = ConfigError(f"{option('epochs')} must be set; drop {option('skip', True)} or {option('beta')}")
    flags = frozenset({"--epochs", "--beta", "-q"})
    assert cli_text(exc, flags) == "--epochs must be set; drop skip=True or --beta"
    assert cli_text(exc) == "--epochs must be set; drop --skip or --beta"  # no flags given: every option a flag
    assert str(exc) == "epochs must be set; drop skip=True or beta"
