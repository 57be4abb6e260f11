"""Shared fixtures: tiny networks, simulated photon data, and where Triton kernels run.

Triton reads TRITON_INTERPRET when kernels are defined (at import), so a running session
cannot switch the interpreter on. Tests marked `triton` take the `triton_device` fixture
and run in-process on CUDA, or on the CPU when the session started with
TRITON_INTERPRET=1; otherwise (a plain `python -m pytest` on a CPU) they are skipped here
and tests/kernels/test_interpreter.py runs them all in one subprocess with it set.
"""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
import torch

from gaptorch.kernels._triton import HAS_TRITON, INTERPRETER

TINY_NETWORK = {"depth": 2, "start_filters": 4, "levels": 4}


SUBPROCESS_REASON = "runs in the TRITON_INTERPRET=1 subprocess of tests/kernels/test_interpreter.py"


def in_process_triton_device() -> str | None:
    """ "cuda" or "cpu" where this session can run Triton kernels, else None."""
    if not HAS_TRITON:
        return None
    if INTERPRETER:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else None


def pytest_collection_modifyitems(config, items):
    needs_cuda = pytest.mark.skip(reason="needs CUDA")
    elsewhere = pytest.mark.skip(reason=SUBPROCESS_REASON)
    for item in items:
        if "gpu" in item.keywords and not torch.cuda.is_available():
            item.add_marker(needs_cuda)
        if "triton" in item.keywords and in_process_triton_device() is None:
            item.add_marker(elsewhere)


@pytest.fixture(scope="session")
def in_process_device() -> str | None:
    """`in_process_triton_device()` as a fixture."""
    return in_process_triton_device()


@pytest.fixture(scope="session")
def triton_device() -> str:
    """The device whose tensors the Triton backend runs on in this session."""
    device = in_process_triton_device()
    if device is None:
        pytest.skip(SUBPROCESS_REASON)
    return device


@pytest.fixture(scope="session")
def camera_counts() -> tuple[np.ndarray, np.ndarray]:
    """A 128x128 crop of skimage's camera at 1 photon per pixel: (noisy counts, clean rate)."""
    clean = skimage.data.camera()[160:288, 150:278].astype(np.float64)
    clean = clean / clean.mean() * 1.0
    return np.random.default_rng(0).poisson(clean).astype(np.uint16), clean


@pytest.fixture(scope="session")
def tiny_denoiser(camera_counts):
    """A tiny GAP model trained on `camera_counts` (200 steps, seconds; beats the input by
    3-7 dB over seeds 0-5)."""
    from gaptorch import Denoiser

    noisy, _ = camera_counts
    return Denoiser.train(
        noisy, steps=200, seed=0, network=TINY_NETWORK, batch_size=8, patch_size=32, lr=3e-3
    )


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_denoiser):
    """`tiny_denoiser` as a model folder, shared by the session."""
    folder = tmp_path_factory.mktemp("models") / "tiny"
    tiny_denoiser.save_pretrained(folder)
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
