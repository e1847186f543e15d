"""Run folders: one training at a time (an OS lock that a killed process cannot leave behind)."""

import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from aekit_subprocess import SRC

from aekit.errors import ConfigError
from aekit.runfolder import LOCK, clear_run_folder, lock_run_folder

HOLD = (
    "import sys, time; from aekit.runfolder import lock_run_folder; lock_run_folder(sys.argv[1]); "
    "print('held', flush=True); time.sleep(300)"
)


def holder(folder):
    """A real process that takes the folder's lock and keeps it until killed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": SRC},
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_held_lock_refuses_a_second_holder_and_a_killed_holder_leaves_none(tmp_path):
    proc = holder(tmp_path)
    try:
        with pytest.raises(ConfigError, match=rf"another aekit process \(pid {proc.pid}\) is training into this run"):
            lock_run_folder(tmp_path)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with lock_run_folder(tmp_path):  # the dead process's lock went with it
        assert (tmp_path / LOCK).read_text() == str(os.getpid())
        with pytest.raises(ConfigError, match="another aekit process"):
            lock_run_folder(tmp_path)  # another open of the file: refused, even in the same process
    assert (tmp_path / LOCK).read_text() == ""  # released: no pid left behind
    lock_run_folder(tmp_path).release()


def test_create_makes_the_folder_and_clear_keeps_only_the_lock(tmp_path):
    run = tmp_path / "a" / "run"
    with lock_run_folder(run, create=True):
        (run / "sub").mkdir()
        (run / "sub" / "f").write_text("x")
        (run / "config.json").write_text("{}")
        clear_run_folder(run)
        assert [p.name for p in run.iterdir()] == [LOCK]


def test_train_into_a_folder_another_process_trains_into_changes_nothing(tmp_path):
    from aekit import ModelConfig, TrainConfig, resume, train

    np.save(tmp_path / "rows.npy", np.random.default_rng(0).random((40, 4), dtype=np.float32))
    run = tmp_path / "run"
    model, cfg = ModelConfig(input_dim=4, encoding_dim=2), TrainConfig(epochs=1, batch_size=8)
    data = str(tmp_path / "rows.npy")
    train(model, cfg, data=data, out=run, verbose=0, tensorboard=False)
    before = {p.name: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    proc = holder(run)
    try:
        for attempt in (
            lambda: train(model, cfg, data=data, out=run, overwrite=True, verbose=0, tensorboard=False),
            lambda: resume(run, epochs=2, verbose=0),
        ):
            with pytest.raises(ConfigError, match=f"pid {proc.pid}"):
                attempt()
        after = {p.name: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != LOCK}
        assert after == {k: v for k, v in before.items() if k != LOCK}
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert len(resume(run, epochs=2, verbose=0).history.epoch) == 2  # free again
