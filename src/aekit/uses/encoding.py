"""Dimension reduction: the code of every row (`aekit encode`), a 2-D map of the codes, and how the codes
compare with PCA at the same number of dimensions.

>>> import numpy as np, aekit
>>> model = aekit.Autoencoder(aekit.ModelConfig(input_dim=4, encoding_dim=2))
>>> codes = aekit.encode(model, np.ones((3, 4)))
>>> codes.shape, aekit.decode(model, codes).shape
((3, 2), (3, 4))

`encode`, `decode` and `reconstruct` take a model, a run folder or a .safetensors file, and rows in the user's
units (NumPy, a list, a tensor or a memmap: any real dtype, cast to float32 value for value), and return float32
NumPy arrays in the user's units (a model with an input scaler applies it inside).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aekit.devices import device_of
from aekit.errors import ConfigError, DataError
from aekit.models import Autoencoder
from aekit.uses.inputs import as_input, batched, load_any_model


def encode(
    model: Autoencoder | str | os.PathLike,
    x: Any,
    *,
    batch_size: int = 4096,
    device: str | torch.device | None = None,
    labels: Any = None,
) -> np.ndarray:
    """The code of every row of `x`: shape (n, encoding_dim), float32 (a VAE: the means μ; a VQ-VAE: the codebook
    index of each code vector, int64). A cvae needs the rows' class `labels`.

    `model` is an Autoencoder, a run folder or a .safetensors file. `device` ('auto', 'cpu', 'cuda', …; default None:
    where the model is, the CPU for a file) runs it; `x` may already be a tensor on that device.
    """
    model, _ = load_any_model(model, device)
    model.eval()
    rows = as_input(model, x, keep_memmap=True, check=False)
    on = device_of(model)
    with model.conditioned(_per_row(labels, rows), stream=True):  # batched reads the rows in order, block by block
        if model.config.code == "categorical":  # a VQ-VAE's code: the codebook index of each code vector
            return batched(
                lambda xb: model.latent.indices(model.encoder(model.scale_rows(xb))), rows, batch_size, device=on
            ).astype(np.int64)
        return batched(model.encode, rows, batch_size, device=on)


def _per_row(labels: Any, rows: Any) -> Any:
    if labels is not None and len(np.asarray(labels).reshape(-1)) != rows.shape[0]:
        raise DataError(f"{len(np.asarray(labels).reshape(-1))} labels for {rows.shape[0]} rows; pass one per row")
    return labels


def decode(
    model: Autoencoder | str | os.PathLike,
    codes: Any,
    *,
    batch_size: int = 4096,
    device: str | torch.device | None = None,
    labels: Any = None,
) -> np.ndarray:
    """The rows that codes decode to: shape (n, input_dim), float32, in the user's units (a cvae: of the codes'
    class `labels`)."""
    from aekit.data.rows import as_rows

    model, _ = load_any_model(model, device)
    model.eval()
    z = as_rows(codes, "codes")
    have, want = z.shape[1], model.config.encoding_dim
    if have != want:  # a lone code as a 1-D array reads as a column: it gets its own hint, as check_features gives
        fix = "a single code? pass it as one row, z.reshape(1, -1)" if have == 1 and z.shape[0] == want else ""
        raise DataError(
            f"codes have {have} value{'s' * (have != 1)} per row but the model's code has {want}; "
            f"{fix or 'pass codes from encode'}"
        )
    if labels is not None:  # a cvae: each block with its own labels
        from aekit.codes import decode_codes

        return decode_codes(model, torch.as_tensor(np.asarray(z)), batch_size, labels=_per_row(labels, z)).numpy()
    return batched(model.decode, z, batch_size, device=device_of(model))


def reconstruct(
    model: Autoencoder | str | os.PathLike,
    x: Any,
    *,
    batch_size: int = 4096,
    device: str | torch.device | None = None,
    labels: Any = None,
) -> np.ndarray:
    """The model's reconstruction of every row of `x`: shape (n, input_dim), float32, in the user's units (a cvae
    needs the rows' class `labels`)."""
    model, _ = load_any_model(model, device)
    model.eval()
    rows = as_input(model, x, keep_memmap=True, check=False)
    with model.conditioned(_per_row(labels, rows), stream=True):
        return batched(model, rows, batch_size, device=device_of(model))


def write_codes(path: str | os.PathLike, codes: Any, columns: list[str], names: list[str], labels: Any = None) -> None:
    """Codes as a .csv or .parquet table whose first column is each file's path (then its label, when known); atomic."""
    import pandas as pd

    from aekit.files import atomic_write, printable

    codes = np.asarray(codes)
    if len(names) != len(codes):
        raise DataError(f"{len(names)} paths for {len(codes)} rows of codes; pass one path per row")
    head = {"path": [printable(n) for n in names]} | ({} if labels is None else {"label": np.asarray(labels)})
    df = pd.concat([pd.DataFrame(head), pd.DataFrame(codes, columns=columns)], axis=1)
    suffix = os.path.splitext(str(path))[1].lower()
    if suffix == ".csv":
        atomic_write(Path(path), lambda f: df.to_csv(f, index=False))
    elif suffix == ".parquet":
        atomic_write(Path(path), lambda f: df.to_parquet(f, index=False))
    else:
        raise DataError(
            f"{path}: codes with their paths go to a .csv or .parquet file; pass one of those (or .npy for "
            "the codes alone)"
        )


def code_plot(
    codes: Any,
    labels: Any = None,
    *,
    method: str = "auto",
    limit: int | None = 5000,
    seed: int = 0,
    title: str | None = None,
):
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


def pca_baseline(
    x_train: Any, x_test: Any, n_components: int, *, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


__all__ = [
    "encode",
    "decode",
    "reconstruct",
    "write_codes",
    "code_plot",
    "knn_accuracy",
    "pca_baseline",
    "reconstruction_mse",
]
