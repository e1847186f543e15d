"""The CLI as users meet it: real subprocesses, exit codes, one-line errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from aekit_subprocess import aekit_cli as aekit

SRC = str(Path(__file__).resolve().parents[2] / "src")


def test_train_then_summary(tmp_path):
    out = tmp_path / "run"
    proc = aekit("train", "--limit", 1000, "--epochs", 2, "--batch-size", 128, "--out", out, "--quiet", check=True)
    assert proc.stderr == ""
    assert f"{out}: 2 epochs" in proc.stdout and "val_loss=" in proc.stdout
    assert (out / "model.safetensors").is_file() and (out / "reconstructions.png").is_file()
    summary = aekit("summary", out, check=True).stdout
    assert "Total params: 50,992" in summary
    # encode, anomaly and denoise without --plot never import matplotlib (~0.3 s of each command's start)
    code = (
        "import sys, numpy as np\n"
        "from aekit.cli.main import main\n"
        "np.save('x.npy', np.random.default_rng(0).random((20, 784), dtype=np.float32))\n"
        f"run = {str(out)!r}\n"
        "for args in (['encode', run, 'x.npy', '-o', 'c.npy'], ['anomaly', run, 'x.npy', '-o', 's.csv'],\n"
        "             ['denoise', run, 'x.npy', '-o', 'd.npy', '--noise', 'gaussian', '--noise-level', '0.3']):\n"
        "    assert main(args) == 0\n"
        "print(sorted(m for m in sys.modules if m.startswith('matplotlib'))[:3])\n"
    )
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]" and (tmp_path / "d.npy").is_file()


def test_flags_reach_the_config(tmp_path):
    out = tmp_path / "run"
    aekit(
        "train",
        "--limit",
        300,
        "--epochs",
        1,
        "--hidden",
        "64,32",
        "--encoding-dim",
        8,
        "--optimizer",
        "adam",
        "--lr",
        0.002,
        "--loss",
        "mse",
        "--seed",
        7,
        "--precision",
        "bfloat16",
        "--out",
        out,
        "--quiet",
        "--no-tensorboard",
        check=True,
    )
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model"]["hidden"] == [64, 32] and cfg["model"]["encoding_dim"] == 8 and cfg["model"]["seed"] == 7
    assert cfg["train"]["optimizer"] == "adam" and cfg["train"]["lr"] == 0.002 and cfg["train"]["loss"] == "mse"
    assert cfg["train"]["precision"] == "bfloat16"
    assert not (out / "tb").exists()


def test_progress_shows_by_default_and_no_recipe_is_the_tutorials_settings(tmp_path):
    proc = aekit("train", "--limit", 300, "--epochs", 2, "--out", tmp_path / "r", "--no-tensorboard", check=True)
    assert "Epoch 1/2" in proc.stderr and "Epoch 2/2" in proc.stderr
    train = json.loads((tmp_path / "r" / "config.json").read_text())["train"]
    assert (train["optimizer"], train["schedule"], train["batch_size"]) == ("adadelta", "constant", 256)


@pytest.mark.parametrize(
    "args, words",
    [
        # --optimizer rmsprop9: test_an_argument_error_is_one_line_before_torch_loads (also no torch, no file)
        # a config field's message names the flag that was typed, not the Python field (TrainConfig's words)
        (["--loss", "hinge"], "aekit: error: unknown --loss 'hinge'"),
        (["--precision", "fp16"], "aekit: error: unknown --precision 'fp16'; choose one of: float32, bfloat16"),
        (["--epochs", "0"], "aekit: error: --epochs must be a positive integer, got 0; pass a whole number ≥ 1"),
        (["--epochs", "-1", "--quick"], "aekit: error: --epochs must be a positive integer, got -1"),
        (["--batch-size", "-5"], "aekit: error: --batch-size must be a positive integer, got -5"),
        (["--batch-size", "0"], "aekit: error: --batch-size must be a positive integer, got 0"),
        (["--lr", "-1"], "aekit: error: --lr must be a finite number ≥ 0, got -1.0"),
        (["--lr", "0"], "aekit: error: --lr must be greater than 0; pass a positive learning rate or omit it"),
        (["--shuffle-block", "0"], "aekit: error: --shuffle-block must be a positive integer, got 0"),
        (["--min-lr", "0.5"], "aekit: error: --min-lr is where the 'cosine' schedule ends"),
        (["--encoding-dim", "0"], "aekit: error: --encoding-dim must be a positive integer"),
        (["--iw-samples", "2", "--beta", "2"], "drop --beta and --kl-warmup, or train with --iw-samples 1"),
        (["--data", "nowhere.csv"], "nowhere.csv"),
        (["--dataset", "cifar"], "unknown dataset 'cifar'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, words):
    out = tmp_path / "r"
    proc = aekit("train", "--epochs", 1, *args, "--out", out, "--quiet")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("aekit: error: ") and words in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory):
    """A real 1-epoch run folder with a deterministic code, on a 6-feature table."""
    import numpy as np

    from aekit import TrainConfig, train

    root = tmp_path_factory.mktemp("plain")
    np.save(root / "rows.npy", np.random.default_rng(0).random((40, 6), dtype=np.float32))
    train(None, TrainConfig(epochs=1, batch_size=16), data=str(root / "rows.npy"), out=root / "run", verbose=0)
    return root / "run"


@pytest.mark.parametrize(
    "args, words, flag",
    [
        # skip is set by the kind's presets; `aekit train` has no --skip flag
        (
            ["train", "--kind", "denoising-conv", "--code", "gaussian", "--out", "r", "--quiet"],
            "aekit: error: skip (the input joining the decoder's last block) is true or false",
            "--skip",
        ),
    ],
    ids=["a kind's preset on train"],
)
def test_an_option_no_command_has_a_flag_for_is_named_as_the_library_names_it(tmp_path, plain_run, args, words, flag):
    proc = aekit(*[plain_run if a == "RUN" else a for a in args], cwd=tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("aekit: error: "), proc.stderr
    assert words in lines[0] and flag not in lines[0], lines[0]
    assert not list(tmp_path.iterdir())  # no run folder, no samples


def test_summary_of_a_missing_run(tmp_path):
    proc = aekit("summary", tmp_path / "nope")
    assert proc.returncode == 2 and "aekit: error:" in proc.stderr and "Traceback" not in proc.stderr


def test_recipe_fast_reaches_the_config_and_explicit_flags_win(tmp_path):
    out = tmp_path / "run"
    aekit(
        "train",
        "--recipe",
        "fast",
        "--limit",
        300,
        "--epochs",
        1,
        "--out",
        out,
        "--quiet",
        "--no-tensorboard",
        check=True,
    )
    train = json.loads((out / "config.json").read_text())["train"]
    assert (train["optimizer"], train["schedule"], train["batch_size"], train["lr"]) == ("adam", "onecycle", 512, 0.01)
    assert train["epochs"] == 1  # the explicit flag, not the recipe's 10 (without --recipe: the progress test)


BFLOAT16_EMULATED = (
    "aekit: warning: precision='bfloat16' on a CPU without bfloat16 instructions (AVX512-BF16 or "
    "AMX): the products are emulated and slower than float32; train with precision='float32' "
    "(the default)"
)


def test_a_quiet_compiled_run_prints_nothing_on_stderr_but_a_slow_bfloat16_warning(tmp_path):
    from aekit.objectives import cpu_has_bfloat16

    out = tmp_path / "run"
    proc = aekit(
        "train",
        "--limit",
        600,
        "--epochs",
        1,
        "--compile",
        "--precision",
        "bfloat16",
        "--device",
        "cpu",
        "--out",
        out,
        "--quiet",
        "--no-tensorboard",
        check=True,
    )
    # Dynamo's "Profiler record function … will be ignored" notice was printed here. The one line a quiet run prints
    # is the warning that bfloat16 is emulated, on a CPU without bfloat16 instructions (AVX2 only, say): asked for there
    assert proc.stderr.splitlines() == ([] if cpu_has_bfloat16() else [BFLOAT16_EMULATED])
    assert f"{out}: 1 epochs" in proc.stdout


def test_bfloat16_on_a_cpu_without_bfloat16_instructions_warns_in_one_line(tmp_path):
    """As on an AVX2-only CPU, whatever this one has: torch's probes of the CPU answer no."""
    code = (
        "import sys, torch; torch.cpu._is_avx512_bf16_supported = torch.cpu._is_amx_tile_supported = "
        "lambda: False; from aekit.cli.main import main; sys.exit(main(sys.argv[1:]))"
    )
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "train",
            "--limit",
            "300",
            "--epochs",
            "1",
            "--precision",
            "bfloat16",
            "--device",
            "cpu",
            "--out",
            tmp_path / "run",
            "--quiet",
            "--no-tensorboard",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0 and proc.stderr.splitlines() == [BFLOAT16_EMULATED], proc.stderr


