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


def test_flags_reach_the_config(tmp_path):
    out = tmp_path / "run"
    aekit("train", "--limit", 300, "--epochs", 1, "--hidden", "64,32", "--encoding-dim", 8, "--optimizer", "adam",
          "--lr", 0.002, "--loss", "mse", "--seed", 7, "--precision", "bfloat16", "--out", out, "--quiet", "--no-tensorboard",
          check=True)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model"]["hidden"] == [64, 32] and cfg["model"]["encoding_dim"] == 8 and cfg["model"]["seed"] == 7
    assert cfg["train"]["optimizer"] == "adam" and cfg["train"]["lr"] == 0.002 and cfg["train"]["loss"] == "mse"
    assert cfg["train"]["precision"] == "bfloat16"
    assert not (out / "tb").exists()


def test_progress_shows_by_default(tmp_path):
    proc = aekit("train", "--limit", 300, "--epochs", 2, "--out", tmp_path / "r", "--no-tensorboard", check=True)
    assert "Epoch 1/2" in proc.stderr and "Epoch 2/2" in proc.stderr


@pytest.mark.parametrize("args, words", [
    (["--optimizer", "rmsprop9"], "unknown optimizer 'rmsprop9'"),
    (["--loss", "hinge"], "unknown loss 'hinge'"),
    (["--precision", "fp16"], "unknown precision 'fp16'; choose one of: float32, bfloat16"),
    (["--epochs", "0"], "epochs must be a positive integer"),
    (["--batch-size", "-5"], "batch_size must be a positive integer"),
    (["--encoding-dim", "0"], "encoding_dim must be a positive integer"),
    (["--data", "nowhere.csv"], "nowhere.csv"),
    (["--dataset", "cifar"], "unknown dataset 'cifar'"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, words):
    out = tmp_path / "r"
    proc = aekit("train", "--epochs", 1, *args, "--out", out, "--quiet")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("aekit: error: ") and words in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_summary_of_a_missing_run(tmp_path):
    proc = aekit("summary", tmp_path / "nope")
    assert proc.returncode == 2 and "aekit: error:" in proc.stderr and "Traceback" not in proc.stderr


def test_recipe_fast_reaches_the_config_and_explicit_flags_win(tmp_path):
    out = tmp_path / "run"
    aekit("train", "--recipe", "fast", "--limit", 300, "--epochs", 1, "--out", out, "--quiet", "--no-tensorboard", check=True)
    train = json.loads((out / "config.json").read_text())["train"]
    assert (train["optimizer"], train["schedule"], train["batch_size"], train["lr"]) == ("adam", "onecycle", 512, 0.01)
    assert train["epochs"] == 1  # the explicit flag, not the recipe's 10
    out2 = tmp_path / "tutorial"
    aekit("train", "--limit", 300, "--epochs", 1, "--out", out2, "--quiet", "--no-tensorboard", check=True)
    train = json.loads((out2 / "config.json").read_text())["train"]
    assert (train["optimizer"], train["schedule"], train["batch_size"]) == ("adadelta", "constant", 256)


BFLOAT16_EMULATED = ("aekit: warning: precision='bfloat16' on a CPU without bfloat16 instructions (AVX512-BF16 or "
                     "AMX): the products are emulated and slower than float32; train with precision='float32' "
                     "(the default)")


def test_a_quiet_compiled_run_prints_nothing_on_stderr_but_a_slow_bfloat16_warning(tmp_path):
    from aekit.objectives import cpu_has_bfloat16

    out = tmp_path / "run"
    proc = aekit("train", "--limit", 600, "--epochs", 1, "--compile", "--precision", "bfloat16", "--device", "cpu",
                 "--out", out, "--quiet", "--no-tensorboard", check=True)
    # Dynamo's "Profiler record function … will be ignored" notice was printed here. The one line a quiet run prints
    # is the warning that bfloat16 is emulated, on a CPU without bfloat16 instructions (AVX2 only, say): asked for there
    assert proc.stderr.splitlines() == ([] if cpu_has_bfloat16() else [BFLOAT16_EMULATED])
    assert f"{out}: 1 epochs" in proc.stdout


def test_bfloat16_on_a_cpu_without_bfloat16_instructions_warns_in_one_line(tmp_path):
    """As on an AVX2-only CPU, whatever this one has: torch's probes of the CPU answer no."""
    code = ("import sys, torch; torch.cpu._is_avx512_bf16_supported = torch.cpu._is_amx_tile_supported = "
            "lambda: False; from aekit.cli.main import main; sys.exit(main(sys.argv[1:]))")
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.run([sys.executable, "-c", code, "train", "--limit", "300", "--epochs", "1", "--precision",
                           "bfloat16", "--device", "cpu", "--out", tmp_path / "run", "--quiet", "--no-tensorboard"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0 and proc.stderr.splitlines() == [BFLOAT16_EMULATED], proc.stderr


def test_compile_without_a_cpp_compiler_exits_2_before_writing_anything(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "CXX"}
    env.update(PATH=str(empty), PYTHONPATH=SRC)  # no g++, c++ or clang++ to find
    proc = subprocess.run([sys.executable, "-m", "aekit", "train", "--compile", "--limit", "50", "--epochs", "1",
                           "--out", tmp_path / "run", "--quiet"], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "aekit: error: compile=True needs a C++ compiler (g++ or clang++) on PATH for torch.compile; "
        "install one (e.g. apt install g++) or train without --compile"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin"]  # no run folder
