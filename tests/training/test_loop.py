import numpy as np
import pytest
import torch

import aekit
from aekit import Autoencoder, ModelConfig, fit
from aekit.errors import DataError, TrainingError
from aekit.training.callbacks.base import Callback
from aekit.training.callbacks.events import TensorBoard
from aekit.training.loop import evaluate


def test_fit_lowers_the_loss_on_real_mnist(mnist_small):
    x, _, xt, _ = mnist_small
    model = Autoencoder(ModelConfig())
    before = evaluate(model, xt)["loss"]
    history = fit(model, x, x, epochs=3, batch_size=64, validation_data=(xt, xt), verbose=0)
    h = history.history
    assert len(h["loss"]) == len(h["val_loss"]) == 3 and history.epoch == [1, 2, 3]
    assert h["val_loss"][-1] < before - 0.1
    assert h["loss"][-1] < h["loss"][0]
    assert {"loss", "recon", "val_loss", "val_recon", "epoch_time"} <= set(h)


def test_same_seed_same_weights_other_seed_other_weights(rng):
    x = rng.random((100, 20), dtype=np.float32)

    def run(seed):
        m = Autoencoder(ModelConfig(input_dim=20, encoding_dim=4, seed=seed))
        fit(m, x, epochs=2, batch_size=16, seed=seed, noise="masking", noise_level=0.3, verbose=0)
        return m.encoder[0].weight.detach().clone()

    assert torch.equal(run(3), run(3))
    assert not torch.equal(run(3), run(4))


def test_every_penalty_term_is_logged(rng):
    x = rng.random((64, 10), dtype=np.float32)
    m = Autoencoder(ModelConfig(input_dim=10, encoding_dim=4, code_activation="sigmoid"))
    h = fit(
        m, x, epochs=1, batch_size=16, l1=1e-4, kl_beta=3.0, kl_rho=0.1, weight_decay=1e-3, validation_data=x, verbose=0
    ).history
    for term in ("recon", "l1", "kl", "weight_decay"):
        assert term in h and f"val_{term}" in h
    assert h["loss"][0] == pytest.approx(h["recon"][0] + h["l1"][0] + h["kl"][0] + h["weight_decay"][0], rel=1e-5)


def test_callbacks_see_every_hook_in_order(rng):
    seen = []

    class Spy(Callback):
        def on_train_begin(self, s):
            seen.append("train_begin")

        def on_epoch_begin(self, s):
            seen.append("epoch_begin")

        def on_batch_end(self, s, b, logs):
            seen.append("batch")

        def on_epoch_end(self, s, logs):
            seen.append("epoch_end")

        def on_train_end(self, s):
            seen.append("train_end")

    x = rng.random((40, 5), dtype=np.float32)
    fit(Autoencoder(ModelConfig(input_dim=5, encoding_dim=2)), x, epochs=2, batch_size=20, callbacks=[Spy()], verbose=0)
    assert seen == ["train_begin"] + ["epoch_begin", "batch", "batch", "epoch_end"] * 2 + ["train_end"]


def test_early_stop_flag_is_honoured(rng):
    class StopAfterOne(Callback):
        def on_epoch_end(self, s, logs):
            s.stop_training = True

    x = rng.random((40, 5), dtype=np.float32)
    h = fit(Autoencoder(ModelConfig(input_dim=5, encoding_dim=2)), x, epochs=5, callbacks=[StopAfterOne()], verbose=0)
    assert h.epoch == [1]


def test_nan_loss_stops_with_epoch_and_step_named(rng):
    x = rng.random((64, 8), dtype=np.float32) * 100
    m = Autoencoder(ModelConfig(input_dim=8, encoding_dim=4, output_activation="linear"))
    with pytest.raises(TrainingError, match=r"epoch 1, step \d+; lower the learning rate"):
        fit(m, x, epochs=3, batch_size=8, optimizer="sgd", lr=1e6, loss="mse", verbose=0)


