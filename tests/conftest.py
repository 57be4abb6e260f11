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


def _camera_noisy() -> np.ndarray:
    clean = skimage.data.camera()[200:296, 150:230].astype(np.float64)
    return np.random.default_rng(0).poisson(clean / clean.mean()).astype(np.uint16)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A tiny 2D GAP model folder (40 steps on noisy camera counts), shared by the session."""
    from gaptorch import Denoiser

    folder = tmp_path_factory.mktemp("models") / "tiny"
    options = {"network": TINY_NETWORK, "patch_size": 32, "lr": 1e-2, "auto_width": 10}
    options["batch_size"] = 4
    Denoiser.train(_camera_noisy(), steps=40, seed=0, **options).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def rgb_model_dir(tmp_path_factory):
    """A tiny RGB (three-channel) GAP model folder."""
    from gaptorch import Denoiser

    photo = np.random.default_rng(1).poisson(np.full((24, 24, 3), 5.0)).astype(np.uint8)
    folder = tmp_path_factory.mktemp("models") / "rgb"
    options = {"network": TINY_NETWORK, "patch_size": 16, "batch_size": 2}
    Denoiser.train(photo, steps=3, seed=0, **options).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def model_3d_dir(tmp_path_factory):
    """A tiny 3D GAP model folder."""
    from gaptorch import Denoiser

    stack = np.random.default_rng(2).poisson(np.full((8, 24, 24), 4.0)).astype(np.uint16)
    folder = tmp_path_factory.mktemp("models") / "tiny3d"
    options = {"network": TINY_NETWORK, "patch_size": 8, "batch_size": 2}
    Denoiser.train(stack, axes="ZYX", steps=3, seed=0, **options).save_pretrained(folder)
    return folder
