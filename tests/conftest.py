"""Shared fixtures: tiny networks and simulated photon data, all CPU and seconds-fast."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
import torch

TINY_NETWORK = {"depth": 2, "start_filters": 4, "levels": 4}


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def camera_counts() -> tuple[np.ndarray, np.ndarray]:
    """A 96x80 crop of skimage's camera at 1 photon per pixel: (noisy counts, clean rate)."""
    clean = skimage.data.camera()[200:296, 150:230].astype(np.float64)
    clean = clean / clean.mean() * 1.0
    return np.random.default_rng(0).poisson(clean).astype(np.uint16), clean


@pytest.fixture
def tiny_denoiser(camera_counts):
    from gaptorch import Denoiser

    noisy, _ = camera_counts
    return Denoiser.train(
        noisy, steps=60, seed=0, network=TINY_NETWORK, batch_size=4, patch_size=32, lr=1e-2, auto_width=10
    )