@pytest.mark.parametrize(
    "bad, words",
    [
        (np.full((4, 784), np.nan, dtype=np.float32), "NaN or inf"),
        (np.ones((4, 783), dtype=np.float32), "783 features but the model expects 784"),
        (np.full((4, 784), 2.0, dtype=np.float32), r"outside \[0, 1\].*loss=\"mse\""),
        (np.zeros((0, 784), dtype=np.float32), "no rows"),
    ],
)
def test_bad_training_data_is_refused(bad, words):
    with pytest.raises(DataError, match=words):
        fit(Autoencoder(), bad, epochs=1, verbose=0)


@pytest.mark.parametrize(
    "call, words",
    [
        (
            lambda x: fit(None, x, epochs=1, verbose=0),
            r"model must be an Autoencoder, got NoneType; pass Autoencoder\(",
        ),
        (lambda x: fit(Autoencoder(ModelConfig(input_dim=6)), x, config={"epochs": 1}), "config must be a TrainConfig"),
        (
            lambda x: evaluate(Autoencoder(ModelConfig(input_dim=6)), x, config={}),
            "config must be a TrainConfig, got dict",
        ),
        (
            lambda x: fit(Autoencoder(ModelConfig(input_dim=6)), x, epoch=1),
            "unknown TrainConfig field 'epoch'; did you",
        ),
    ],
)
def test_a_model_or_config_of_the_wrong_type_names_the_fix(rng, call, words):
    with pytest.raises(aekit.ConfigError, match=words):
        call(rng.random((4, 6)))


def test_validation_split_holds_out_the_last_rows_before_shuffling(rng):
    x = rng.random((40, 6), dtype=np.float32)
    split = fit(
        Autoencoder(ModelConfig(input_dim=6, encoding_dim=2)),
        x,
        epochs=2,
        batch_size=8,
        validation_split=0.25,
        verbose=0,
    )
    given = fit(
        Autoencoder(ModelConfig(input_dim=6, encoding_dim=2)),
        x[:30],
        epochs=2,
        batch_size=8,
        validation_data=(x[30:], x[30:]),
        verbose=0,
    )
    assert split.history["val_loss"] == given.history["val_loss"] and split.history["loss"] == given.history["loss"]


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (
            {"validation_split": 0.2, "validation_data": np.zeros((2, 6))},
            "pass validation_data or validation_split, not both",
        ),
        ({"validation_split": 1.5}, r"validation_split must lie in \[0, 1\)"),
    ],
)
def test_validation_split_errors_name_the_argument(rng, kwargs, words):
    with pytest.raises(aekit.ConfigError, match=words):
        fit(Autoencoder(ModelConfig(input_dim=6, encoding_dim=2)), rng.random((10, 6)), epochs=1, verbose=0, **kwargs)


