"""Training on a device. The CPU tests run the GPU's code path with ``device="cpu"`` named: rows placed on the device
(copied, as uint8 pixels, or read batch by batch), no host read within an epoch's steps, the losses read once per
epoch, checkpoints from another device. The `test_gpu_*` tests skip with a reason where CUDA is absent;
benchmarks/gpu.py runs them on a GPU machine, calling them itself where pytest is missing, so they take no
fixture but `tmp_path`.
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

try:
    import pytest

    needs_cuda = pytest.mark.skipif(
        not torch.cuda.is_available(), reason="needs a CUDA GPU (torch.cuda.is_available() is False)"
    )
    needs_two_gpus = pytest.mark.skipif(
        torch.cuda.device_count() < 2, reason="needs two CUDA GPUs (torchrun with NCCL)"
    )
except ImportError:  # benchmarks/gpu.py on a machine without pytest: it runs the test_gpu_* functions itself

    class pytest:  # noqa: N801  (pytest's decorators, as no-ops)
        class mark:
            parametrize = skipif = staticmethod(lambda *a, **k: lambda f: f)

    needs_cuda = needs_two_gpus = lambda f: f

import aekit
from aekit import Autoencoder, ModelConfig, TrainConfig, fit
from aekit.config import replace
from aekit.data import rows as rows_module
from aekit.data.reading import sort_batches
from aekit.data.rows import as_rows, place_rows
from aekit.errors import TrainingError
from aekit.training.callbacks.base import Callback
from aekit.training.optimizers import _has_fused_adam

SRC = str(Path(__file__).resolve().parents[2] / "src")
CPU = torch.device("cpu")


def mnist(n=1200, n_val=300):
    ds = aekit.load_dataset("mnist", limit=n)
    x_val = aekit.load_dataset("mnist").x_test[:n_val]
    return ds.x_train, x_val


def weights(model):
    return [p.detach().cpu().clone() for p in model.parameters()]


# --------------------------------------------------------------------------- placements, on the CPU
def test_rows_are_placed_as_a_gpu_places_them_and_read_bitwise_the_same(tmp_path):
    x = as_rows(mnist(600)[0])  # MNIST: every value is the float32 k / 255 of a byte k
    n_bytes = x.shape[0] * x.shape[1] * 4
    order = sort_batches(torch.randperm(600, generator=torch.Generator().manual_seed(1)), 64)
    np.save(tmp_path / "x.npy", x.numpy())
    mm = as_rows(aekit.load_array(tmp_path / "x.npy"), keep_memmap=True)
    placements = {
        "in place": place_rows(x, CPU),  # the CPU's own: the rows are their own copy on the device
        "copied": place_rows(x, CPU, n_bytes),
        "pixels": place_rows(x, CPU, n_bytes // 2),  # float32 does not fit, uint8 does
        "streamed": place_rows(x, CPU, n_bytes // 8),
        "memmap copied": place_rows(mm, CPU, n_bytes),
        "memmap streamed": place_rows(mm, CPU),
    }
    assert placements["in place"].resident is x
    assert placements["copied"].resident.dtype == torch.float32 and placements["copied"].resident is not x
    assert placements["pixels"].resident.dtype == torch.uint8
    assert placements["streamed"].resident is None and placements["memmap streamed"].resident is None
    assert isinstance(placements["memmap copied"].resident, torch.Tensor)
    for name, placed in placements.items():
        read = placed.reader(order, 64)
        for k in range(10):
            assert torch.equal(read(k), x[order[k * 64 : (k + 1) * 64]]), name
        assert torch.equal(torch.cat([b for _, b in placed.blocks(100)]), x), name
        assert torch.equal(torch.cat([b for _, b in placed[100:250].blocks(64)]), x[100:250]), name


def test_rows_that_are_not_pixels_are_read_batch_by_batch_when_float32_does_not_fit(rng):
    x = torch.from_numpy(rng.random((200, 10), dtype=np.float32))
    placed = place_rows(x, CPU, x.numel() * 2)
    assert placed.resident is None
    assert torch.equal(placed.reader(torch.arange(200), 50)(1), x[50:100])


def _budget(monkeypatch, bytes_):
    """fit's placements as on a GPU with `bytes_` of room for rows (None: the CPU's own, rows where they are)."""
    monkeypatch.setattr(rows_module, "memory_budget", lambda device: bytes_)


@pytest.mark.parametrize("budget", [None, 1 << 30, 1_000_000, 0])  # in place, copied, uint8 pixels, streamed
def test_fit_gives_bitwise_the_same_run_whatever_the_placement(monkeypatch, budget):
    x, xv = mnist(800, 200)  # 800 × 784 float32: 2.5 MB; as uint8 627 kB
    cfg = TrainConfig(epochs=2, batch_size=64, noise="masking", noise_level=0.2, seed=3)
    runs = {}
    for b in (None, budget):
        _budget(monkeypatch, b)
        model = Autoencoder(ModelConfig(encoding_dim=16))
        runs[b] = fit(model, x, x, cfg, validation_data=xv, verbose=0, device="cpu").history, weights(model)
    assert runs[budget][0]["loss"] == runs[None][0]["loss"] and runs[budget][0]["val_loss"] == runs[None][0]["val_loss"]
    assert all(torch.equal(a, b) for a, b in zip(runs[budget][1], runs[None][1]))


def test_device_cpu_named_is_the_default_run(rng):
    x = rng.random((96, 12), dtype=np.float32)
    a, b = (
        Autoencoder(ModelConfig(input_dim=12, encoding_dim=3)),
        Autoencoder(ModelConfig(input_dim=12, encoding_dim=3)),
    )
    ha = fit(a, x, epochs=2, batch_size=16, verbose=0).history
    hb = fit(b, x, epochs=2, batch_size=16, verbose=0, device="cpu").history
    assert ha["loss"] == hb["loss"] and all(torch.equal(p, q) for p, q in zip(weights(a), weights(b)))


# --------------------------------------------------------------------------- no host read within the steps
_READS = ("item", "tolist", "numpy", "cpu", "__float__", "__int__", "__bool__", "__index__")


class _CountReads(Callback):
    """Counts the tensor methods that read a value on the host (they wait for a GPU), from the epoch's first step to
    its last: the window `torch.cuda.set_sync_debug_mode` watches on a GPU (test_gpu_*)."""

    def __init__(self, monkeypatch):
        self.on, self.reads = False, []
        for name in _READS:
            real = getattr(torch.Tensor, name)

            def counted(t, *a, _real=real, _name=name, **k):
                if self.on:
                    self.reads.append(_name)
                return _real(t, *a, **k)

            monkeypatch.setattr(torch.Tensor, name, counted)

    def on_epoch_begin(self, state):
        self.on = True

    def on_validation_begin(self, state):
        self.on = False


@pytest.mark.parametrize(
    "fields",
    [{}, {"optimizer": "adam", "schedule": "onecycle", "ema": 0.9, "noise": "masking", "noise_level": 0.2, "l1": 1e-4}],
)
def test_no_step_reads_a_value_back_from_the_device(monkeypatch, rng, fields):
    x = rng.random((256, 20), dtype=np.float32)
    spy = _CountReads(monkeypatch)
    h = fit(
        Autoencoder(ModelConfig(input_dim=20, encoding_dim=4)),
        x,
        epochs=2,
        batch_size=16,
        verbose=0,
        device="cpu",
        validation_data=x[:32],
        callbacks=[spy],
        **fields,
    ).history
    # 32 steps, not one read among them; the epoch's losses read after. Where torch has no fused Adam for the CPU
    # (torch 2.2), the unfused one reads each of the 4 parameters' step counts, CPU scalars that wait for no GPU
    unfused = fields.get("optimizer") == "adam" and not _has_fused_adam(CPU)
    assert spy.reads == (["item"] * 4 * 32 if unfused else []) and len(h["loss"]) == 2


def test_a_nan_loss_names_the_first_bad_step_of_its_epoch(rng):
    x = rng.random((64, 8), dtype=np.float32)
    x[37, 2] = np.nan  # shuffle off, batches of 8: row 37 is in the 5th step
    with pytest.raises(
        TrainingError, match=r"the loss became nan at epoch 1, step 5; lower the learning rate \(now 1\)"
    ):
        fit(
            Autoencoder(ModelConfig(input_dim=8, encoding_dim=2)),
            x,
            epochs=2,
            batch_size=8,
            shuffle=False,
            verbose=0,
            check_input=False,
            device="cpu",
        )


def test_batch_logs_hold_the_loss_read_on_demand(rng):
    seen = []

    class Look(Callback):
        def on_batch_end(self, state, batch, logs):
            seen.append((dict(logs), list(logs)))

    x = rng.random((40, 5), dtype=np.float32)
    h = fit(
        Autoencoder(ModelConfig(input_dim=5, encoding_dim=2)),
        x,
        epochs=1,
        batch_size=20,
        shuffle=False,
        verbose=0,
        callbacks=[Look()],
    ).history
    assert [keys for _, keys in seen] == [["loss"], ["loss"]]
    assert (seen[0][0]["loss"] * 20 + seen[1][0]["loss"] * 20) / 40 == pytest.approx(h["loss"][0], rel=1e-6)


# --------------------------------------------------------------------------- checkpoints across devices
class _FakeGpuGenerator:
    """What save_checkpoint reads from a CUDA generator: its device and its 16-byte (seed, offset) state."""

    device = torch.device("cuda", 0)

    def get_state(self):
        return torch.arange(16, dtype=torch.uint8)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU machine loads a GPU's generator state as it is")
def test_a_checkpoint_from_a_gpu_resumes_on_the_cpu(tmp_path, rng):
    from aekit.training.checkpoint import load_checkpoint, save_checkpoint

    x = rng.random((64, 6), dtype=np.float32)
    model = Autoencoder(ModelConfig(input_dim=6, encoding_dim=2))
    cfg = TrainConfig(epochs=4, batch_size=16, optimizer="adam", seed=5, ema=0.9)
    kept = []

    class Keep(Callback):
        def on_train_end(self, state):
            kept.append(state)

    fit(model, x, config=replace(cfg, epochs=2), verbose=0, callbacks=[Keep()])
    state = kept[0]
    state.generator = _FakeGpuGenerator()  # as if it had trained on cuda:0
    save_checkpoint(state, tmp_path / "last.safetensors")
    loaded, _ = load_checkpoint(tmp_path / "last.safetensors")
    expected = torch.Generator().manual_seed(int(np.random.SeedSequence([5, 2]).generate_state(1)[0]))
    assert loaded.generator.device == CPU
    assert torch.equal(torch.randperm(50, generator=loaded.generator), torch.randperm(50, generator=expected))
    loaded.config = cfg
    h = fit(loaded.model, x, config=cfg, state=loaded, verbose=0, device="cpu")
    assert h.epoch == [1, 2, 3, 4] and np.isfinite(h.history["loss"]).all()


def test_train_state_to_its_own_device_moves_nothing(rng):
    from aekit.training.callbacks.base import TrainState
    from aekit.training.optim import make_optimizer

    model = Autoencoder(ModelConfig(input_dim=6, encoding_dim=2))
    fit(model, rng.random((32, 6), dtype=np.float32), epochs=1, batch_size=8, optimizer="adam", verbose=0)
    opt = make_optimizer(model, TrainConfig(optimizer="adam"))
    gen = torch.Generator().manual_seed(1)
    state = TrainState(model, opt, TrainConfig(), gen, aekit.History())
    before = [p.data_ptr() for p in model.parameters()]
    assert state.to(CPU) is state and state.generator is gen and [p.data_ptr() for p in model.parameters()] == before


# --------------------------------------------------------------------------- GPU only
@needs_cuda
def test_gpu_training_never_waits_for_the_gpu_within_an_epoch():
    x, xv = mnist()

    class NoSync(Callback):  # any wait for the GPU in the steps raises (torch's sync debug mode)
        def on_epoch_begin(self, state):
            torch.cuda.set_sync_debug_mode("error")

        def on_validation_begin(self, state):
            torch.cuda.set_sync_debug_mode("default")

    try:
        for fields in (
            {},
            {"optimizer": "adam", "schedule": "onecycle", "ema": 0.9, "noise": "masking", "noise_level": 0.2},
        ):
            h = fit(
                Autoencoder(),
                x,
                x,
                TrainConfig(epochs=2, **fields),
                validation_data=xv,
                verbose=0,
                device="cuda",
                callbacks=[NoSync()],
            ).history
            assert np.isfinite(h["val_loss"]).all()
    finally:
        torch.cuda.set_sync_debug_mode("default")


@needs_cuda
def test_gpu_fit_gives_the_cpus_losses_within_rounding():
    x, xv = mnist()
    runs = {}
    for device in ("cpu", "cuda"):  # unshuffled: the same batches on both
        model = Autoencoder()
        runs[device] = fit(model, x, x, epochs=3, shuffle=False, validation_data=xv, verbose=0, device=device).history
        assert next(model.parameters()).device.type == device
    np.testing.assert_allclose(runs["cuda"]["val_loss"], runs["cpu"]["val_loss"], rtol=1e-4)


@needs_cuda
def test_gpu_rows_are_read_bitwise_alike_from_the_device_and_from_pinned_memory(tmp_path):
    x, xv = mnist(800, 200)
    np.save(tmp_path / "x.npy", x)
    mm = aekit.load_array(tmp_path / "x.npy")
    real, runs = rows_module.memory_budget, {}
    try:
        for name, budget in (("on the gpu", None), ("uint8 pixels", 1_000_000), ("streamed", 0)):
            rows_module.memory_budget = (lambda b: lambda device: real(device) if b is None else b)(budget)
            for data in (x, mm):
                model = Autoencoder(ModelConfig(encoding_dim=16))
                h = fit(model, data, data, epochs=2, batch_size=64, validation_data=xv, verbose=0, device="cuda")
                runs[name, type(data).__name__] = h.history["val_loss"], weights(model)
    finally:
        rows_module.memory_budget = real
    first = next(iter(runs.values()))
    for key, (val, w) in runs.items():
        assert val == first[0] and all(torch.equal(a, b) for a, b in zip(w, first[1])), key


@needs_cuda
def test_gpu_a_run_resumes_on_another_device_and_back(tmp_path):
    cfg = TrainConfig(epochs=2, batch_size=128, optimizer="adam", ema=0.9, noise="masking", noise_level=0.2)
    run = tmp_path / "run"
    aekit.train(None, cfg, limit=600, out=run, verbose=0, tensorboard=False, device="cpu")
    for device, epochs in (("cuda", 3), ("cpu", 4), ("cuda", 5)):
        result = aekit.resume(run, epochs=epochs, verbose=0, device=device)
        config = json.loads((run / "config.json").read_text())
        assert config["device"].startswith(device) and result.history.epoch == list(range(1, epochs + 1))
        assert np.isfinite(result.history.history["val_loss"]).all()
    assert aekit.load_model(run).config == result.model.config  # the model file loads on the CPU


@needs_cuda
def test_gpu_model_files_load_on_any_device(tmp_path):
    model = Autoencoder().to("cuda")
    aekit.save_model(model, tmp_path / "m.safetensors")
    on_cpu = aekit.load_model(tmp_path / "m.safetensors")
    on_gpu = aekit.load_model(tmp_path / "m.safetensors", device="cuda")
    assert next(on_cpu.parameters()).device.type == "cpu" and next(on_gpu.parameters()).device.type == "cuda"
    assert all(torch.equal(a.cpu(), b) for a, b in zip(model.parameters(), on_cpu.parameters()))


@needs_cuda
def test_gpu_bfloat16_autocast_runs_on_the_gpu():
    x, xv = mnist(512, 100)
    model = Autoencoder()
    seen = []
    model.encoder[0].register_forward_hook(
        lambda mod, inp, out: seen.append((mod.training, out.dtype, out.device.type))
    )
    fit(model, x, x, epochs=1, validation_data=xv, verbose=0, device="cuda", precision="bfloat16")
    assert {s for s in seen if s[0]} == {(True, torch.bfloat16, "cuda")}
    assert {s for s in seen if not s[0]} == {(False, torch.float32, "cuda")}


@needs_cuda
def test_gpu_encode_from_device_memory_gives_the_cpus_codes():
    x, _ = mnist(2000, 10)
    model = Autoencoder()
    on_cpu = aekit.encode(model, x)
    on_gpu = aekit.encode(model, torch.from_numpy(x).to("cuda"), device="cuda")
    np.testing.assert_allclose(on_gpu, on_cpu, rtol=1e-5, atol=1e-5)


@needs_cuda
def test_gpu_cli_records_the_device_it_trained_on(tmp_path):
    env = {**os.environ, "PYTHONPATH": SRC}
    run = tmp_path / "run"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "aekit",
            "train",
            "--device",
            "cuda",
            "--limit",
            "600",
            "--epochs",
            "1",
            "--out",
            run,
            "--quiet",
            "--no-tensorboard",
        ],
        check=True,
        env=env,
        timeout=300,
    )
    config = json.loads((run / "config.json").read_text())
    assert config["device"] == f"cuda:{torch.cuda.current_device()}" and config["device_name"]
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "aekit",
            "encode",
            run,
            "mnist",
            "--limit",
            "100",
            "--device",
            "cuda",
            "-o",
            tmp_path / "codes.npy",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert np.load(tmp_path / "codes.npy").shape == (100, 32)


@needs_two_gpus
def test_gpu_torchrun_trains_one_gpu_per_process_with_nccl(tmp_path):
    env = {**os.environ, "PYTHONPATH": SRC}
    run = tmp_path / "run"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            "2",
            "-m",
            "aekit",
            "train",
            "--device",
            "cuda",
            "--limit",
            "1200",
            "--epochs",
            "2",
            "--batch-size",
            "128",
            "--out",
            run,
            "--quiet",
            "--no-tensorboard",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    config = json.loads((run / "config.json").read_text())
    assert config["distributed"]["world_size"] == 2 and "nccl" in config["distributed"]["backend"]


def gpu_tests():
    """The test_gpu_* functions of this module, for benchmarks/gpu.py's runner without pytest."""
    return {name: fn for name, fn in globals().items() if name.startswith("test_gpu_") and callable(fn)}


def run_without_pytest() -> dict:
    """Run each test_gpu_* function (`tmp_path`: a temporary folder): {name: 'passed', 'failed: …', 'skipped: …'}"""
    import inspect
    import traceback

    results = {}
    for name, fn in gpu_tests().items():
        if not torch.cuda.is_available():
            results[name] = "skipped: needs a CUDA GPU (torch.cuda.is_available() is False)"
            continue
        if name == "test_gpu_torchrun_trains_one_gpu_per_process_with_nccl" and torch.cuda.device_count() < 2:
            results[name] = "skipped: needs two CUDA GPUs"
            continue
        try:
            with tempfile.TemporaryDirectory() as tmp:
                kwargs = {"tmp_path": Path(tmp)} if "tmp_path" in inspect.signature(fn).parameters else {}
                fn(**kwargs)
            results[name] = "passed"
        except Exception as exc:  # a failed assertion or an error: its last line
            results[name] = "failed: " + (traceback.format_exception_only(type(exc), exc)[-1].strip())[:300]
    return results
