import json

import pytest
import torch
from aekit_subprocess import aekit_cli
from safetensors.torch import save_file

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


# --------------------------------------------------------------------------- safety and integrity
import os  # noqa: E402
import pickle  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from safetensors import safe_open  # noqa: E402

import aekit  # noqa: E402

_EVENTS: list[str] | None = None  # audit events recorded while not None
_WATCHED = (
    "pickle.find_class",
    "exec",
    "compile",
    "marshal.loads",
    "os.system",
    "subprocess.Popen",
    "os.exec",
    "os.posix_spawn",
)


def _audit(event, args):
    if _EVENTS is not None and event in _WATCHED:
        _EVENTS.append(event)


sys.addaudithook(_audit)


def _load_watched(path):
    """load_model(path) while recording every unpickling, exec/eval/compile and process-spawn event."""
    global _EVENTS
    _EVENTS = []
    try:
        return load_model(path)
    finally:
        events, _EVENTS = _EVENTS, None
        assert events == [], f"loading {path} ran {events}"


class _Evil:
    def __init__(self, sentinel):
        self.sentinel = sentinel

    def __reduce__(self):
        return os.system, (f"touch {self.sentinel}",)


def _rewrite(path, out, **meta_changes):
    """Copy an aekit file with some metadata keys changed (None removes one); the tensors are untouched."""
    with safe_open(str(path), "pt") as f:
        meta, tensors = dict(f.metadata()), {k: f.get_tensor(k) for k in f.keys()}
    for k, v in meta_changes.items():
        meta.pop(k) if v is None else meta.__setitem__(k, v)
    save_file(tensors, str(out), metadata=meta)
    return out


def test_loading_never_unpickles_nor_runs_code(tmp_path):
    sentinel = tmp_path / "pwned"
    good = save_model(_model(), tmp_path / "good.safetensors")
    load_model(good)  # warm up lazy imports outside the watch
    assert _load_watched(good).config == _model().config

    # a torch.save / pickle file named .safetensors whose payload would create `sentinel`
    torch.save({"w": torch.zeros(2), "evil": _Evil(sentinel)}, tmp_path / "pickled.safetensors")
    with open(tmp_path / "raw.safetensors", "wb") as f:
        pickle.dump(_Evil(sentinel), f)
    # a real safetensors file whose metadata holds a pickle payload or a Python expression
    payloads = {
        "pickle0": pickle.dumps(_Evil(sentinel), protocol=0).decode("latin-1"),
        "expr": f"__import__('os').system('touch {sentinel}')",
        "lambda": f"(lambda: __import__('os').system('touch {sentinel}'))()",
    }
    files = [tmp_path / "pickled.safetensors", tmp_path / "raw.safetensors"]
    for name, payload in payloads.items():
        files.append(_rewrite(good, tmp_path / f"{name}.safetensors", model_config=payload, sha256=None))
        files.append(_rewrite(good, tmp_path / f"{name}-v.safetensors", aekit_version=payload))
    for path in files:
        try:
            _load_watched(path)
        except ModelFileError:
            pass
        assert not sentinel.exists(), f"{path.name} ran its payload"
    # the payload is live: unpickling it on purpose does create the sentinel (so the test can fail)
    pickle.loads(pickle.dumps(_Evil(sentinel)))
    assert sentinel.exists()


def test_every_single_bit_flip_is_caught_or_harmless(tmp_path):
    m = Autoencoder(ModelConfig(input_dim=4, encoding_dim=2, seed=3))
    data = save_model(m, tmp_path / "m.safetensors").read_bytes()
    ref = {k: v.clone() for k, v in m.state_dict().items()}
    caught = harmless = 0
    for i in range(len(data)):
        flipped = bytearray(data)
        flipped[i] ^= 1 << (i % 8)
        path = tmp_path / "f.safetensors"
        path.write_bytes(bytes(flipped))
        try:
            loaded = load_model(path)
        except ModelFileError:
            caught += 1
            continue
        # what loads is exactly the saved model (the flip hit a harmless spot such as the format tag)
        assert loaded.config == m.config, f"byte {i}"
        assert all(torch.equal(v, ref[k]) for k, v in loaded.state_dict().items()), f"byte {i}"
        harmless += 1
    assert caught > 0.9 * len(data) and caught + harmless == len(data)


