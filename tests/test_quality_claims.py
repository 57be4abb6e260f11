"""The README's quality claims, measured (slow: run with `pytest -m slow`)."""

from importlib import resources

import numpy as np
import pytest
import skimage.data
import tifffile

from gaptorch import Denoiser, psnr
from gaptorch.cli.demo import simulated_counts

pytestmark = pytest.mark.slow


def camera_at_2_photons() -> tuple[np.ndarray, np.ndarray]:
    clean = skimage.data.camera().astype(np.float64)
    clean = clean / clean.mean() * 2.0
    return clean, np.random.default_rng(0).poisson(clean).astype(np.uint16)


def nuclei_zstack_at_2_photons() -> tuple[np.ndarray, np.ndarray]:
    with resources.as_file(resources.files("gaptorch.samples") / "nuclei-zstack.tif") as path:
        stack = tifffile.imread(path)
    return simulated_counts(stack, 2.0, seed=0)


# Floors below the README's measured gains: +12.7 dB on camera, +8.97 to +9.06 on the Z-stack.
@pytest.mark.parametrize(
    ("data", "axes", "floor_db"),
    [(camera_at_2_photons, "YX", 10.0), (nuclei_zstack_at_2_photons, "ZYX", 8.5)],
    ids=["camera", "nuclei-zstack"],
)
def test_gap_gains_its_claimed_db_at_2_photons_in_600_steps(data, axes, floor_db):
    clean, noisy = data()
    denoiser = Denoiser.train(noisy, axes=axes, steps=600, seed=0)
    assert denoiser.dims == len(axes)
    gain = psnr(denoiser.denoise(noisy, axes=axes), clean) - psnr(noisy, clean)
    print(f"{data.__name__}: +{gain:.2f} dB, trained in {denoiser.spec.training['seconds']:.0f} s")
    assert gain >= floor_db
