"""The checks at the door of aekit.uses' functions that run a model over rows in batches."""

import numpy as np
import pytest

import aekit
from aekit.errors import ConfigError

USES = {
    "encode": lambda m, x, b: aekit.encode(m, x, batch_size=b),
    "decode": lambda m, x, b: aekit.decode(m, x[:, :2], batch_size=b),
    "reconstruct": lambda m, x, b: aekit.reconstruct(m, x, batch_size=b),
    "features": lambda m, x, b: aekit.features(m, x, batch_size=b),
    "anomaly": lambda m, x, b: aekit.anomaly(m, x, contamination=0.2, batch_size=b),
    "denoise": lambda m, x, b: aekit.denoise(m, x, noise="gaussian", noise_level=0.1, batch_size=b),
}


@pytest.mark.parametrize("batch_size", [0, -1, 2.5])
@pytest.mark.parametrize("use", list(USES))
def test_a_batch_size_below_one_or_not_whole_is_refused(use, batch_size):
    model = aekit.Autoencoder(aekit.ModelConfig(input_dim=4, encoding_dim=2))
    rows = np.random.default_rng(0).random((6, 4)).astype(np.float32)
    with pytest.raises(ConfigError, match=f"batch_size must be a positive integer, got {batch_size}; pass a whole"):
        USES[use](model, rows, batch_size)
