"""Checkpoints, resume (bitwise, through real killed subprocesses), early stopping, keep-best, NaN."""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file

import aekit
from aekit import Autoencoder, ModelConfig, TrainConfig, fit, load_model
from aekit.config import replace
from aekit.errors import ModelFileError, TrainingError
from aekit.training.callbacks.base import Callback, TrainState
from aekit.training.callbacks.stopping import Checkpoint, EarlyStopping
from aekit.training.checkpoint import (
    BEST,
    CHECKPOINT_DIR,
    LAST,
    checkpoint_epoch,
    data_fingerprint,
    load_checkpoint,
    save_checkpoint,
)
from aekit.training.optim import make_optimizer
from aekit.training.runs import resume, train

SRC = str(Path(__file__).resolve().parents[2] / "src")


def same_tensors(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def small(rng, n=160, d=12):
    return rng.random((n, d), dtype=np.float32)


# --------------------------------------------------------------------------- in-process resume
@pytest.mark.parametrize("optimizer", ["adadelta", "adam", "sgd"])
def test_resume_in_process_is_bitwise(tmp_path, rng, optimizer):
    x, vx = small(rng), small(rng, 40)
    mc = ModelConfig(input_dim=12, encoding_dim=3, seed=4)
    cfg = TrainConfig(epochs=4, batch_size=16, optimizer=optimizer, seed=4, noise="masking", noise_level=0.3)
    straight = Autoencoder(mc)
    h1 = fit(straight, x, config=cfg, validation_data=vx, verbose=0)
    half = Autoencoder(mc)
    fit(half, x, config=replace(cfg, epochs=2), validation_data=vx, verbose=0, callbacks=[Checkpoint(tmp_path)])
    state, _ = load_checkpoint(tmp_path / LAST)
    assert state.epoch == 2 and state.step == 20 and same_tensors(weights(state.model), weights(half))
    state.config = cfg
    h2 = fit(state.model, x, config=cfg, validation_data=vx, verbose=0, state=state)
    assert same_tensors(weights(straight), weights(state.model))
    assert h1.history["val_loss"] == h2.history["val_loss"] and h2.epoch == [1, 2, 3, 4]


def test_resume_with_a_moving_average_is_bitwise(tmp_path, rng):
    x, vx = small(rng), small(rng, 40)
    mc = ModelConfig(input_dim=12, encoding_dim=3, seed=2)
    cfg = TrainConfig(epochs=4, batch_size=16, optimizer="adam", seed=2, ema=0.95)
    straight = Autoencoder(mc)
    h1 = fit(straight, x, config=cfg, validation_data=vx, verbose=0)
    fit(
        Autoencoder(mc),
        x,
        config=replace(cfg, epochs=2),
        validation_data=vx,
        verbose=0,
        callbacks=[Checkpoint(tmp_path)],
    )
    state, _ = load_checkpoint(tmp_path / LAST)
    assert set(state.extra["ema"]) == set(weights(straight))  # the trained weights, beside the average in the model
    state.config = cfg
    h2 = fit(state.model, x, config=cfg, validation_data=vx, verbose=0, state=state)
    assert same_tensors(weights(straight), weights(state.model))
    assert h1.history["val_loss"] == h2.history["val_loss"]


def test_checkpoint_holds_every_state_and_no_pickle(tmp_path, rng):
    m = Autoencoder(ModelConfig(input_dim=12, encoding_dim=3))
    fit(m, small(rng), epochs=1, batch_size=32, optimizer="adam", verbose=0, callbacks=[Checkpoint(tmp_path)])
    raw = (tmp_path / LAST).read_bytes()
    assert b"pickle" not in raw and not (tmp_path / LAST).with_suffix(".pt").exists()
    tensors = load_file(tmp_path / LAST)
    assert {"rng/generator", "rng/torch", "model/encoder.0.weight"} <= set(tensors)
    assert any(k.startswith("optimizer/") and k.endswith("exp_avg_sq") for k in tensors)
    np.random.seed(123)
    expected_np = np.random.get_state()[1].copy()
    save_checkpoint(load_checkpoint(tmp_path / LAST, restore_rng=False)[0], tmp_path / "again.safetensors")
    np.random.seed(9)
    load_checkpoint(tmp_path / "again.safetensors")  # restores numpy's and torch's global RNG
    assert np.array_equal(np.random.get_state()[1], expected_np)
    assert checkpoint_epoch(tmp_path / LAST) == 1
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.fixture()
def mnist_npy(tmp_path, mnist_small):
    """1,500 real MNIST rows as a .npy file (loads faster than the IDX files in a subprocess)."""
    path = tmp_path / "mnist1500.npy"
    np.save(path, mnist_small[0][:1500])
    return path


def test_library_resume_extends_epochs_bitwise(tmp_path, mnist_npy):
    kw = dict(data=str(mnist_npy), limit=400, verbose=0, tensorboard=False)
    mc = ModelConfig(encoding_dim=8)
    full = train(mc, TrainConfig(epochs=3, batch_size=64), out=tmp_path / "full", **kw)
    train(mc, TrainConfig(epochs=2, batch_size=64), out=tmp_path / "part", **kw)
    more = resume(tmp_path / "part", epochs=3, verbose=0)
    assert same_tensors(weights(full.model), weights(more.model))
    assert json.loads((tmp_path / "part" / "config.json").read_text())["train"]["epochs"] == 3
    assert more.history.history["loss"] == full.history.history["loss"]
    with pytest.raises(aekit.ConfigError, match="fewer than the 3 epochs already done"):
        resume(tmp_path / "part", epochs=2, verbose=0)


def test_resume_from_another_working_directory_finds_relative_data(tmp_path, rng, monkeypatch):
    (tmp_path / "work").mkdir()
    (tmp_path / "elsewhere").mkdir()
    np.save(tmp_path / "work" / "rows.npy", small(rng))
    monkeypatch.chdir(tmp_path / "work")
    train(
        ModelConfig(input_dim=12, encoding_dim=3),
        TrainConfig(epochs=1, batch_size=32),
        data="rows.npy",
        out="run",
        verbose=0,
        tensorboard=False,
    )
    stored = json.loads((tmp_path / "work" / "run" / "config.json").read_text())["data"]["data"]
    assert stored == str(tmp_path / "work" / "rows.npy")  # absolute, whatever the working directory was
    monkeypatch.chdir(tmp_path / "elsewhere")
    more = resume(tmp_path / "work" / "run", epochs=2, verbose=0)
    assert more.history.epoch == [1, 2]


def test_resume_refuses_to_stretch_a_onecycle_schedule(tmp_path, mnist_npy):
    out = tmp_path / "run"
    train(
        ModelConfig(encoding_dim=4),
        TrainConfig(epochs=2, batch_size=128, optimizer="adam", schedule="onecycle"),
        data=str(mnist_npy),
        limit=300,
        out=out,
        verbose=0,
        tensorboard=False,
    )
    with pytest.raises(aekit.ConfigError, match="'onecycle' learning-rate schedule .* spans its 2 epochs"):
        resume(out, epochs=3, verbose=0)
    assert json.loads((out / "config.json").read_text())["train"]["epochs"] == 2


# --------------------------------------------------------------------------- killed subprocesses
class Proc:
    """`python -m aekit ...` with its stderr collected by a thread, to kill it at a chosen moment."""

    def __init__(self, *args):
        # One thread each: the reference and the killed run train side by side, and two 2-thread processes
        # on 2 cores stall each other's OpenMP barriers (bitwise equality needs the same count in both).
        env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""), "OMP_NUM_THREADS": "1"}
        self.p = subprocess.Popen(
            [sys.executable, "-m", "aekit", *map(str, args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.err = []
        self.t = threading.Thread(target=lambda: self.err.extend(iter(lambda: self.p.stderr.read(1), "")), daemon=True)
        self.t.start()

    def text(self):
        return "".join(self.err)

    def wait_for(self, pred, what, timeout=120):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if pred():
                return
            assert self.p.poll() is None, f"exited {self.p.returncode} before {what}: {self.text()}"
            time.sleep(0.005)
        self.p.kill()
        raise AssertionError(f"timed out waiting for {what}")

    def kill(self, sig=signal.SIGKILL):
        self.p.send_signal(sig)
        rc = self.p.wait(60)
        self.t.join(10)
        return rc

    def finish(self):
        rc = self.p.wait(300)
        self.t.join(10)
        assert rc == 0, self.text()


def safe_metadata(path):
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return f.metadata()


def ckpt_epoch(run):
    path = run / CHECKPOINT_DIR / LAST
    return checkpoint_epoch(path) if path.is_file() else 0


def mid_epoch(proc, epoch, epochs):
    """A condition that turns true 20 ms after the progress output shows that `epoch` began.

    An epoch here takes well over 20 ms (about 675 steps), and the test checks afterwards that the
    checkpoint on disk is still the previous epoch's, i.e. that the kill landed inside `epoch`.
    """
    seen = []

    def check():
        if not seen and f"Epoch {epoch}/{epochs}" in proc.text():
            seen.append(time.monotonic())
        return bool(seen) and time.monotonic() - seen[0] >= 0.02

    return check


def test_killed_at_several_moments_then_resumed_is_bitwise(tmp_path, mnist_npy):
    # 1,350 training rows in batches of 2: ~675 steps, so an epoch lasts well over the 20 ms the kills wait
    # even on a quiet machine (batches of 16 finished an epoch inside the wait there).
    opts = [
        "--data",
        mnist_npy,
        "--limit",
        1500,
        "--epochs",
        4,
        "--batch-size",
        2,
        "--encoding-dim",
        16,
        "--seed",
        3,
        "--noise",
        "masking",
        "--noise-level",
        0.2,
        "--optimizer",
        "adam",
        "--patience",
        3,
        "--no-tensorboard",
    ]
    ref, run = tmp_path / "ref", tmp_path / "run"
    straight = Proc("train", *opts, "--out", ref, "--quiet")
    p = Proc("train", *opts, "--out", run)
    # 1: SIGKILL during epoch 1, before any checkpoint exists
    p.wait_for(mid_epoch(p, 1, 4), "epoch 1 under way")
    assert p.kill() == -signal.SIGKILL and ckpt_epoch(run) == 0
    # 2: SIGKILL right after the first checkpoint appears
    p = Proc("train", "--resume", run)
    p.wait_for(lambda: ckpt_epoch(run) >= 1, "checkpoint of epoch 1")
    p.kill()
    assert not (run / "model.safetensors").exists()
    # 3: SIGKILL in the middle of epoch 3
    p = Proc("train", "--resume", run)
    p.wait_for(mid_epoch(p, 3, 4), "epoch 3 under way")
    p.kill()
    assert ckpt_epoch(run) == 2
    # 4: SIGTERM in the middle of epoch 4: a clean stop that names the kept checkpoint
    p = Proc("train", "--resume", run)
    p.wait_for(mid_epoch(p, 4, 4), "epoch 4 under way")
    assert p.kill(signal.SIGTERM) == 128 + signal.SIGTERM
    last = p.text().strip().splitlines()[-1]
    assert (
        last == f"aekit: interrupted; the last complete epoch (3) is kept in {run / CHECKPOINT_DIR / LAST}; "
        f"continue with `aekit train --resume {run}`"
    ), p.text()
    assert ckpt_epoch(run) == 3 and "Traceback" not in p.text()
    p = Proc("train", "--resume", run, "--quiet")
    p.finish()
    straight.finish()
    assert same_tensors(load_file(ref / "model.safetensors"), load_file(run / "model.safetensors"))
    a, b = load_file(ref / CHECKPOINT_DIR / LAST), load_file(run / CHECKPOINT_DIR / LAST)
    assert len(a) > 20 and same_tensors(a, b)  # weights, optimizer moments, every RNG, best weights
    sa, sb = (json.loads(safe_metadata(r / CHECKPOINT_DIR / LAST)["state"]) for r in (ref, run))
    assert sa["numpy_rng"] == sb["numpy_rng"] and sa["step"] == sb["step"] and sa["extra"] == sb["extra"]
    ha, hb = (json.loads((r / "history.json").read_text())["history"] for r in (ref, run))
    assert {k: v for k, v in ha.items() if k != "epoch_time"} == {k: v for k, v in hb.items() if k != "epoch_time"}
    assert not list(run.rglob(".*.tmp"))


# --------------------------------------------------------------------------- early stopping and keep-best
def test_early_stopping_stops_and_restores_best(tmp_path, rng):
    x, vx = small(rng), small(rng, 40)
    mc = ModelConfig(input_dim=12, encoding_dim=3)
    cfg = TrainConfig(epochs=10, batch_size=16, patience=2, min_delta=10.0)  # nothing improves by 10
    m = Autoencoder(mc)
    h = fit(m, x, config=cfg, validation_data=vx, verbose=0, callbacks=[Checkpoint(tmp_path)])
    assert h.epoch == [1, 2, 3]  # best at 1, then 2 epochs without improvement
    one = Autoencoder(mc)
    fit(one, x, config=replace(cfg, epochs=1, patience=0), validation_data=vx, verbose=0)
    assert same_tensors(weights(m), weights(one))  # restored to epoch 1
    state, _ = load_checkpoint(tmp_path / LAST)
    assert state.stop_training and state.extra["early_stopping"]["stopped_epoch"] == 3
    fit(state.model, x, config=cfg, validation_data=vx, verbose=0, state=state)  # a resumed stopped run stays stopped
    assert state.epoch == 3 and same_tensors(weights(state.model), weights(one))


def test_early_stopping_keras_rule(rng):
    m = Autoencoder(ModelConfig(input_dim=4, encoding_dim=2))
    state = TrainState(m, make_optimizer(m, TrainConfig()), TrainConfig(), torch.Generator(), aekit.History())
    es = EarlyStopping(patience=2, min_delta=0.1, restore_best=False)
    for epoch, v in enumerate([1.0, 0.95, 0.85, 0.84, 0.80, 0.79], start=1):
        state.epoch = epoch
        es.on_epoch_end(state, {"loss": 9.0, "val_loss": v})
        if state.stop_training:
            break
    # 0.95 is no improvement (needs < 0.9), 0.85 is; 0.84 and 0.80 are not (need < 0.75): stop at epoch 5
    assert epoch == 5 and state.extra["early_stopping"]["best_epoch"] == 3


def test_keep_best_is_the_epoch_with_the_lowest_val_loss(tmp_path, rng):
    x = small(rng)
    vx = 1 - x  # the model gets better at x, not necessarily at its negative
    seen = []

    class Record(Callback):
        def on_epoch_end(self, state, logs):
            seen.append((logs["val_loss"], weights(state.model)))

    m = Autoencoder(ModelConfig(input_dim=12, encoding_dim=3))
    fit(
        m,
        x,
        epochs=6,
        batch_size=8,
        optimizer="adam",
        lr=0.05,
        validation_data=vx,
        verbose=0,
        callbacks=[Record(), Checkpoint(tmp_path)],
    )
    losses = [v for v, _ in seen]
    best = int(np.argmin(losses))
    assert same_tensors(weights(load_model(tmp_path / BEST)), seen[best][1])
    assert load_checkpoint(tmp_path / LAST)[0].extra["checkpoint"]["best_epoch"] == best + 1


# --------------------------------------------------------------------------- NaN
def test_nan_keeps_the_last_good_checkpoint(tmp_path):
    class LrBlowsUp(Callback):  # a learning rate that turns absurd after epoch 2
        def on_epoch_end(self, state, logs):
            if state.epoch == 2:
                for g in state.optimizer.param_groups:
                    g["lr"] = 1e30

    with pytest.raises(TrainingError) as e:
        train(
            ModelConfig(encoding_dim=8, output_activation="linear"),
            TrainConfig(epochs=5, batch_size=64, optimizer="sgd", loss="mse"),
            limit=300,
            out=tmp_path / "run",
            verbose=0,
            tensorboard=False,
            callbacks=[LrBlowsUp()],
        )
    msg = str(e.value)
    assert re.search(r"the loss became (nan|inf) at epoch 3, step \d+; lower the learning rate", msg), msg
    assert msg.endswith(f"the last complete epoch (2) is kept in {tmp_path / 'run' / CHECKPOINT_DIR / LAST}")
    state, _ = load_checkpoint(tmp_path / "run" / CHECKPOINT_DIR / LAST)
    assert state.epoch == 2 and all(torch.isfinite(v).all() for v in state.model.state_dict().values())
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_cli_nan_exits_2_and_keeps_the_checkpoint(tmp_path):
    data = tmp_path / "rows.csv"
    np.savetxt(data, np.random.default_rng(0).random((200, 8)) * 4, delimiter=",")
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "aekit",
            "train",
            "--data",
            data,
            "--loss",
            "mse",
            "--optimizer",
            "sgd",
            "--lr",
            "0.13",
            "--output-activation",
            "linear",
            "--code-activation",
            "linear",
            "--encoding-dim",
            "4",
            "--batch-size",
            "20",
            "--epochs",
            "40",
            "--scale",
            "none",
            "--out",
            run,
            "--quiet",
            "--no-tensorboard",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    m = re.fullmatch(
        r"aekit: error: the loss became (nan|inf) at epoch (\d+), step \d+; lower the learning rate \(now 0\.13\)"
        r".*; the last complete epoch \((\d+)\) is kept in .*last\.safetensors",
        line,
    )
    assert m and int(m[2]) >= 2 and int(m[3]) == int(m[2]) - 1, line
    assert ckpt_epoch(run) == int(m[3])


# --------------------------------------------------------------------------- damaged checkpoints
def _good_checkpoint(tmp_path, rng):
    m = Autoencoder(ModelConfig(input_dim=6, encoding_dim=2))
    fit(
        m,
        rng.random((20, 6), dtype=np.float32),
        epochs=1,
        batch_size=8,
        optimizer="adam",
        verbose=0,
        callbacks=[Checkpoint(tmp_path, keep_best=False)],
    )
    return (tmp_path / LAST).read_bytes()


def test_damaged_checkpoints_are_refused(tmp_path, rng):
    good = _good_checkpoint(tmp_path, rng)
    path = tmp_path / "bad.safetensors"
    for data, words in [
        (good[: len(good) // 2], "not a readable safetensors file"),
        (good[:-1] + bytes([good[-1] ^ 1]), "do not match the checksum"),
        (good.replace(b'stop_training\\": false', b'stop_training\\": true ', 1), "do not match the checksum"),
        (b"", "not a readable safetensors file"),
    ]:
        path.write_bytes(data)
        with pytest.raises(ModelFileError, match=words):
            load_checkpoint(path)
    assert b'stop_training\\": false' in good
    with pytest.raises(ModelFileError, match="no checkpoint there"):
        load_checkpoint(tmp_path / "missing.safetensors")
    aekit.save_model(Autoencoder(ModelConfig(input_dim=6, encoding_dim=2)), path)
    with pytest.raises(ModelFileError, match="not an aekit checkpoint"):
        load_checkpoint(path)


@settings(max_examples=150, deadline=10000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_load_checkpoint(tmp_path, data):
    good = GOOD_CHECKPOINT
    kind = data.draw(st.sampled_from(["bytes", "flip", "cut", "splice"]))
    if kind == "bytes":
        blob = data.draw(st.binary(max_size=400))
    elif kind == "flip":
        i = data.draw(st.integers(0, len(good) - 1))
        blob = good[:i] + bytes([good[i] ^ data.draw(st.integers(1, 255))]) + good[i + 1 :]
    elif kind == "cut":
        blob = good[: data.draw(st.integers(0, len(good) - 1))]
    else:
        i = data.draw(st.integers(8, 400))
        blob = good[:i] + data.draw(st.binary(min_size=1, max_size=20)) + good[i:]
    path = tmp_path / "fuzz.safetensors"
    path.write_bytes(blob)
    try:
        state, _ = load_checkpoint(path, restore_rng=False)
    except ModelFileError as e:
        assert "\n" not in str(e)
    else:  # only a change that keeps every byte that matters can load
        assert state.epoch == 1


GOOD_CHECKPOINT = b""


@pytest.fixture(autouse=True, scope="module")
def _good_checkpoint_bytes(tmp_path_factory):
    global GOOD_CHECKPOINT
    GOOD_CHECKPOINT = _good_checkpoint(tmp_path_factory.mktemp("ck"), np.random.default_rng(0))


def test_ctrl_c_waits_until_the_checkpoint_is_written():
    from aekit.training.checkpoint import _signals_deferred

    done = []
    # Python's own Ctrl-C handler, as in a terminal (a job started in the background by a shell inherits SIGINT ignored)
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            with _signals_deferred():
                os.kill(os.getpid(), signal.SIGINT)  # a real signal, to this process
                time.sleep(0.2)  # Python would run the handler here, were it not deferred
                done.append("written")
        assert done == ["written"]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, before)


def test_fingerprint_of_a_memmap_leaves_its_pages_unmapped(big_npy, rss_file_kib):
    x = aekit.load_array(big_npy)
    assert isinstance(x, np.memmap)
    before = rss_file_kib()
    fingerprint = data_fingerprint(x)
    grown = rss_file_kib() - before
    assert grown < 16 * 1024, f"reading the fingerprint left {grown / 1024:.0f} MiB of the file mapped"
    assert fingerprint == data_fingerprint(np.load(big_npy))  # the same digest as the rows in memory


def test_fingerprint_of_a_float64_memmap_is_that_of_its_rows(tmp_path):
    np.save(tmp_path / "d.npy", np.random.default_rng(1).random((5000, 7)))  # float64: read through the mapping
    mm = np.load(tmp_path / "d.npy", mmap_mode="r")
    assert data_fingerprint(mm) == data_fingerprint(np.load(tmp_path / "d.npy"))


# --------------------------------------------------------------------------- flushing off the training thread
def test_checkpoints_are_written_at_epoch_end_and_flushed_off_the_training_thread(tmp_path, rng, monkeypatch):
    import aekit.training.checkpoint as ckpt

    flushed, written, real = [], [], ckpt.sync_file

    def slow_sync(path):
        flushed.append((Path(path).name, threading.current_thread().name))
        time.sleep(0.05)  # a slow disk: fit must still end with every file flushed
        real(path)

    class Seen(Callback):  # after the Checkpoint: its files are in place when the epoch ends, not later
        def on_epoch_end(self, state, logs):
            written.append(checkpoint_epoch(tmp_path / LAST))

    monkeypatch.setattr(ckpt, "sync_file", slow_sync)
    x = small(rng)
    cb = Checkpoint(tmp_path)
    fit(
        Autoencoder(ModelConfig(input_dim=12, encoding_dim=3)),
        x,
        epochs=3,
        batch_size=16,
        verbose=0,
        validation_data=x[:40],
        callbacks=[cb, Seen()],
    )
    assert written == [1, 2, 3] and cb.saved_epoch == 3
    assert {name for name, _ in flushed} == {LAST, BEST} and {t for _, t in flushed} == {"aekit-checkpoint"}
    assert [name for name, _ in flushed].count(LAST) == 3 and cb._writes._flushing is None  # all flushed at the end
    assert load_checkpoint(tmp_path / LAST)[0].epoch == 3 and not list(tmp_path.glob(".*.tmp"))


def test_a_failed_flush_stops_the_run_with_its_error(tmp_path, rng, monkeypatch):
    import errno

    import aekit.training.checkpoint as ckpt

    def broken(path):
        raise OSError(errno.EIO, "Input/output error", str(path))

    monkeypatch.setattr(ckpt, "sync_file", broken)
    epochs = []

    class Count(Callback):
        def on_epoch_end(self, state, logs):
            epochs.append(state.epoch)

    with pytest.raises(OSError, match="Input/output error"):
        fit(
            Autoencoder(ModelConfig(input_dim=12, encoding_dim=3)),
            small(rng),
            epochs=5,
            batch_size=16,
            verbose=0,
            callbacks=[Checkpoint(tmp_path), Count()],
        )
    assert epochs == [1]  # epoch 1's flush failed: the run stops at the end of epoch 2, before anything else
