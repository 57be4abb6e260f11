"""The README's quality claims, measured (slow: run with `pytest -m slow`)."""

from importlib import resources

import numpy as np
import pytest
import skimage.data
import tifffile

from gaptorch import Denoiser, psnr
from gaptorch.cli.demo import simulated_counts

pytestmark = pytest.mark.slow


def test_gap_gains_10_db_on_camera_at_2_photons_in_600_steps():
    clean = skimage.data.camera().astype(np.float64)
    clean = clean / clean.mean() * 2.0
    noisy = np.random.default_rng(0).poisson(clean).astype(np.uint16)
    denoiser = Denoiser.train(noisy, steps=600, seed=0)
    gain = psnr(denoiser.denoise(noisy), clean) - psnr(noisy, clean)
    print(f"camera 2 photons: +{gain:.2f} dB, trained in {denoiser.spec.training['seconds']:.0f} s")
    assert gain >= 10.0


def test_3d_gap_gains_10_db_on_a_z_stack_at_2_photons_in_600_steps():
    with resources.as_file(resources.files("gaptorch.samples") / "nuclei-zstack.tif") as path:
        stack = tifffile.imread(path)
    clean, noisy = simulated_counts(stack, 2.0, seed=0)
    denoiser = Denoiser.train(noisy, axes="ZYX", steps=600, seed=0)
    assert denoiser.dims == 3
    gain = psnr(denoiser.denoise(noisy, axes="ZYX"), clean) - psnr(noisy, clean)
    print(
        f"nuclei z-stack 2 photons: +{gain:.2f} dB, "
        f"trained in {denoiser.spec.training['seconds']:.0f} s"
    )
    assert gain >= 10.0
