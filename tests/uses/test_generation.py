"""Generation: sample, interpolate, the manifold grid and traversals."""

import numpy as np
import pytest
import torch

import aekit
from aekit.codes import path
from aekit.errors import ConfigError
from aekit.uses.generation import interpolate, manifold, sample, traversals


@pytest.fixture(scope="module")
def vae2():
    model = aekit.Autoencoder(aekit.configure("vae", input_dim=16, hidden=(8,), encoding_dim=2, seed=3)[0])
    return model.eval()


def test_sample_draws_decoded_prior_codes_repeatably(vae2):
    a, b = sample(vae2, 5, seed=1), sample(vae2, 5, seed=1)
    assert a.shape == (5, 16) and np.array_equal(a, b) and not np.array_equal(a, sample(vae2, 5, seed=2))
    z = torch.randn(5, 2, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert np.allclose(a, vae2.decode(z).numpy(), atol=1e-6)
    assert ((a >= 0) & (a <= 1)).all()  # a Bernoulli decoder's means


def test_interpolation_runs_between_the_two_reconstructions(vae2):
    x = np.random.default_rng(0).random((2, 16), dtype=np.float32)
    for method in ("linear", "spherical"):
        strip = interpolate(vae2, x[0], x[1], steps=6, method=method)
        with torch.no_grad():
            ends = vae2(torch.from_numpy(x)).numpy()
        assert strip.shape == (6, 16) and np.allclose(strip[[0, -1]], ends, atol=1e-5)


def test_spherical_paths_keep_the_norm_of_equal_norm_ends():
    a, b = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 3.0])
    assert torch.allclose(path(a, b, 5, "spherical").norm(dim=1), torch.full((5,), 3.0))
    assert torch.allclose(path(a, b, 3, "linear")[1], torch.tensor([1.5, 1.5]))


def test_manifold_and_traversals(vae2):
    assert manifold(vae2, 4).shape == (16, 16)
    rows, units = traversals(vae2, np.full(16, 0.5, dtype=np.float32), n=5)
    assert rows.shape == (10, 16) and sorted(units) == [0, 1]
    wide = aekit.Autoencoder(aekit.configure("vae", input_dim=16, hidden=(8,), encoding_dim=3)[0])
    with pytest.raises(ConfigError, match="the manifold grid draws a 2-D code, this one has 3"):
        manifold(wide, 4)


def test_a_plain_autoencoder_cannot_sample():
    with pytest.raises(ConfigError, match="aekit sample needs a generative model"):
        sample(aekit.Autoencoder(aekit.ModelConfig(input_dim=16, encoding_dim=2)), 3)


@pytest.mark.parametrize(
    "draw, fix",
    [
        (lambda m, x: sample(m, 10**12), "draw fewer rows"),
        (lambda m, x: manifold(m, 10**6), "draw a smaller grid"),
        (lambda m, x: interpolate(m, x[0], x[1], steps=10**12), "pass fewer steps"),
    ],
    ids=["sample", "manifold", "interpolate"],
)
def test_more_rows_than_memory_holds_are_refused_before_any_is_drawn(vae2, draw, fix):
    x = np.random.default_rng(0).random((2, 16), dtype=np.float32)  # the allocator's RuntimeError, a traceback
    with pytest.raises(ConfigError, match=rf"1,000,000,000,000 rows need about 134,110.5 GiB of memory, .*; {fix}$"):
        draw(vae2, x)