def test_compile_without_a_cpp_compiler_exits_2_before_writing_anything(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "CXX"}
    env.update(PATH=str(empty), PYTHONPATH=SRC)  # no g++, c++ or clang++ to find
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "aekit",
            "train",
            "--compile",
            "--limit",
            "50",
            "--epochs",
            "1",
            "--out",
            tmp_path / "run",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "aekit: error: compile=True needs a C++ compiler (g++ or clang++) on PATH for torch.compile; "
        "install one (e.g. apt install g++) or train without --compile"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin"]  # no run folder


def test_the_readme_table_command_trains_and_its_uses_read_raw_rows(tmp_path):
    """`aekit train --data rows.csv` (the README's) on scikit-learn's wine table as raw CSV, then encode and anomaly."""
    import numpy as np
    import torch
    from sklearn.datasets import load_wine

    import aekit as lib

    rows = tmp_path / "rows.csv"
    load_wine(as_frame=True).data.to_csv(rows, index=False)  # proline reaches 1680
    raw = np.loadtxt(rows, delimiter=",", skiprows=1, dtype=np.float32)
    run = tmp_path / "run"
    aekit("train", "--data", rows, "--out", run, "--quiet", "--no-tensorboard", check=True)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["val_loss"] < 1.0  # MSE of standardised columns: below the all-mean predictor's (about 1)
    model = lib.load_model(run)
    assert model.config.scale == "standard" and model.config.output_activation == "linear"
    aekit("encode", run, rows, "-o", tmp_path / "codes.npy", check=True)
    np.testing.assert_allclose(np.load(tmp_path / "codes.npy"), lib.encode(model, raw), rtol=1e-5, atol=1e-6)
    aekit("anomaly", run, rows, "--contamination", 0.05, "-o", tmp_path / "scores.csv", check=True)
    scores = np.loadtxt(tmp_path / "scores.csv", delimiter=",", skiprows=1)[:, 0]
    with torch.no_grad():  # the error of each row in standardised units (columns weigh alike)
        scaled = model.scale_rows(torch.tensor(raw))
        want = ((model.decoder(model.encoder(scaled)) - scaled) ** 2).mean(dim=1).numpy()
    np.testing.assert_allclose(scores, want, rtol=1e-5)