def test_fit_fits_an_unfitted_scaler_on_the_training_rows(rng):
    x = (rng.normal(size=(64, 3)) * [1.0, 100.0, 0.0] + [5.0, -300.0, 7.0]).astype(np.float32)  # a constant column
    model = Autoencoder(ModelConfig(input_dim=3, encoding_dim=2, scale="standard", output_activation="linear"))
    fit(model, x, loss="mse", epochs=1, batch_size=16, validation_split=0.25, verbose=0)
    np.testing.assert_allclose(model.input_offset.numpy(), x[:48].mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(
        model.input_scale.numpy(), np.where(x[:48].std(axis=0) > 0, x[:48].std(axis=0), 1.0), rtol=1e-4
    )


def test_progress_output_is_keras_like(rng, capsys):
    x = rng.random((64, 6), dtype=np.float32)
    fit(
        Autoencoder(ModelConfig(input_dim=6, encoding_dim=2)),
        x,
        epochs=2,
        batch_size=16,
        verbose=1,
        validation_data=x[:16],
        l1=1e-4,
    )
    err = capsys.readouterr().err  # not a terminal: each epoch's header and final line, no redraws
    lines = err.splitlines()
    assert "\r" not in err and lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2" and len(lines) == 4
    assert lines[1].startswith("4/4 - ") and " - loss: " in lines[1]
    assert lines[1].index("loss: ") < lines[1].index("val_loss: ") < lines[1].index("recon: ")  # the key figures first
    fit(Autoencoder(ModelConfig(input_dim=6, encoding_dim=2)), x, epochs=1, verbose=0)
    assert capsys.readouterr().err == ""


def test_progress_on_a_terminal_draws_a_bar(rng):
    import io

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    from aekit.training.callbacks.progress import ProgressBar

    out = Terminal()
    x = rng.random((64, 6), dtype=np.float32)
    fit(
        Autoencoder(ModelConfig(input_dim=6, encoding_dim=2)),
        x,
        epochs=1,
        batch_size=16,
        verbose=0,
        validation_data=x[:16],
        callbacks=[ProgressBar(1, stream=out)],
    )
    text = out.getvalue()
    assert text.startswith("Epoch 1/1\n") and "\r" in text and "4/4 [" in text and "val_loss: " in text


@pytest.mark.parametrize(
    "l1, shown",
    [
        (0.0, "loss: {loss:.4f} - val_loss: {val_loss:.4f}\n"),
        (1e-3, "loss: {loss:.4f} - val_loss: {val_loss:.4f} - recon: {recon:.4f} - l1"),
    ],
)
def test_the_epoch_line_shows_recon_only_beside_another_term(rng, l1, shown):
    import io

    from aekit.training.callbacks.progress import ProgressBar

    out = io.StringIO()
    x = rng.random((64, 6), dtype=np.float32)
    h = fit(
        Autoencoder(ModelConfig(input_dim=6, encoding_dim=2)),
        x,
        epochs=1,
        batch_size=16,
        verbose=0,
        l1=l1,
        validation_data=x[:16],
        callbacks=[ProgressBar(2, stream=out)],
    ).history
    assert shown.format(**{k: v[-1] for k, v in h.items()}) in out.getvalue()
    assert ("recon" in out.getvalue()) == bool(l1) and "recon" in h  # the history keeps it either way


def test_tensorboard_event_files_hold_scalars_and_images(tmp_path, mnist_small):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    x, _, xt, _ = mnist_small
    model = Autoencoder(ModelConfig(encoding_dim=8))
    tb = TensorBoard(tmp_path / "tb", images=xt[:10], image_shape=(1, 28, 28))
    h = fit(model, x[:500], epochs=2, batch_size=128, validation_data=xt[:100], callbacks=[tb], verbose=0).history
    train, val = (
        EventAccumulator(str(tmp_path / "tb" / run), size_guidance={"images": 0, "scalars": 0}).Reload()
        for run in ("train", "validation")
    )
    assert {"loss", "recon"} <= set(train.Tags()["scalars"]) and {"loss", "recon"} <= set(val.Tags()["scalars"])
    assert [e.step for e in val.Scalars("loss")] == [1, 2]
    assert [e.value for e in val.Scalars("loss")] == pytest.approx(h["val_loss"], rel=1e-6)
    assert "reconstructions" in train.Tags()["images"]
    img = train.Images("reconstructions")[-1]
    assert img.width > 100 and img.height > 20 and img.encoded_image_string[:4] == b"\x89PNG"


def test_public_api_names():
    for name in ("Autoencoder", "fit", "load", "train", "load_dataset", "summary", "ModelConfig", "TrainConfig"):
        assert hasattr(aekit, name)


# --------------------------------------------------------------------------- the fast path (docs/performance.md)
def _reference_fit(x, xv, epochs, batch_size, seed=0, model_seed=0):
    """The straightforward loop: fancy-indexed batches, the built-in BCE, torch.optim.Adadelta (Keras 2 settings)."""
    import torch.nn.functional as F

    model = Autoencoder(ModelConfig(seed=model_seed))
    opt = torch.optim.Adadelta(model.parameters(), lr=1.0, rho=0.95, eps=1e-7)
    gen = torch.Generator().manual_seed(seed)
    x, xv = torch.from_numpy(x), torch.from_numpy(xv)
    losses, val_losses = [], []
    for _ in range(epochs):
        order, total = torch.randperm(len(x), generator=gen), 0.0
        for start in range(0, len(x), batch_size):
            xb = x[order[start : start + batch_size]]
            loss = F.binary_cross_entropy_with_logits(model.decode_logits(model.encode(xb)), xb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(xb)
        losses.append(total / len(x))
        with torch.no_grad():
            val_losses.append(F.binary_cross_entropy_with_logits(model.decode_logits(model.encode(xv)), xv).item())
    return model, losses, val_losses


def test_fast_path_gives_the_losses_of_the_straightforward_loop(mnist_small):
    x, _, xt, _ = mnist_small
    ref_model, ref_loss, ref_val = _reference_fit(x[:1000], xt[:300], epochs=3, batch_size=64)
    model = Autoencoder(ModelConfig())
    h = fit(model, x[:1000], x[:1000], epochs=3, batch_size=64, validation_data=(xt[:300], xt[:300]), verbose=0).history
    assert h["loss"] == pytest.approx(ref_loss, rel=1e-4)
    assert h["val_loss"] == pytest.approx(ref_val, rel=1e-4)
    assert ref_val[-1] < ref_val[0] - 0.01  # it did learn, so the comparison means something
    for a, b in zip(model.parameters(), ref_model.parameters()):
        assert torch.allclose(a, b, atol=1e-4)


@pytest.mark.parametrize("block", [1, 8])
def test_memmap_input_trains_from_the_memmap_with_the_same_result(tmp_path, mnist_small, block):
    from aekit.data.rows import as_rows

    x = mnist_small[0][:600]
    np.save(tmp_path / "x.npy", x)
    mm = aekit.load_array(tmp_path / "x.npy")
    assert isinstance(mm, np.memmap)
    assert isinstance(as_rows(mm, keep_memmap=True), np.memmap)  # fit keeps it: batches are gathered from it
    assert as_rows(mm).data_ptr() == mm.ctypes.data  # a tensor over the mapping, not a copy
    a, b = Autoencoder(ModelConfig(encoding_dim=8)), Autoencoder(ModelConfig(encoding_dim=8))
    ha = fit(a, mm, epochs=2, batch_size=50, validation_data=mm[:100], verbose=0, shuffle_block=block).history
    hb = fit(b, x, epochs=2, batch_size=50, validation_data=x[:100], verbose=0, shuffle_block=block).history
    assert ha["loss"] == hb["loss"] and ha["val_loss"] == hb["val_loss"]
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_a_large_memmap_shuffled_row_by_row_gets_a_warning(tmp_path, rng, monkeypatch):
    import importlib
    import warnings

    rows_module = importlib.import_module("aekit.data.rows")
    np.save(tmp_path / "x.npy", rng.random((64, 6), dtype=np.float32))
    mm = aekit.load_array(tmp_path / "x.npy")
    model = Autoencoder(ModelConfig(input_dim=6, encoding_dim=2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the default threshold (256 MiB): a small file trains quietly
        fit(model, mm, epochs=1, batch_size=16, verbose=0)
    monkeypatch.setattr(rows_module, "SLOW_READ_BYTES", mm.nbytes)  # as if the file were that large
    with pytest.warns(
        RuntimeWarning, match=r"memory-mapped file with rows shuffled one by one .*\(--shuffle-block 64\)"
    ) as w:
        fit(model, mm, epochs=1, batch_size=16, verbose=0)
    assert len(w) == 1 and w[0].filename == __file__  # one warning, pointing at the caller's fit
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # runs, no shuffling, or the rows in memory: nothing to warn about
        fit(model, mm, epochs=1, batch_size=16, verbose=0, shuffle_block=16)
        fit(model, mm, epochs=1, batch_size=16, verbose=0, shuffle=False)
        fit(model, np.array(mm), epochs=1, batch_size=16, verbose=0)


def test_shuffle_block_permutes_runs_of_consecutive_rows():
    from aekit.training.loop import epoch_order

    gen = torch.Generator().manual_seed(0)
    assert torch.equal(
        epoch_order(10, aekit.TrainConfig(), torch.Generator().manual_seed(3)),
        torch.randperm(10, generator=torch.Generator().manual_seed(3)),
    )  # block 1: as before
    order = epoch_order(103, aekit.TrainConfig(shuffle_block=8), gen)
    assert sorted(order.tolist()) == list(range(103))
    starts = [int(v) for v in order if int(v) % 8 == 0]  # where each run begins, in the order the runs come
    assert starts == (torch.randperm(13, generator=torch.Generator().manual_seed(0)) * 8).tolist()  # the generator's
    assert torch.equal(order, torch.cat([torch.arange(s, min(s + 8, 103)) for s in starts]))  # each run whole, in order
    assert not torch.equal(order, torch.arange(103))
    assert torch.equal(epoch_order(5, aekit.TrainConfig(shuffle=False, shuffle_block=4), gen), torch.arange(5))
    with pytest.raises(aekit.ConfigError, match="shuffle_block must be a positive integer"):
        aekit.TrainConfig(shuffle_block=0)
    # a block longer than the rows is all of them, as a block of exactly the rows (it allocated 8 bytes a place)
    huge = epoch_order(103, aekit.TrainConfig(shuffle_block=10**12), torch.Generator().manual_seed(0))
    assert torch.equal(huge, epoch_order(103, aekit.TrainConfig(shuffle_block=103), torch.Generator().manual_seed(0)))


def test_recipe_fields_and_explicit_values_win():
    from aekit.config import recipe

    fast = recipe("fast")
    assert (fast.optimizer, fast.schedule, fast.batch_size) == ("adam", "onecycle", 512)
    assert recipe("fast", epochs=3, batch_size=128).epochs == 3
    assert recipe("fast", optimizer="adadelta").learning_rate == 1.0  # another optimizer: its own default lr
    assert recipe("tutorial") == aekit.TrainConfig()


def test_onecycle_schedule_warms_up_then_decays():
    from aekit.training.optim import lr_at

    cfg = aekit.TrainConfig(optimizer="adam", lr=0.01, schedule="onecycle")
    lrs = [lr_at(cfg, s, 100) for s in range(100)]
    assert lrs[0] == pytest.approx(0.01 / 25) and max(lrs) == pytest.approx(0.01)
    assert lrs.index(max(lrs)) == 10 and lrs[-1] < 0.0002
    assert lr_at(aekit.TrainConfig(), 50, 100) == 1.0


def test_cosine_schedule_decays_from_lr_to_zero():
    from aekit.training.optim import lr_at

    cfg = aekit.TrainConfig(optimizer="adam", lr=0.01, schedule="cosine")
    lrs = [lr_at(cfg, s, 100) for s in range(101)]
    assert lrs[0] == 0.01 and lrs[50] == pytest.approx(0.005) and lrs[100] == pytest.approx(0.0, abs=1e-12)
    assert all(a > b for a, b in zip(lrs, lrs[1:]))
    floor = aekit.TrainConfig(optimizer="adam", lr=0.01, schedule="cosine", min_lr=0.002)
    assert [lr_at(floor, s, 100) for s in (0, 50, 100)] == pytest.approx([0.01, 0.006, 0.002])


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"min_lr": 1e-4}, "min_lr is where the 'cosine' schedule ends, but the schedule is 'constant'"),
        ({"min_lr": 1e-3, "schedule": "cosine"}, "min_lr 0.001 must be below the learning rate 0.001"),
        ({"min_lr": -1e-4, "schedule": "cosine"}, "min_lr must be"),
    ],
)
def test_min_lr_needs_the_cosine_schedule_and_a_smaller_value(fields, message):
    from aekit.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        aekit.TrainConfig(optimizer="adam", **fields)


