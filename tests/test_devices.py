"""Choosing a device: `resolve_device`, ``--device`` on every command that runs a model, the device a run records."""

import json

import pytest
import torch
from aekit_subprocess import aekit_cli as aekit

from aekit.cli.main import build_parser, main
from aekit.devices import resolve_device
from aekit.errors import ConfigError, cli_text

no_cuda = pytest.mark.skipif(
    torch.cuda.is_available(), reason="this machine has a CUDA GPU: asking for one is not an error"
)
NO_CUDA = (  # as the command line prints it; the library names the argument, device="cuda"
    "--device cuda: no CUDA GPU is visible (torch.cuda.is_available() is False{}); use --device cpu or auto".format(
        "" if torch.version.cuda else f"; this PyTorch {torch.__version__} is built without CUDA"
    )
)


def test_auto_picks_cuda_then_mps_then_the_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device("auto") == resolve_device(None) == torch.device("cpu")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    assert resolve_device("auto") == torch.device("cuda", 0)


def test_named_devices_and_what_is_refused(monkeypatch):
    assert (
        resolve_device("cpu") == resolve_device(torch.device("cpu")) == resolve_device(" CPU ") == torch.device("cpu")
    )
    with pytest.raises(ConfigError, match=r"^unknown device 'tpu'; choose one of: auto, cpu, cuda, cuda:N, mps$"):
        resolve_device("tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ConfigError) as e:
        resolve_device("cuda")
    assert cli_text(e.value) == NO_CUDA
    assert str(e.value) == NO_CUDA.replace("--device cuda", 'device="cuda"').replace("--device cpu", 'device="cpu"')
    with pytest.raises(ConfigError, match=r'^device="mps": no Apple GPU is available .*; use device="cpu" or auto$'):
        resolve_device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(
        ConfigError, match=r'^device="cuda:2": only 2 CUDA GPUs are visible \(cuda:0 … cuda:1\); pass one'
    ):
        resolve_device("cuda:2")


def test_under_torchrun_cuda_means_this_processs_own_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert resolve_device("auto") == resolve_device("cuda") == torch.device("cuda", 1)
    monkeypatch.setenv("LOCAL_RANK", "3")
    with pytest.raises(
        ConfigError, match=r"torchrun started local rank 3 but only 2 CUDA GPUs are visible .*--nproc-per-node"
    ):
        resolve_device("cuda")


MODEL_COMMANDS = ("train", "encode", "features", "denoise", "anomaly", "impute", "export", "report")


def test_every_command_that_runs_a_model_takes_device():
    parser = build_parser()
    for command in MODEL_COMMANDS:
        sub = parser._subparsers._group_actions[0].choices[command]
        action = next(a for a in sub._actions if "--device" in a.option_strings)
        assert action.default == "auto", command


@no_cuda
def test_train_on_a_missing_gpu_is_one_line_exit_2_and_writes_nothing(tmp_path):
    proc = aekit("train", "--device", "cuda", "--epochs", 1, "--out", tmp_path / "run", "--quiet", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.splitlines() == [f"aekit: error: {NO_CUDA}"] and proc.stdout == ""
    assert list(tmp_path.iterdir()) == []


@no_cuda
@pytest.mark.parametrize("command", [c for c in MODEL_COMMANDS if c != "train"])
def test_every_use_of_a_missing_gpu_is_one_line_exit_2_and_writes_nothing(tmp_path, tiny_runs, capsys, command):
    import numpy as np

    run = tiny_runs[0].path
    table = tmp_path / "table.csv"
    np.savetxt(table, [[1.0, np.nan], [2.0, 3.0]], delimiter=",")
    args = {
        "encode": ["encode", run, "mnist", "-o", tmp_path / "c.npy"],
        "features": ["features", run, "-o", tmp_path / "f"],
        "denoise": ["denoise", run, "mnist", "--noise", "gaussian", "--noise-level", "0.5", "-o", tmp_path / "d.npy"],
        "anomaly": ["anomaly", run, "mnist", "-o", tmp_path / "s.csv"],
        "impute": ["impute", table, "-o", tmp_path / "filled.csv"],
        "export": ["export", run, "--out", tmp_path / "onnx"],
        "report": ["report", run, "--out", tmp_path / "r.html"],
    }[command]
    before = sorted(p.name for p in run.iterdir())
    assert main([str(a) for a in args] + ["--device", "cuda"]) == 2
    assert capsys.readouterr().err.splitlines() == [f"aekit: error: {NO_CUDA}"]
    assert (
        sorted(p.name for p in tmp_path.iterdir()) == ["table.csv"] and sorted(p.name for p in run.iterdir()) == before
    )


def test_a_run_records_its_device(tmp_path):
    out = tmp_path / "run"
    aekit(
        "train",
        "--device",
        "cpu",
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
    assert json.loads((out / "config.json").read_text())["device"] == "cpu"