def _imported(stderr: str) -> set[str]:
    return {
        line.rsplit("|", 1)[1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


@pytest.mark.parametrize(
    "args, words",
    [
        (
            ["train", "--epochs", "abc"],
            "aekit: error: argument --epochs: invalid int value: 'abc'; see `aekit train --help`",
        ),
        (
            ["train", "--kind", "sparce"],
            "unknown kind 'sparce' (did you mean 'sparse'?); choose one of: undercomplete, ",
        ),
        (["train", "--kind", "zzz"], "unknown kind 'zzz'; choose one of: undercomplete, "),
        (["train", "--hidden", "128,,64"], "argument --hidden: '128,,64' has an empty place between commas"),
        (["train", "--hidden", "128,"], "argument --hidden: '128,' has an empty place between commas"),
        (
            ["train", "--verbose", "5"],
            "argument --verbose: invalid choice: 5 (choose from 0, 1, 2); see `aekit train --help`",
        ),
        (["train", "--optimizer", "rmsprop9"], "unknown --optimizer 'rmsprop9'; choose one of: adadelta, adam, sgd"),
        (["train", "--kind", "deep-hinton", "--recipe", "fast"], "--kind deep-hinton sets its own batch_size"),
        (["trian"], "invalid choice: 'trian' (choose from 'train', 'kinds', "),
        ([], "aekit: error: the following arguments are required: COMMAND; see `aekit --help`"),
    ],
)
def test_an_argument_error_is_one_line_before_torch_loads(tmp_path, args, words):
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "aekit", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": SRC},
        timeout=300,
    )
    lines = [line for line in proc.stderr.splitlines() if not line.startswith("import time:")]
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("aekit: error: "), proc.stderr[-800:]
    assert words in lines[0] and "usage:" not in proc.stderr
    if args == ["trian"]:
        assert lines[0].endswith("(did you mean 'train'?); see `aekit --help`")
    imported = _imported(proc.stderr)
    assert "aekit.cli.main" in imported and "torch" not in imported and "numpy" not in imported
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "text, sizes", [("128,64", (128, 64)), ("128 64", (128, 64)), ("128, 64", (128, 64)), ("", ()), ("32", (32,))]
)
def test_hidden_sizes_are_read_from_commas_or_spaces(text, sizes):
    from aekit.cli.args import _int_list

    assert _int_list(text) == sizes