def test_encode_matches_the_encoder(mnist_small):
    x = mnist_small[2]
    model = Autoencoder(ModelConfig())
    codes = aekit.encode(model, x, batch_size=128)
    with torch.no_grad():
        assert np.allclose(codes, model.encode(torch.from_numpy(x)).numpy(), atol=1e-6)
    assert codes.shape == (len(x), 32) and codes.dtype == np.float32


def test_encode_refuses_nan_naming_the_row():
    x = np.zeros((300, 784), dtype=np.float32)
    x[257, 5] = np.nan
    with pytest.raises(DataError, match="first in row 257"):
        aekit.encode(Autoencoder(), x, batch_size=128)


def test_optimizers_keep_keras_2_settings():
    from aekit.training.optim import make_optimizer

    model = Autoencoder(ModelConfig(input_dim=6, encoding_dim=2))
    ada = make_optimizer(model, aekit.TrainConfig())
    assert type(ada).__name__ == "Adadelta"
    assert {k: ada.defaults[k] for k in ("lr", "rho", "eps")} == {"lr": 1.0, "rho": 0.95, "eps": 1e-7}
    adam = make_optimizer(model, aekit.TrainConfig(optimizer="adam", lr=0.01))
    assert type(adam).__name__ == "Adam" and adam.defaults["eps"] == 1e-7 and adam.defaults["lr"] == 0.01


