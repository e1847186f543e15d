"""Memory: a model too large is refused before anything is allocated; an allocation that fails is one line."""

import pytest
import torch
from aekit_subprocess import modules_after

from aekit import Autoencoder, ModelConfig, configure
from aekit.errors import ConfigError, TrainingError
from aekit.training.memory import check_memory, memory_errors, model_size, needed_bytes


@pytest.mark.parametrize("kind", ["undercomplete", "deep", "conv"])
def test_model_size_counts_the_real_parameters(kind):
    model_cfg, _ = configure(kind)
    params, values = model_size(model_cfg, batch_size=4)
    assert params == sum(p.numel() for p in Autoencoder(model_cfg).parameters())
    assert values > 4 * (784 + model_cfg.encoding_dim)  # at least the input-sized output and the code, per row


@pytest.mark.parametrize("kind", ["undercomplete", "deep", "vae", "sparse-kl", "vq-vae"])
def test_a_dense_models_outputs_are_counted_as_its_forward_pass_on_the_meta_device_counts_them(kind):
    from aekit.training.memory import _dense_widths, _meta_outputs

    model_cfg, _ = configure(kind)
    with torch.device("meta"):
        model = Autoencoder(model_cfg)
    assert _dense_widths(model) is not None
    assert model_size(model_cfg, batch_size=8)[1] == _meta_outputs(model, model_cfg, 8)


def test_sizing_a_dense_model_imports_no_dynamo():
    code = "import aekit\nfrom aekit.training.memory import needed_bytes as n\nn(aekit.ModelConfig(hidden=(64,)), 256)"
    assert modules_after(code, "torch._dynamo") == []


def test_a_model_too_large_is_refused_with_its_size_before_anything_is_allocated():
    huge = ModelConfig(hidden=(20_000_000,))
    need, params = needed_bytes(huge, 256)
    assert params == 32_680_000_816 and need > 16 * params
    with pytest.raises(
        ConfigError,
        match=r"the model has 32,680,000,816 parameters and needs about [\d,.]+ GiB .* "
        r"is available; choose smaller hidden sizes",
    ):
        check_memory(huge, 256)
    check_memory(ModelConfig(), 256)  # the tutorial's model fits


def test_a_codebook_too_large_is_refused_by_its_size_and_named():
    from aekit.config import replace

    vq = replace(configure("vq-vae", input_dim=6)[0], codebook_size=10**9)  # 17e9 buffer values: not counted before
    need, _ = needed_bytes(vq, 36)  # (the allocator failed building it: "needs about 0.0 GiB")
    assert need > 4 * 17 * 10**9
    with pytest.raises(
        ConfigError, match=r"needs about 63\.\d GiB .*, or a smaller batch_size, or a smaller codebook_size$"
    ):
        check_memory(vq, 36)


def test_an_allocation_that_fails_becomes_one_training_error_with_the_size():
    with pytest.raises(
        TrainingError,
        match=r"out of memory \(tried to allocate 1,048,576\.0 GiB\); the model has "
        r"50,992 parameters and needs about",
    ):
        with memory_errors(ModelConfig(), 256):
            torch.empty(2**50, dtype=torch.uint8)  # the CPU allocator's own failure
    with pytest.raises(TrainingError, match=r"out of memory on cuda:0 \(tried to allocate 20\.00 GiB\)"):
        with memory_errors(ModelConfig(), 256, device="cuda:0"):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB (GPU 0; 79.1 GiB total)")
    with pytest.raises(RuntimeError, match="something else"):
        with memory_errors(ModelConfig(), 256):
            raise RuntimeError("something else")