def test_kinds_lists_every_kind_with_what_it_does_and_its_presets(tmp_path):
    from aekit.kinds import DESCRIPTIONS, KINDS

    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "aekit", "kinds"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": SRC},
        timeout=300,
    )
    assert proc.returncode == 0 and "torch" not in _imported(proc.stderr)
    lines = proc.stdout.splitlines()
    for name in KINDS:
        assert any(line.startswith(f"{name} ") and DESCRIPTIONS[name] in line for line in lines), name
    text = " ".join(proc.stdout.split())
    assert "presets: l1 0.0001" in text and "presets: encoding-dim 784 (= input_dim)" in text
    assert "hidden 1000,500,250; encoding-dim 30; activation elu" in text and "presets: none (the defaults)" in text
    assert max(len(line) for line in lines) <= 120


def test_mlflow_flag_logs_the_run_to_a_local_store_by_default(tmp_path):
    from mlflow.tracking import MlflowClient

    aekit(
        "train",
        "--limit",
        300,
        "--epochs",
        2,
        "--out",
        "run",
        "--quiet",
        "--no-tensorboard",
        "--mlflow",
        cwd=tmp_path,
        check=True,
    )
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")  # the default store: ./mlruns/
    (run,) = client.search_runs([client.get_experiment_by_name("aekit").experiment_id])
    assert run.data.params["train.epochs"] == "2" and run.info.status == "FINISHED"
    assert [p.step for p in client.get_metric_history(run.info.run_id, "val_loss")] == [1, 2]
    assert {"report.html", "model.safetensors"} <= {a.path for a in client.list_artifacts(run.info.run_id)}
    assert (tmp_path / "mlruns" / "artifacts" / run.info.run_id / "artifacts" / "report.html").is_file()


