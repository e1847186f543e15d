"""The generative kinds in training: resume is bitwise (the run's generator draws the noise), and a VQ-VAE's codebook
is checkpointed with its moving averages."""

import numpy as np
import pytest
import torch

import aekit
from aekit.config import replace
from aekit.training.callbacks.stopping import Checkpoint
from aekit.training.checkpoint import LAST, load_checkpoint


@pytest.mark.parametrize(
    "kind, extra", [("vae", {"kl_warmup": 3, "binarize": "dynamic"}), ("vae", {"iw_samples": 3}), ("vq-vae", {})]
)
def test_resume_is_bitwise(tmp_path, kind, extra):
    x = np.random.default_rng(0).random((96, 16), dtype=np.float32)
    m, t = aekit.configure(
        kind,
        input_dim=16,
        hidden=(8,),
        encoding_dim=4,
        codebook_size=16,
        codebook_dim=2,
        epochs=4,
        batch_size=32,
        seed=5,
        **extra,
    )
    straight = aekit.Autoencoder(m)
    torch.manual_seed(0)
    h1 = aekit.fit(straight, x, config=t, validation_data=x[:32], verbose=0)
    torch.manual_seed(0)
    half = aekit.Autoencoder(m)
    aekit.fit(half, x, config=replace(t, epochs=2), validation_data=x[:32], verbose=0, callbacks=[Checkpoint(tmp_path)])
    state, _ = load_checkpoint(tmp_path / LAST)
    state.config = t
    h2 = aekit.fit(state.model, x, config=t, validation_data=x[:32], verbose=0, state=state)
    a, b = straight.state_dict(), state.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert h1.history["val_loss"] == h2.history["val_loss"]
