import json

import pytest
import torch
from safetensors.torch import save_file
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pathlib import Path

from aekit import Autoencoder, ModelConfig, load_model, save_model
from aekit.errors import ModelFileError


def _model():
    m = Autoencoder(ModelConfig(input_dim=30, encoding_dim=5, hidden=(12,), seed=3))
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.01 * torch.randn(p.shape, generator=torch.Generator().manual_seed(1)))
    return m.eval()


@pytest.mark.parametrize("target", ["folder", "model.safetensors"])
def test_save_then_load_gives_identical_outputs(tmp_path, target):
    m = _model()
    path = save_model(m, tmp_path if target == "folder" else tmp_path / target)
    assert path.suffix == ".safetensors" and not list(tmp_path.glob(".*tmp"))
    loaded = load_model(path)
    x = torch.rand(7, 30)
    assert loaded.config == m.config
    assert torch.equal(loaded(x), m(x))
    assert torch.equal(loaded.encode(x), m.encode(x))


def test_file_is_plain_safetensors_with_version_and_config(tmp_path):
    from safetensors import safe_open

    import aekit

    path = save_model(_model(), tmp_path / "m.safetensors")
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    assert meta["aekit_version"] == aekit.__version__
    assert json.loads(meta["model_config"])["encoding_dim"] == 5


def test_truncated_file_is_one_clear_error(tmp_path):
    path = save_model(_model(), tmp_path / "m.safetensors")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="truncated or damaged"):
        load_model(path)


def test_config_that_does_not_match_the_weights(tmp_path):
    m = _model()
    tensors = {k: v.contiguous() for k, v in m.state_dict().items()}
    meta = {"aekit_version": "0.1.0", "model_config": json.dumps({"input_dim": 30, "encoding_dim": 6, "hidden": [12]})}
    save_file(tensors, str(tmp_path / "bad.safetensors"), metadata=meta)
    with pytest.raises(ModelFileError, match="do not match the config"):
        load_model(tmp_path / "bad.safetensors")


def test_tampered_metadata_and_foreign_files(tmp_path):
    tensors = {"w": torch.zeros(2)}
    save_file(tensors, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(ModelFileError, match="not written by aekit"):
        load_model(tmp_path / "foreign.safetensors")
    save_file(tensors, str(tmp_path / "t.safetensors"), metadata={"model_config": "{not json"})
    with pytest.raises(ModelFileError, match="tampered"):
        load_model(tmp_path / "t.safetensors")
    save_file(tensors, str(tmp_path / "v.safetensors"), metadata={"aekit_version": "9.0.0", "model_config": "{}"})
    with pytest.raises(ModelFileError, match="aekit 9.0.0"):
        load_model(tmp_path / "v.safetensors")
    with pytest.raises(ModelFileError, match="not found"):
        load_model(tmp_path / "missing.safetensors")


@settings(max_examples=120, deadline=10000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_load_model(tmp_path, data):
    """Any damage to a model file — cut, flipped, spliced, or random bytes — is a one-line ModelFileError."""
    from aekit.errors import ModelFileError

    good = _GOOD_MODEL_FILE
    i = data.draw(st.integers(0, len(good) - 1))
    blob = data.draw(st.sampled_from([
        good[:i], good[:i] + bytes([good[i] ^ data.draw(st.integers(1, 255))]) + good[i + 1:],
        good[:i] + b"\x00\x01" + good[i:], b"",
    ]))
    path = tmp_path / "fuzz.safetensors"
    path.write_bytes(blob)
    try:
        model = load_model(path)
    except ModelFileError as e:
        assert "\n" not in str(e)
    else:  # only a change to bytes that do not matter (e.g. JSON whitespace) can load
        assert model.config.input_dim == 6


def _good_model_file() -> bytes:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        save_model(Autoencoder(ModelConfig(input_dim=6, encoding_dim=2)), Path(d) / "m.safetensors")
        return (Path(d) / "m.safetensors").read_bytes()


_GOOD_MODEL_FILE = _good_model_file()