def test_mlflow_flag_without_mlflow_says_how_to_install_it(tmp_path):
    hide = "import sys; sys.modules['mlflow'] = None; from aekit.cli.main import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.run(
        [sys.executable, "-c", hide, "train", "--limit", "50", "--epochs", "1", "--out", "run", "--quiet", "--mlflow"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        env={**os.environ, "PYTHONPATH": SRC},
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["aekit: error: MLflow is not installed; pip install 'aekit[mlflow]'"]
    assert list(tmp_path.iterdir()) == []  # no run folder, no store


@pytest.mark.parametrize(
    "args",
    [
        ("kinds",),  # never imports torch
        ("train", "--data", "missing.csv"),  # one-line error, exit 2
        ("impute", "t.csv", "-o", "filled.csv", "--members", "1", "--epochs", "3", "--report", "r.json"),
    ],
    ids=["kinds", "error", "impute"],
)
def test_the_tests_forked_command_behaves_as_a_fresh_python_m_aekit(tmp_path, args):
    """tests/aekit_subprocess.py forks the CLI tests' commands from a process that has imported torch: the same exit
    code, output and files as a new interpreter."""
    results = []
    for fresh in (True, False):
        folder = tmp_path / ("fresh" if fresh else "forked")
        folder.mkdir()
        (folder / "t.csv").write_text("a,b,c\n1,2,3\n2,,6\n3,6,\n4,8,12\n5,10,15\n,12,18\n")
        proc = aekit(*args, cwd=folder, fresh=fresh)
        files = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name not in ("t.csv", "r.json")}
        report = json.loads((folder / "r.json").read_text()) if (folder / "r.json").exists() else None
        results.append((proc.returncode, proc.stdout, proc.stderr, files, report and report["cells_filled"]))
    assert results[0] == results[1]
    assert results[0][0] == (2 if "missing.csv" in args else 0) and results[0][1 if args[0] != "train" else 2]


def test_the_tests_zygote_replies_are_read_one_line_each_when_two_arrive_at_once():
    """A fast command's two replies (its pid, then its status) can reach the pipe together: each read returns one."""
    from aekit_subprocess import _read_reply

    two = 'import sys; sys.stdout.write(\'{"pid": 7}\\n{"status": 0}\\n\'); sys.stdout.flush()'
    proc = subprocess.Popen([sys.executable, "-c", two], stdout=subprocess.PIPE, bufsize=0)
    proc.wait(timeout=60)
    proc.replies = b""
    assert _read_reply(proc, 5) == {"pid": 7} and _read_reply(proc, 5) == {"status": 0}
    with pytest.raises(RuntimeError, match="died"):
        _read_reply(proc, 5)


def test_another_commands_flag_is_named_as_that_flag(tmp_path, plain_run):
    """`aekit sample` has no --kind, but the hint is to train with `aekit train --kind vae`: it names that flag."""
    proc = aekit("sample", plain_run, "-o", "s.npy", cwd=tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "needs a generative model (a Gaussian code, e.g. --kind vae)" in lines[0] and 'kind="vae"' not in lines[0]
    assert not list(tmp_path.iterdir())


def test_each_commands_parser_knows_its_own_flags():
    from aekit.cli.main import build_parser

    commands = build_parser().commands
    assert {"--epochs", "--batch-size", "--lr", "--no-restore-best", "-q"} <= commands["train"].flags  # in groups
    assert {"--contamination", "--quantile"} <= commands["anomaly"].flags  # in a mutually exclusive group
    assert "--kind" not in commands["sample"].flags and "--epochs" not in commands["anomaly"].flags


def test_a_warning_names_only_the_flags_it_is_given(capsys):
    from aekit.cli.main import _show_warning
    from aekit.errors import AekitWarning, option

    warning = AekitWarning(f"not learning; change {option('lr')} or scale the data ({option('scale', 'standard')})")
    _show_warning(warning, AekitWarning, "x.py", 1, flags=frozenset({"--lr", "--epochs"}))
    assert capsys.readouterr().err == 'aekit: warning: not learning; change --lr or scale the data (scale="standard")\n'
