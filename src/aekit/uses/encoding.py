"""Dimension reduction: the code of every row (`aekit encode`), a 2-D map of the codes, and how the codes
compare with PCA at the same number of dimensions.

>>> import numpy as np, aekit
>>> from aekit.encode import encode
>>> codes = encode(aekit.Autoencoder(aekit.ModelConfig(input_dim=4, encoding_dim=2)), np.ones((3, 4)))
>>> codes.shape
(3, 2)
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from aekit.devices import device_of
from aekit.errors import ConfigError, DataError
from aekit.models import Autoencoder
from aekit.uses.inputs import as_input, batched, load_any_model


def encode(model: Autoencoder | str | os.PathLike, x: Any, *, batch_size: int = 4096,
           device: str | torch.device | None = None) -> np.ndarray:
    """The code of every row of `x`: shape (n, encoding_dim), float32, on the host.

    `model` is an Autoencoder, a run folder or a .safetensors file. `device` ('auto', 'cpu', 'cuda', …; default None:
    where the model is, the CPU for a file) runs it; `x` may already be a tensor on that device.
    """
    model, _ = load_any_model(model, device)
    return batched(model.encode, as_input(model, x, keep_memmap=True), batch_size, device_of(model))


def reconstruct(model: Autoencoder | str | os.PathLike, x: Any, *, batch_size: int = 4096,
                device: str | torch.device | None = None) -> np.ndarray:
    """The model's reconstruction of every row of `x`: shape (n, input_dim), float32; `device` as in `encode`."""
    model, _ = load_any_model(model, device)
    return batched(model, as_input(model, x, keep_memmap=True), batch_size, device_of(model))


def code_plot(codes: Any, labels: Any = None, *, method: str = "auto", limit: int | None = 5000, seed: int = 0,
              title: str | None = None):
    """A 2-D map of `codes` (a Figure): drawn directly for a 2-unit code, else projected by PCA or t-SNE.

    At most `limit` rows (the first ones) are drawn, since t-SNE of 10,000 points takes minutes.
    """
    codes = np.asarray(codes)
    if limit is not None:
        codes = codes[:limit]
        labels = None if labels is None else np.asarray(labels)[:limit]
    from aekit.reporting.plots import code_map

    fig, _ = code_map(codes, labels, method=method, random_state=seed, title=title)
    return fig


def knn_accuracy(train_codes: Any, train_labels: Any, test_codes: Any, test_labels: Any, *, k: int = 5) -> float:
    """Accuracy of a k-nearest-neighbour classifier (Euclidean) fit on train codes, scored on test codes."""
    from sklearn.neighbors import KNeighborsClassifier

    if len(train_codes) < k:
        raise DataError(f"k-NN with k={k} needs at least {k} training rows, got {len(train_codes)}")
    clf = KNeighborsClassifier(n_neighbors=k).fit(np.asarray(train_codes), np.asarray(train_labels))
    return float(clf.score(np.asarray(test_codes), np.asarray(test_labels)))


def pca_baseline(x_train: Any, x_test: Any, n_components: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PCA with `n_components` fit on `x_train`: (train codes, test codes, test reconstructions)."""
    from sklearn.decomposition import PCA

    if n_components < 1:
        raise ConfigError(f"n_components must be ≥ 1, got {n_components}")
    pca = PCA(n_components=n_components, random_state=seed).fit(np.asarray(x_train))
    test_codes = pca.transform(np.asarray(x_test))
    return pca.transform(np.asarray(x_train)), test_codes, pca.inverse_transform(test_codes)


def reconstruction_mse(x: Any, recon: Any) -> float:
    """Mean squared error over every value."""
    return float(np.mean((np.asarray(x, dtype=np.float64) - np.asarray(recon, dtype=np.float64)) ** 2))


__all__ = ["encode", "reconstruct", "code_plot", "knn_accuracy", "pca_baseline", "reconstruction_mse"]
