"""aekit.uses.imputer_training: the imputer's two training phases, on scikit-learn's wine table."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_wine

from aekit.config import ModelConfig, TrainConfig
from aekit.uses.imputer_training import _score, fit_member

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/uses/conftest.py


@pytest.mark.parametrize("seed", [0, 1])
def test_self_training_keeps_weights_that_fill_the_held_out_cells_at_least_as_well(seed):
    """The second phase (learning from the rows the network completed) ends with weights whose re-fed fills of the
    held-out cells are no worse than the first phase's, and its weights differ from them when it beat them."""
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
    one, (e1, _, _, s1) = fit_member(z, obs & ~held, held, mcfg, tcfg, True, False, (), "cpu")
    two, (e2, best2, _, s2) = fit_member(z, obs & ~held, held, mcfg, tcfg, True, True, (), "cpu")
    train_t, held_t = torch.from_numpy(obs & ~held), torch.from_numpy(held)
    with torch.no_grad():
        first, second = (_score(m, z, train_t, held_t, True, refed=True) for m in (one, two))
    assert s1 == 0 and e2 - s2 == e1 and 1 <= s2 <= 60
    assert second <= first
    moved = any(not torch.equal(a, b) for a, b in zip(one.state_dict().values(), two.state_dict().values()))
    assert moved == (best2 > e1)
