"""torch.distributed: the shard of a permutation, and real 2-process `torchrun -m aekit train` runs.

The 2-process runs use torchrun's --standalone rendezvous on 127.0.0.1 (gloo on the loopback interface)
and compare with a single process at the same global batch size. Tolerance: aekit's DDP takes, step by
step, the same rows and the same mean gradient as one process, so the final val_loss differs only by
float rounding. Measured (2 epochs, 2,000 MNIST rows, batch 256, seeds 0-3): |Δ val_loss| ≤ 6e-8, about
one float32 ulp at 0.68, and weights ≤ 1.5e-8 apart; the test's run (600 memory-mapped rows, batch 64, 1 epoch
then --resume to 2): Δ val_loss 0, Δ loss ≤ 4.3e-8, weights ≤ 1.5e-8 apart. For scale, changing only the
shuffling seed moves val_loss by 8.6e-6 … 2.6e-5; ranks that skip the gradient all_reduce (DDP removed) by 5.3e-6 and
the weights by 4.8e-4; ranks that each take the whole data by 6.2e-2; the init seed by 5e-3 (std). The
tolerances, 2e-6 on losses and 1e-6 on weights, are ≥ 30× the measured gaps and catch all of these.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import aekit
from aekit import ModelConfig, TrainConfig
from aekit.errors import ConfigError
from aekit.training.distributed import (
    DataParallel,
    init,
    on_main,
    per_rank_batch,
    shard,
    shard_size,
)

TOL = 2e-6
SRC = Path(aekit.__file__).resolve().parents[1]

# Loaded into every worker (sitecustomize on PYTHONPATH): logs each file the process creates, writes,
# renames or deletes, through Python's audit hooks, to $AEKIT_AUDIT/rank<RANK>.log.
AUDIT_HOOK = r"""
import os, sys
_log = open(os.path.join(os.environ["AEKIT_AUDIT"], "rank%s.log" % os.environ.get("RANK", "x")), "a", buffering=1)
_busy = []
def _name(p):
    return os.fsdecode(p) if isinstance(p, (str, bytes, os.PathLike)) else None
def _hook(event, args):
    if _busy:
        return
    paths = []
    if event == "open" and len(args) >= 3:
        mode, flags = args[1], args[2] or 0
        if (isinstance(mode, str) and any(c in mode for c in "wax+")) or flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            paths = [args[0]]
    elif event in ("os.mkdir", "os.remove", "os.rmdir", "shutil.rmtree", "tempfile.mkstemp", "tempfile.mkdtemp"):
        paths = [args[0]]
    elif event == "os.rename":
        paths = [args[0], args[1]]
    for p in filter(None, map(_name, paths)):
        _busy.append(1)
        try:
            _log.write("%s %s\n" % (event, os.path.abspath(p)))
        finally:
            _busy.pop()