def test_compiled_step_gives_the_losses_of_the_eager_step(mnist_small):
    x, _, xt, _ = mnist_small
    x = x[:1000]  # 1000 rows: three batches of 256 and a last one of 232, so the dynamic batch size is exercised
    runs = {}
    for compiled in (False, True):
        model = Autoencoder(ModelConfig())
        runs[compiled] = fit(
            model, x, x, epochs=2, batch_size=256, validation_data=(xt, xt), verbose=0, compile=compiled
        ).history
    for key in ("loss", "val_loss"):  # the same batches and updates; only float rounding of fused kernels differs
        np.testing.assert_allclose(runs[True][key], runs[False][key], rtol=1e-4)
    assert runs[True]["val_loss"][-1] < runs[True]["val_loss"][0]


def test_compile_without_a_cpp_compiler_is_refused_before_training(rng, monkeypatch, tmp_path):
    from aekit.errors import ConfigError

    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no g++, c++ or clang++ to find
    monkeypatch.delenv("CXX", raising=False)
    model = Autoencoder(ModelConfig(input_dim=8, encoding_dim=2))
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ConfigError, match="needs a C\\+\\+ compiler"):
        fit(model, rng.random((32, 8), dtype=np.float32), epochs=1, verbose=0, compile=True)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_compile_must_be_a_bool():
    from aekit.errors import ConfigError

    with pytest.raises(ConfigError, match="compile must be true or false"):
        aekit.TrainConfig(compile="yes")


