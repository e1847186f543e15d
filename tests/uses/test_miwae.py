"""aekit.uses.miwae (MIWAE, Mattei & Frellsen 2019) and `impute(..., variational=True)`, on generated tables."""

import numpy as np
import pytest
import torch

from aekit.uses import miwae
from aekit.uses.imputation import impute
from aekit.uses.linear_blend import WEIGHTS

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/uses/conftest.py


def low_rank(rows=200, columns=6, seed=0):
    r = np.random.default_rng(seed)
    truth = np.tanh(r.normal(size=(rows, 2)) @ r.normal(size=(2, columns))) + 0.05 * r.normal(size=(rows, columns))
    truth = (truth - truth.mean(0)) / truth.std(0)
    hidden = r.random(truth.shape) < 0.2
    return truth, hidden


def tensors(truth, hidden):
    z = torch.tensor(np.where(hidden, 0.0, truth), dtype=torch.float32)
    return z, torch.from_numpy(~hidden)


def test_the_bound_and_the_fills_read_the_observed_cells_only():
    truth, hidden = low_rank(rows=30)
    z, seen = tensors(truth, hidden)
    torch.manual_seed(0)
    model = miwae.Miwae(6, latent=2, width=16)
    moved = torch.where(seen, z, z + 7.0)  # other values in the unseen cells
    for values in (z, moved):
        logw, loc = model.log_weights(values, seen, 5, torch.Generator().manual_seed(1))
        assert logw.shape == (5, 30) and loc.shape == (5, 30, 6)
    a = model.log_weights(z, seen, 5, torch.Generator().manual_seed(1))[0]
    assert torch.equal(a, model.log_weights(moved, seen, 5, torch.Generator().manual_seed(1))[0])
    assert torch.equal(miwae.fill(model, z, seen, seed=3, draws=50), miwae.fill(model, moved, seen, seed=3, draws=50))


def test_fill_is_the_importance_weighted_mean_of_the_decoders_locations():
    truth, hidden = low_rank(rows=10)
    z, seen = tensors(truth, hidden)
    torch.manual_seed(0)
    model = miwae.Miwae(6, latent=2, width=16)
    logw, loc = model.log_weights(z, seen, 40, torch.Generator().manual_seed(4))
    expected = (torch.softmax(logw, 0).unsqueeze(-1) * loc).sum(0)
    assert torch.allclose(miwae.fill(model, z, seen, seed=4, draws=40), expected)
    first = miwae.fill(model, z, seen, seed=4, draws=40, chunk=3)  # rows in chunks: draws differ, same shape
    assert first.shape == (10, 6) and torch.isfinite(first).all()


def test_a_trained_miwae_fills_far_better_than_the_mean_and_is_seeded():
    truth, hidden = low_rank()
    z, seen = tensors(truth, hidden)
    held = seen & (torch.rand(seen.shape, generator=torch.Generator().manual_seed(2)) < 0.1)
    model = miwae.fit(z, seen & ~held, held, seed=1, epochs=150)
    filled = miwae.fill(model, z, seen, seed=1, draws=200).numpy()
    rmse = float(np.sqrt(np.mean((filled - truth)[hidden] ** 2)))
    assert rmse < 0.4  # the column mean's RMSE is about 1 (standardised columns); an untrained one: 0.98
    again = miwae.fill(miwae.fit(z, seen & ~held, held, seed=1, epochs=150), z, seen, seed=1, draws=200).numpy()
    assert np.array_equal(filled, again)


def test_impute_blends_the_variational_member_per_column_and_keeps_observed_cells():
    truth, hidden = low_rank(rows=120)
    gappy = np.where(hidden, np.nan, truth)
    kw = dict(epochs=40, members=2, seed=3, return_info=True)
    (plain, off), (blended, on) = (impute(gappy, variational=flag, **kw) for flag in (False, True))
    assert off.variational_weights == () and len(on.variational_weights) == 6
    assert set(on.variational_weights) <= set(WEIGHTS)
    assert np.array_equal(blended[~hidden], gappy[~hidden]) and not np.isnan(blended).any()
    assert np.array_equal(blended, impute(gappy, variational=True, **kw)[0])  # seeded: the same table twice
    assert np.array_equal(plain, impute(gappy, epochs=40, members=2, seed=3))  # off by default: as before
    share = np.asarray(on.variational_weights)
    moved = ~np.isclose(blended, plain)
    assert not moved[:, share == 0].any() and moved[:, share > 0].any()  # share 0: the networks' fills
