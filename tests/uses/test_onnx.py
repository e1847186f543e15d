import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from aekit_subprocess import aekit_cli

import aekit
from aekit import Autoencoder, ModelConfig, ModelFileError
from aekit.uses.onnx import export_onnx

ATOL = 1e-5


def _trained(config, x):
    model = Autoencoder(config)
    noise = {"noise": "mixed", "noise_level": 0.6} if config.skip else {}  # a denoiser trains on noise
    aekit.fit(model, x, epochs=1, batch_size=64, verbose=0, **noise)  # real, non-initial weights
    return model.eval()


def _run(path, name, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {name: x})[0]


KINDS = {
    "dense": ModelConfig(),  # the tutorial's 784 → 32 → 784
    "deep": ModelConfig(hidden=(128, 64), activation="tanh", code_activation="linear"),
    "denoising-conv": aekit.configure("denoising-conv")[0],  # its decoder also sees the input, added to its output
    # the input joins the output (input − noise estimate): the autoencoder graph must pass it on
    "full-resolution": ModelConfig(
        architecture="conv",
        image_shape=(1, 28, 28),
        hidden=(4,),
        encoding_dim=4 * 784,
        full_resolution=True,
        output_activation="linear",
    ),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_onnx_graphs_match_pytorch(tmp_path, mnist_small, kind):
    x_train, _, x_test, _ = mnist_small
    model = _trained(KINDS[kind], x_train[:512]).train()
    paths = export_onnx(model, tmp_path / "onnx")
    assert model.training  # export leaves the model's mode as it was
    model.eval()
    assert {k: p.name for k, p in paths.items()} == {
        "encoder": "encoder.onnx",
        "decoder": "decoder.onnx",
        "autoencoder": "autoencoder.onnx",
    }
    assert sorted(p.name for p in (tmp_path / "onnx").iterdir()) == ["autoencoder.onnx", "decoder.onnx", "encoder.onnx"]
    with torch.no_grad():
        for n in (1, 7, 300):  # any batch size, including ones the exporter never saw
            x = x_test[:n]
            xt = torch.from_numpy(x)
            codes = model.encode(xt).numpy()
            np.testing.assert_allclose(_run(paths["encoder"], "x", x), codes, rtol=0, atol=ATOL)
            np.testing.assert_allclose(
                _run(paths["decoder"], "code", codes), model.decode(torch.from_numpy(codes)).numpy(), rtol=0, atol=ATOL
            )
            np.testing.assert_allclose(_run(paths["autoencoder"], "x", x), model(xt).numpy(), rtol=0, atol=ATOL)
    for part, path in paths.items():
        proto = onnx.load(str(path))
        onnx.checker.check_model(proto)
        meta = {p.key: p.value for p in proto.metadata_props}
        assert meta["part"] == part and meta["aekit_version"] == aekit.__version__
        assert ModelConfig(**json.loads(meta["model_config"])) == model.config
        dim0 = proto.graph.input[0].type.tensor_type.shape.dim[0]
        assert dim0.dim_param and not dim0.dim_value  # a symbolic (dynamic) batch axis


def test_onnx_graphs_of_a_scaled_model_work_in_the_users_units(tmp_path, rng):
    x = (rng.normal(size=(200, 5)) * [1.0, 300.0, 0.01, 5.0, 0.0] + [0.0, 1000.0, -2.0, 40.0, 3.0]).astype(np.float32)
    model = Autoencoder(ModelConfig(input_dim=5, encoding_dim=2, scale="standard", output_activation="linear"))
    aekit.fit(model, x, loss="mse", epochs=2, batch_size=50, verbose=0)
    paths = export_onnx(model.eval(), tmp_path / "onnx")
    codes = model.encode(x)  # NumPy in, NumPy out, raw rows
    np.testing.assert_allclose(_run(paths["encoder"], "x", x), codes, rtol=1e-5, atol=ATOL)
    recon = _run(paths["autoencoder"], "x", x)
    np.testing.assert_allclose(recon, model.predict(x), rtol=1e-5, atol=1e-3)
    assert abs(float(recon[:, 1].mean()) - 1000.0) < 300.0  # in the column's units (mean 1000, sd 300), not near 0
    np.testing.assert_allclose(_run(paths["decoder"], "code", codes), model.decode(codes), rtol=1e-5, atol=1e-3)


def _cli(*args, cwd):
    return aekit_cli(*args, cwd=cwd)


def test_export_command_on_a_run_folder(tmp_path):
    run = aekit.train(
        ModelConfig(hidden=(64,)),
        aekit.TrainConfig(epochs=1),
        limit=300,
        out=tmp_path / "run",
        tensorboard=False,
        verbose=0,
    )
    r = _cli("export", str(run.path), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = run.path / "onnx"
    assert r.stdout.splitlines() == [f"{p}: {out / (p + '.onnx')}" for p in ("encoder", "decoder", "autoencoder")]
    model = aekit.load_model(run.path)
    x = np.random.default_rng(0).random((4, 784), dtype=np.float32)
    with torch.no_grad():
        np.testing.assert_allclose(
            _run(out / "autoencoder.onnx", "x", x), model(torch.from_numpy(x)).numpy(), rtol=0, atol=ATOL
        )

    r = _cli("export", str(tmp_path / "missing"), cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.startswith("aekit: error: ") and r.stderr.count("\n") == 1
    assert not (tmp_path / "missing").exists()


def test_export_of_a_damaged_file_writes_nothing(tmp_path):
    path = aekit.save_model(Autoencoder(ModelConfig(input_dim=12, encoding_dim=3)), tmp_path / "m.safetensors")
    data = bytearray(path.read_bytes())
    data[-2] ^= 0x04
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="checksum mismatch"):
        aekit.uses.onnx.export(path)
    assert not (tmp_path / "m-onnx").exists()


def test_a_vae_exports_its_posterior_mean_and_log_variance(tmp_path):
    model = Autoencoder(aekit.configure("vae", input_dim=16, hidden=(8,), encoding_dim=3, seed=2)[0]).eval()
    paths = export_onnx(model, tmp_path)
    x = np.random.default_rng(0).random((5, 16), dtype=np.float32)
    with torch.no_grad():
        mu, logvar = model.latent.stats(model.encoder(torch.from_numpy(x)))
    got = _run(paths["posterior"], "x", x)
    assert np.allclose(got, torch.cat([mu, logvar], 1).numpy(), atol=ATOL)
    assert np.allclose(_run(paths["encoder"], "x", x), mu.numpy(), atol=ATOL)