def test_bit_flip_in_the_weights_is_a_checksum_error(tmp_path):
    path = save_model(_model(), tmp_path / "m.safetensors")
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x10  # inside the last tensor
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="checksum mismatch.*damaged or edited"):
        load_model(path)


def test_run_folder_whose_config_does_not_match_the_weights(tmp_path):
    m = _model()
    save_model(m, tmp_path)
    cfg = {"aekit_version": aekit.__version__, "model": aekit.config.to_dict(m.config)}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    assert load_model(tmp_path).config == m.config
    for field, value in (("activation", "tanh"), ("encoding_dim", 6)):
        (tmp_path / "config.json").write_text(json.dumps({**cfg, "model": {**cfg["model"], field: value}}))
        with pytest.raises(ModelFileError, match=f"disagree on {field}; keep config.json and model.safetensors"):
            load_model(tmp_path)
    # an older file without the config in its metadata: the shapes still have to match
    _rewrite(tmp_path / "model.safetensors", tmp_path / "model.safetensors", model_config=None, sha256=None)
    with pytest.raises(
        ModelFileError, match=r"do not match the config \(.*encoder.2.weight is \(5, 12\) not \(6, 12\)"
    ):
        load_model(tmp_path)
    (tmp_path / "config.json").write_text("[1, 2]")
    with pytest.raises(ModelFileError, match="not a JSON object"):
        load_model(tmp_path)


def test_a_run_that_has_not_finished_says_to_resume_it(tmp_path):
    import numpy as np

    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((20, 4), dtype=np.float32))
    aekit.train(aekit.ModelConfig(encoding_dim=2), aekit.TrainConfig(epochs=1), data=str(tmp_path / "x.npy"),
                out=tmp_path / "run", verbose=0, tensorboard=False)  # fmt: skip
    (tmp_path / "run" / "model.safetensors").unlink()  # as a run killed after its first epoch leaves it
    with pytest.raises(
        ModelFileError, match=r"run/model.safetensors: not there, the run has not finished .* `aekit train --resume "
    ):  # it said "model file not found; pass a run folder"
        load_model(tmp_path / "run")
    assert load_model(tmp_path / "run" / "checkpoint" / "best.safetensors").config.encoding_dim == 2


def test_other_versions(tmp_path):
    good = save_model(_model(), tmp_path / "m.safetensors")
    x = torch.rand(3, 30)
    for version in ("0.0.9", "0.2.0", "0.1.7.dev3"):  # same major: loads, same outputs
        other = _rewrite(good, tmp_path / f"{version}.safetensors", aekit_version=version)
        assert torch.equal(load_model(other)(x), _model()(x))
    old = _rewrite(good, tmp_path / "old.safetensors", sha256=None)  # written before the checksum existed
    assert load_model(old).config == _model().config
    major = _rewrite(good, tmp_path / "major.safetensors", aekit_version="1.0.0")
    with pytest.raises(ModelFileError, match="written by aekit 1.0.0.*install aekit 1.x"):
        load_model(major)
    cfg = json.loads(safe_open(str(good), "pt").metadata()["model_config"])
    newer = _rewrite(
        good,
        tmp_path / "newer.safetensors",
        aekit_version="0.9.0",
        sha256=None,
        model_config=json.dumps({**cfg, "dropout": 0.5}),
    )
    with pytest.raises(
        ModelFileError, match="unknown ModelConfig field.*dropout.*written by aekit 0.9.0.*upgrade aekit"
    ):
        load_model(newer)


def test_wrong_dtype_and_oversized_config_are_refused(tmp_path):
    m = _model()
    tensors = {k: v.double().contiguous() for k, v in m.state_dict().items()}
    meta = {"aekit_version": "0.1.0", "model_config": json.dumps(aekit.config.to_dict(m.config))}
    save_file(tensors, str(tmp_path / "f64.safetensors"), metadata=meta)
    with pytest.raises(ModelFileError, match="are not float32"):
        load_model(tmp_path / "f64.safetensors")
    # a config asking for ~8 TB of weights is refused by its shapes, without allocating them
    huge = {"model_config": json.dumps({"input_dim": 30, "encoding_dim": 10**6, "hidden": [10**6]})}
    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, str(tmp_path / "huge.safetensors"), metadata=huge)
    with pytest.raises(ModelFileError, match="do not match the config"):
        load_model(tmp_path / "huge.safetensors")