def test_range_checks_scan_each_array_once(monkeypatch):
    import importlib

    rows_module = importlib.import_module("aekit.data.rows")
    scanned = []
    real = rows_module._unit_range
    monkeypatch.setattr(rows_module, "_unit_range", lambda x: scanned.append(x.shape[0]) or real(x))
    x = torch.rand(64, 6, generator=torch.Generator().manual_seed(0))
    cfg = aekit.TrainConfig(
        epochs=1, batch_size=32, noise="gaussian", noise_level=0.3
    )  # bce and noise: both need [0, 1]
    fit(Autoencoder(ModelConfig(input_dim=6, encoding_dim=2)), x, None, cfg, validation_data=x[:16], verbose=0)
    assert scanned == [64, 16]
    fit(
        Autoencoder(ModelConfig(input_dim=6, encoding_dim=2)),
        x,
        None,
        cfg,
        validation_data=x[:16],
        verbose=0,
        check_input=False,
    )
    assert scanned == [64, 16]  # rows checked already: no scan
    with pytest.raises(DataError, match=r"the input has values outside \[0, 1\] .* but gaussian noise"):
        fit(Autoencoder(ModelConfig(input_dim=6, encoding_dim=2)), x * 2 - 1, None, cfg, loss="mse", verbose=0)


