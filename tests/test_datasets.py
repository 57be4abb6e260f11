"""How clean the "clean" sources are: the photon level their own noise equals."""

import numpy as np
import pytest

from gaptorch.datasets import noise_equivalent_photons


def _smooth(shape=(256, 256)) -> np.ndarray:
    y, x = np.mgrid[: shape[0], : shape[1]] / 64.0
    return 1.0 + 0.3 * np.sin(y) * np.cos(x)


def test_gaussian_noise_of_5_percent_equals_shot_noise_at_400_photons():
    rng = np.random.default_rng(0)
    image = _smooth() + rng.normal(0.0, 0.05, (256, 256))
    assert noise_equivalent_photons(image) == pytest.approx(400, rel=0.1)


def test_poisson_counts_give_back_their_photon_level():
    rng = np.random.default_rng(1)
    counts = rng.poisson(_smooth() * 50.0)
    assert noise_equivalent_photons(counts) == pytest.approx(50, rel=0.1)


def test_colour_images_average_the_channels_noise():
    rng = np.random.default_rng(2)
    image = np.stack([_smooth()] * 3, axis=-1) + rng.normal(0.0, 0.1, (256, 256, 3))
    assert noise_equivalent_photons(image, channel_axis=-1) == pytest.approx(100, rel=0.1)


def test_a_noise_free_image_supports_any_level_and_an_empty_one_is_refused():
    assert noise_equivalent_photons(np.full((32, 32), 7.0)) == float("inf")
    with pytest.raises(ValueError, match="all zeros"):
        noise_equivalent_photons(np.zeros((32, 32)))
