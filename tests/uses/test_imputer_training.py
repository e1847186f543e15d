"""aekit.uses.imputer_training: the imputer's two training phases, on scikit-learn's wine table."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_wine

from aekit.config import ModelConfig, TrainConfig
from aekit.models import Autoencoder
from aekit.objectives import masked_mse
from aekit.uses.imputer_training import _score, fit_member, predict, refit_member

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/uses/conftest.py


def _wine(seed):
    """Wine standardised with 20% of its cells missing and a tenth of the rest held out; a small network's configs."""
    x = load_wine().data
    x = (x - x.mean(0)) / x.std(0)
    r = np.random.default_rng(seed)
    obs = r.random(x.shape) >= 0.2
    held = obs & (r.random(x.shape) < 0.1)
    z = torch.from_numpy(np.where(obs, x, 0.0).astype(np.float32))
    mcfg = ModelConfig(
        input_dim=26,
        hidden=(),
        encoding_dim=24,
        activation="elu",
        code_activation="elu",
        output_activation="linear",
        seed=seed,
    )
    tcfg = TrainConfig(
        epochs=60,
        batch_size=16,
        optimizer="adam",
        lr=1e-3,
        loss="mse",
        seed=seed,
        noise="masking",
        noise_level=0.3,
        patience=10,
    )
    return z, obs, held, mcfg, tcfg


@pytest.mark.parametrize("seed", [0, 1])
def test_self_training_keeps_weights_that_fill_the_held_out_cells_at_least_as_well(seed):
    """The second phase (learning from the rows the network completed) ends with weights whose re-fed fills of the
    held-out cells are no worse than the first phase's, and its weights differ from them when it beat them."""
    z, obs, held, mcfg, tcfg = _wine(seed)
    one, (e1, _, _, s1, bests1) = fit_member(z, obs & ~held, held, mcfg, tcfg, True, False, (), "cpu")
    two, (e2, best2, _, s2, bests2) = fit_member(z, obs & ~held, held, mcfg, tcfg, True, True, (), "cpu")
    train_t, held_t = torch.from_numpy(obs & ~held), torch.from_numpy(held)
    with torch.no_grad():
        first, second = (_score(m, z, train_t, held_t, True, refed=True) for m in (one, two))
    assert s1 == 0 and e2 - s2 == e1 and 1 <= s2 <= 60 and bests1[0] == bests2[0] <= e1 and bests1[1] == 0
    assert bests2[1] == (best2 - e1 if best2 > e1 else 0)  # the second phase's best, counted from its start
    assert second <= first
    moved = any(not torch.equal(a, b) for a, b in zip(one.state_dict().values(), two.state_dict().values()))
    assert moved == (best2 > e1)


def _weights(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_refit_learns_every_cell_given_for_the_epochs_given_and_is_seeded():
    """The refit network trains on exactly the cells and epochs it is given (no early stopping), from its seed."""
    z, obs, held, mcfg, tcfg = _wine(0)
    fit = lambda cells, epochs: _weights(refit_member(z, cells, mcfg, tcfg, epochs, True, "cpu"))  # noqa: E731
    every = fit(obs, (6, 0))
    assert torch.equal(every, fit(obs, (6, 0)))  # seeded
    assert not torch.equal(every, fit(obs & ~held, (6, 0)))  # the held-out cells are learnt
    assert not torch.equal(every, fit(obs, (5, 0))) and not torch.equal(every, fit(obs, (6, 2)))
    assert not torch.equal(_weights(Autoencoder(mcfg)), fit(obs, (0, 0)))  # at least one epoch


def test_refit_learns_the_held_out_cells_the_held_out_network_never_saw():
    """Trained for the held-out network's best epochs (× 1/0.9) on every observed cell, the refit predicts the
    held-out cells (from the training cells) better than the network that never saw them: it learnt them."""
    wine = load_wine().data
    x = torch.from_numpy(((wine - wine.mean(0)) / wine.std(0)).astype(np.float32))
    for seed in (0, 1):
        z, obs, held, mcfg, tcfg = _wine(seed)
        model, run = fit_member(z, obs & ~held, held, mcfg, tcfg, True, False, (), "cpu")
        again = refit_member(z, obs, mcfg, tcfg, (round(run[4][0] / 0.9), 0), True, "cpu")
        train, held_t = torch.from_numpy(obs & ~held), torch.from_numpy(held)
        with torch.no_grad():
            unseen, learnt = (float(masked_mse(predict(m, z, train, True), x, held_t)) for m in (model, again))
        assert learnt < 0.95 * unseen