def test_ema_ends_with_the_moving_average_of_the_trained_weights(rng):
    x, vx = rng.random((96, 10), dtype=np.float32), rng.random((32, 10), dtype=np.float32)
    mc = ModelConfig(input_dim=10, encoding_dim=3, seed=1)
    cfg = aekit.TrainConfig(epochs=3, batch_size=16, optimizer="adam", seed=1)

    class Average(Callback):  # the average, by hand, of the weights a run without ema trains
        def on_batch_end(self, state, batch, logs):
            d = min(0.9, state.step / (9 + state.step))  # the decay ramps up: (1 + t) / (10 + t), t the steps before
            for a, p in zip(self.avg, state.model.parameters()):
                a.mul_(d).add_(p.detach(), alpha=1 - d)

    plain = Autoencoder(mc)
    by_hand = Average()
    by_hand.avg = [p.detach().clone() for p in plain.parameters()]
    fit(plain, x, None, cfg, validation_data=vx, callbacks=[by_hand], verbose=0)
    averaged = Autoencoder(mc)
    h = fit(averaged, x, None, cfg, validation_data=vx, verbose=0, ema=0.9)
    for a, p in zip(by_hand.avg, averaged.parameters()):
        torch.testing.assert_close(p.detach(), a, rtol=1e-5, atol=1e-6)
    assert not all(torch.allclose(a, p) for a, p in zip(plain.parameters(), averaged.parameters()))
    assert h.history["val_loss"][-1] == pytest.approx(evaluate(averaged, vx, config=cfg)["loss"], rel=1e-5)