sys.addaudithook(_hook)
"""


# --------------------------------------------------------------------------- the shard function
@pytest.mark.parametrize("n,world", [(12, 2), (12, 3), (12, 4), (1000, 8), (7, 7)])
def test_shards_cover_every_index_exactly_once_when_divisible(n, world):
    order = torch.randperm(n, generator=torch.Generator().manual_seed(n))
    parts = [shard(order, r, world) for r in range(world)]
    assert all(len(p) == n // world == shard_size(n, world) for p in parts)
    assert sorted(torch.cat(parts).tolist()) == list(range(n))
    # the ranks' k-th batches together are exactly the k-th batch of one process at the global batch size
    b = 2
    for k in range(n // world // b):
        together = torch.cat([p[k * b : (k + 1) * b] for p in parts])
        assert sorted(together.tolist()) == sorted(order[k * b * world : (k + 1) * b * world].tolist())


@pytest.mark.parametrize("n,world", [(10, 3), (5, 4), (2, 5), (1001, 8)])
def test_shards_pad_like_distributed_sampler_otherwise(n, world):
    order = torch.randperm(n, generator=torch.Generator().manual_seed(1))
    parts = [shard(order, r, world) for r in range(world)]
    per = -(-n // world)
    assert all(len(p) == per == shard_size(n, world) for p in parts)
    seen = torch.cat(parts).tolist()
    assert set(seen) == set(range(n))  # nothing left out
    # the padding repeats the permutation's first indices, as torch's DistributedSampler does
    padded = (order.tolist() * (world + 1))[: per * world]
    assert sorted(seen) == sorted(padded)
    sampler = torch.utils.data.DistributedSampler(range(n), num_replicas=world, rank=0, shuffle=False)
    assert shard(torch.arange(n), 0, world).tolist() == list(sampler)


@pytest.mark.parametrize("n,world", [(10, 3), (1001, 8)])
def test_drop_last_cuts_to_equal_shards_without_repeats(n, world):
    order = torch.randperm(n, generator=torch.Generator().manual_seed(2))
    parts = [shard(order, r, world, drop_last=True) for r in range(world)]
    assert all(len(p) == n // world == shard_size(n, world, drop_last=True) for p in parts)
    seen = torch.cat(parts).tolist()
    assert len(set(seen)) == len(seen) == n // world * world
    sampler = torch.utils.data.DistributedSampler(range(n), num_replicas=world, rank=1, shuffle=False, drop_last=True)
    assert shard(torch.arange(n), 1, world, drop_last=True).tolist() == list(sampler)


def test_shard_refuses_a_rank_outside_the_world():
    with pytest.raises(ConfigError, match="rank 3 is outside 0…2"):
        shard(torch.arange(6), 3, 3)


def test_one_process_is_untouched(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert init() is False
    model = aekit.Autoencoder(ModelConfig(input_dim=4, encoding_dim=2))
    par = DataParallel(model, TrainConfig(batch_size=7))
    order = torch.arange(10)
    gen = torch.Generator()
    state = type("S", (), {"generator": gen, "epoch": 0})()
    same, noise = par.shard(order, state)
    assert same is order and noise is gen and par.batch_size == 7 and par.is_main
    assert par.mean({"loss": 5.0}, 10) == {"loss": 0.5} and par.any(False) is False
    assert on_main(lambda a: a + 1, 1) == 2


def test_the_global_batch_must_split_evenly_over_the_processes(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")  # read from the environment until the group exists
    assert per_rank_batch(256) == 128
    with pytest.raises(
        ConfigError,
        match=r"batch_size 255 is the global batch .* over 2 processes; pass a multiple of 2 \(e.g. 254 or 256\)",
    ):
        per_rank_batch(255)


def test_half_set_environment_is_refused(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    monkeypatch.delenv("MASTER_PORT", raising=False)
    with pytest.raises(ConfigError, match="MASTER_ADDR, MASTER_PORT not set; launch with `torchrun"):
        init()


# --------------------------------------------------------------------------- real 2-process runs
def torchrun(
    tmp_path: Path, *args: str, nproc: int = 2, name: str = "logs"
) -> tuple[subprocess.CompletedProcess, Path, Path]:
    """`torchrun --standalone --nproc-per-node 2 -m aekit …` on 127.0.0.1, each worker's output in a log file."""
    hook, audit, logs = tmp_path / "hook", tmp_path / "audit", tmp_path / name
    for d in (hook, audit, logs):
        d.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(AUDIT_HOOK)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(hook), str(SRC)]),
        "OMP_NUM_THREADS": "1",
        "GLOO_SOCKET_IFNAME": "lo",
        "AEKIT_AUDIT": str(audit),
    }
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--local-addr",
        "127.0.0.1",
        "--nproc-per-node",
        str(nproc),
        "--log-dir",
        str(logs),
        "--redirects",
        "3",
        "-m",
        "aekit",
        *args,
    ]
    proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240)
    return proc, audit, logs


def worker_output(logs: Path, rank: int, stream: str) -> str:
    (path,) = logs.glob(f"*/attempt_0/{rank}/{stream}.log")
    return path.read_text()


def written_under(audit: Path, rank: int, folder: Path) -> list[str]:
    log = audit / f"rank{rank}.log"
    assert log.is_file(), f"the audit hook did not run in rank {rank}"
    return [line for line in log.read_text().splitlines() if str(folder.resolve()) in line]