def _cli(*args, cwd):
    return aekit_cli(*args, cwd=cwd)


def test_summary_of_a_single_file_and_of_a_damaged_one(tmp_path):
    path = save_model(_model(), tmp_path / "m.safetensors")
    r = _cli("summary", str(path), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Total params: 899" in r.stdout and "encoder.0 (Linear)" in r.stdout
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x01
    path.write_bytes(bytes(data))
    r = _cli("summary", str(path), cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("aekit: error: ") and "checksum mismatch" in r.stderr


# --------------------------------------------------------------------------- fuzz: cut, spliced, changed files
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=120, deadline=10000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_load_model(tmp_path, data):
    """Any damage to a model file (cut, byte changed, bytes spliced in, empty) is a one-line ModelFileError."""
    good = _GOOD_MODEL_FILE
    i = data.draw(st.integers(0, len(good) - 1))
    blob = data.draw(
        st.sampled_from(
            [
                good[:i],
                good[:i] + bytes([good[i] ^ data.draw(st.integers(1, 255))]) + good[i + 1 :],
                good[:i] + b"\x00\x01" + good[i:],
                b"",
            ]
        )
    )
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


@pytest.mark.parametrize(
    "name, written",
    [
        ("ae.safetensors", "ae.safetensors"),
        ("ae", "ae/model.safetensors"),
        ("existing.v2", "existing.v2/model.safetensors"),
    ],
)
def test_save_model_writes_a_file_or_into_a_folder(tmp_path, name, written):
    (tmp_path / "existing.v2").mkdir()
    assert save_model(_model(), tmp_path / name) == tmp_path / written
    assert load_model(tmp_path / written).config == _model().config


@pytest.mark.parametrize("name", ["ae.h5", "ae.keras", "ae.pt"])
def test_save_model_refuses_another_format_s_suffix(tmp_path, name):
    from aekit.errors import ConfigError

    with pytest.raises(
        ConfigError,
        match=rf"{name}: aekit saves models as safetensors, not \.\w+ files; name the file "
        r"ae\.safetensors, or pass a folder name without a suffix",
    ):
        save_model(_model(), tmp_path / name)
    assert not list(tmp_path.iterdir())


def test_a_training_checkpoint_is_not_taken_for_a_model_file(tmp_path):
    import numpy as np

    from aekit import Checkpoint, TrainConfig, fit

    x = np.random.default_rng(0).random((32, 30), dtype=np.float32)
    fit(
        _model(),
        x,
        None,
        TrainConfig(epochs=1, batch_size=16),
        validation_data=x,
        verbose=0,
        callbacks=[Checkpoint(tmp_path / "run" / "checkpoint")],
    )
    last = tmp_path / "run" / "checkpoint" / "last.safetensors"
    with pytest.raises(
        ModelFileError,
        match=r"last.safetensors: is a training checkpoint, not a model file; pass "
        r"the run folder .*run \(or .*run/checkpoint/best.safetensors, the best "
        r"epoch's model\), or continue training with `aekit train --resume ",
    ):
        load_model(last)
    assert load_model(tmp_path / "run" / "checkpoint" / "best.safetensors").config == _model().config
    (tmp_path / "elsewhere.safetensors").write_bytes(last.read_bytes())
    with pytest.raises(ModelFileError, match="is a training checkpoint, not a model file; pass its run folder"):
        load_model(tmp_path / "elsewhere.safetensors")


@pytest.mark.parametrize("path", [None, 3])
def test_load_model_of_a_path_that_is_not_one_names_the_fix(path):
    with pytest.raises(ModelFileError, match="the path must be a str or a Path, got .*; pass a run folder or a"):
        load_model(path)


def test_save_model_of_something_else_than_a_model_names_the_fix(tmp_path):
    with pytest.raises(aekit.ConfigError, match="model must be an Autoencoder, got NoneType; pass the Autoencoder"):
        save_model(None, tmp_path / "m.safetensors")
    assert not (tmp_path / "m.safetensors").exists()