def test_ema_an_error_mid_epoch_leaves_the_model_holding_the_average(rng):
    x = rng.random((64, 10), dtype=np.float32)
    model = Autoencoder(ModelConfig(input_dim=10, encoding_dim=3, seed=1))
    cfg = aekit.TrainConfig(epochs=3, batch_size=16, optimizer="adam", seed=1, ema=0.9)

    class Stop(Callback):  # the average held after epoch 1, the weights trained by 2 steps of epoch 2, then an error
        def on_epoch_end(self, state, logs):
            self.average, self.steps = [p.detach().clone() for p in state.model.parameters()], []

        def on_batch_end(self, state, batch, logs):
            if state.epoch == 1:  # during the steps the model holds its trained weights
                self.steps.append((state.step - 1, [p.detach().clone() for p in state.model.parameters()]))
                if batch == 1:
                    raise KeyboardInterrupt

    stop = Stop()
    with pytest.raises(KeyboardInterrupt):
        fit(model, x, None, cfg, verbose=0, callbacks=[stop])
    expected = stop.average
    for t, weights in stop.steps:  # the average's two updates, by hand
        d = min(0.9, (1 + t) / (10 + t))
        expected = [d * a + (1 - d) * w for a, w in zip(expected, weights)]
    for p, a in zip(model.parameters(), expected):
        torch.testing.assert_close(p.detach(), a, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(next(model.parameters()), stop.steps[-1][1][0])


@pytest.mark.parametrize("ema", [1.0, -0.1, True, "0.9"])
def test_ema_must_be_a_decay_in_zero_one(ema):
    from aekit.errors import ConfigError

    with pytest.raises(ConfigError, match=r"ema is the decay .* must lie in \[0, 1\)"):
        aekit.TrainConfig(ema=ema)


# --------------------------------------------------------------------------- bfloat16
def _first_linear_dtypes(model):
    """Record (training?, dtype) of every output of the model's first layer with a weight (Linear or Conv2d)."""
    seen = []
    layer = next(m for m in model.encoder if hasattr(m, "weight"))
    layer.register_forward_hook(lambda mod, inp, out: seen.append((mod.training, out.dtype)))
    return seen


@pytest.mark.parametrize("kind", ["undercomplete", "sparse", "sparse-kl", "contractive", "denoising", "deep", "conv"])
def test_bfloat16_trains_in_bfloat16_to_the_float32_losses(mnist_small, kind):
    x, _, xt, _ = mnist_small
    x, xt = (x[:256], xt[:128]) if kind == "conv" else (x[:768], xt)  # the conv kind: 30x the work a row
    runs, models = {}, {}
    for precision in ("float32", "bfloat16"):
        mc, tc = aekit.configure(kind, epochs=2, batch_size=128, precision=precision)
        models[precision] = model = Autoencoder(mc)
        dtypes = _first_linear_dtypes(model)
        runs[precision] = fit(model, x, x, tc, validation_data=(xt, xt), verbose=0).history
        assert {d for training, d in dtypes if training} == {
            torch.bfloat16 if precision == "bfloat16" else torch.float32
        }
        assert {d for training, d in dtypes if not training} == {torch.float32}  # validation measures the float32 model
        assert all(p.dtype == torch.float32 for p in model.parameters())
    assert runs["bfloat16"].keys() == runs["float32"].keys()
    for key, values in runs["float32"].items():  # every term, logged under the same name, close to float32's
        if key != "epoch_time":
            np.testing.assert_allclose(runs["bfloat16"][key], values, rtol=2e-2, err_msg=key)
    assert runs["bfloat16"]["loss"] != runs["float32"]["loss"]  # the products did run in bfloat16


def test_bfloat16_validation_is_the_float32_evaluation_of_the_trained_model(mnist_small):
    x, _, xt, _ = mnist_small
    model = Autoencoder(ModelConfig())
    h = fit(model, x[:512], x[:512], epochs=1, validation_data=(xt, xt), verbose=0, precision="bfloat16").history
    assert h["val_loss"][-1] == pytest.approx(aekit.evaluate(model, xt)["loss"], rel=1e-6)


def test_bfloat16_compiled_step_gives_the_losses_of_the_eager_bfloat16_step(mnist_small):
    x, _, xt, _ = mnist_small
    x = x[:1000]
    runs = {}
    for compiled in (False, True):
        model = Autoencoder(ModelConfig())
        runs[compiled] = fit(
            model,
            x,
            x,
            epochs=2,
            batch_size=256,
            validation_data=(xt, xt),
            verbose=0,
            compile=compiled,
            precision="bfloat16",
        ).history
    for key in ("loss", "val_loss"):  # the same casts and products; fused kernels round differently
        np.testing.assert_allclose(runs[True][key], runs[False][key], rtol=2e-3)


def test_bfloat16_warns_on_a_cpu_without_bfloat16_instructions(rng, monkeypatch):
    import warnings

    model = Autoencoder(ModelConfig(input_dim=8, encoding_dim=2))
    x = rng.random((32, 8), dtype=np.float32)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)  # torch 2.2 has no
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)  # probes: it cannot tell
    with pytest.warns(RuntimeWarning, match="without bfloat16 instructions.*precision='float32'"):
        fit(model, x, epochs=1, verbose=0, precision="bfloat16")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit(model, x, epochs=1, verbose=0)  # float32: nothing to say


def test_precision_must_be_known():
    from aekit.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown precision 'float16'; choose one of: float32, bfloat16"):
        aekit.TrainConfig(precision="float16")


def test_progress_shows_recon_only_where_it_differs_from_loss(rng, capsys):
    x = rng.random((64, 6), dtype=np.float32)
    fit(
        Autoencoder(ModelConfig(input_dim=6, encoding_dim=2)),
        x,
        epochs=1,
        batch_size=16,
        verbose=2,
        validation_data=x[:16],
    )
    line = capsys.readouterr().err.strip()
    assert " - loss: " in line and " - val_loss: " in line and "recon" not in line  # the same term, once
    fit(
        Autoencoder(ModelConfig(input_dim=6, encoding_dim=2)),
        x,
        epochs=1,
        batch_size=16,
        verbose=2,
        validation_data=x[:16],
        l1=1e-4,
    )
    line = capsys.readouterr().err
    assert " - recon: " in line and " - val_recon: " in line and " - l1: " in line
