"""Tiny shared fixtures: real MNIST subsets, small and seeded, CPU only."""

import os

import numpy as np
import pytest
import torch

torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope="session")
def mnist_small():
    """2,000 real MNIST training images and 500 test images, as float32 rows in [0, 1]."""
    from aekit import load_dataset

    ds = load_dataset("mnist")
    return ds.x_train[:2000].copy(), ds.y_train[:2000].copy(), ds.x_test[:500].copy(), ds.y_test[:500].copy()


@pytest.fixture()
def rng():
    return np.random.default_rng(0)