def test_kl_sparsity_is_over_the_global_batch_under_two_processes(tmp_path):
    out = tmp_path / "ddp"
    proc, _, logs = torchrun(
        tmp_path,
        "train",
        "--kind",
        "sparse-kl",
        "--optimizer",
        "adam",
        "--limit",
        "1000",
        "--epochs",
        "2",
        "--batch-size",
        "200",
        "--out",
        str(out),
        "-q",
        "--no-tensorboard",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "warning" not in worker_output(logs, 0, "stderr")  # the all_reduce is not torch's deprecated one
    model_config, train_config = aekit.configure("sparse-kl", optimizer="adam", epochs=2, batch_size=200)
    ds = aekit.load_dataset("mnist", limit=1000)
    one = aekit.Autoencoder(model_config)
    h = aekit.fit(one, ds.x_train, None, train_config, validation_data=ds.x_test, verbose=0).history
    ddp = json.loads((out / "history.json").read_text())["history"]
    # ρ̂ is the mean code over the global batch of 200, not over each rank's 100 rows: the penalty, the loss and
    # the weights are those of one process (validation is sharded, so val_kl is per rank's slice: not compared)
    assert ddp["kl"] == pytest.approx(h["kl"], abs=TOL) and ddp["loss"] == pytest.approx(h["loss"], abs=TOL)
    assert ddp["val_recon"] == pytest.approx(h["val_recon"], abs=TOL)
    model, _, _ = aekit.load_run(out)
    for name, w in model.state_dict().items():
        assert torch.allclose(w, one.state_dict()[name], rtol=0, atol=1e-6), name


def test_two_processes_on_memory_mapped_rows_then_resumed_match_one_at_the_same_global_batch(tmp_path):
    rows = aekit.load_dataset("mnist", limit=600)
    np.save(tmp_path / "x.npy", rows.x_train[:600])
    np.save(tmp_path / "v.npy", rows.x_test[:200])
    out = tmp_path / "ddp"
    # 600 rows do not split into batches of 64 evenly: the ranks' last batches are equal halves of 24
    proc, audit, logs = torchrun(
        tmp_path,
        "train",
        "--data",
        "x.npy",
        "--val-data",
        "v.npy",
        "--epochs",
        "1",
        "--batch-size",
        "64",
        "--out",
        str(out),
        "--verbose",
        "2",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "checkpoint" / "last.safetensors").is_file()

    # only rank 0 printed, only rank 0 wrote; rank 1 touched nothing in the run folder
    assert "1 epochs" in worker_output(logs, 0, "stdout") and "Epoch 1/1" in worker_output(logs, 0, "stderr")
    assert worker_output(logs, 1, "stdout") == "" and "Epoch" not in worker_output(logs, 1, "stderr")
    assert written_under(audit, 0, out) and written_under(audit, 1, out) == []
    assert len(list((out / "tb" / "train").glob("events.out.tfevents.*"))) == 1 and (out / "report.html").is_file()
    config = json.loads((out / "config.json").read_text())
    assert config["distributed"] == {"world_size": 2, "backend": "gloo"}

    # --resume at the same world size continues to 2 epochs, as if never stopped
    proc, audit, logs = torchrun(tmp_path, "train", "--resume", str(out), "--epochs", "2", "-q", name="logs2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert written_under(audit, 1, out) == [] and worker_output(logs, 1, "stdout") == ""

    # the same training in one process (this one) at the same global batch size, on the same memory-mapped rows
    x, v = aekit.load_array(tmp_path / "x.npy"), aekit.load_array(tmp_path / "v.npy")
    assert isinstance(x, np.memmap)
    one = aekit.Autoencoder(ModelConfig())
    h = aekit.fit(one, x, validation_data=v, epochs=2, batch_size=64, verbose=0)
    ddp = json.loads((out / "history.json").read_text())["history"]
    assert len(ddp["val_loss"]) == 2
    assert ddp["val_loss"][-1] == pytest.approx(h.history["val_loss"][-1], abs=TOL)
    assert ddp["loss"] == pytest.approx(h.history["loss"], abs=TOL)

    # the saved model loads in a single process, has the single process's weights and gives that val loss
    model, _, history = aekit.load_run(out)
    assert aekit.evaluate(model, v)["loss"] == pytest.approx(history.history["val_loss"][-1], abs=TOL)
    for name, w in model.state_dict().items():  # measured: ≤ 1.5e-8 apart
        assert torch.allclose(w, one.state_dict()[name], rtol=0, atol=1e-6), name
