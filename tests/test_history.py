"""History: Keras' per-epoch values, and which of its keys are worth showing."""

import pytest

from aekit.history import History, shown_keys


@pytest.mark.parametrize(
    "keys, shown",
    [
        (["loss", "recon", "val_loss", "val_recon", "epoch_time"], ["loss", "val_loss", "epoch_time"]),  # loss is recon
        (
            ["loss", "recon", "l1", "val_loss", "val_recon", "val_l1"],
            ["loss", "recon", "l1", "val_loss", "val_recon", "val_l1"],
        ),
        (["loss", "recon", "kl"], ["loss", "recon", "kl"]),
        (["loss", "val_rmse"], ["loss", "val_rmse"]),  # impute's history: no recon at all
    ],
)
def test_recon_is_shown_only_beside_other_terms(keys, shown):
    assert shown_keys(keys) == shown
    assert shown_keys({k: [1.0] for k in keys}) == shown  # a history mapping, as the plots pass it


def test_history_round_trips_through_a_dict():
    h = History()
    h.append(1, {"loss": 0.5, "recon": 0.5})
    assert History.from_dict(h.to_dict()).history == {"loss": [0.5], "recon": [0.5]}
