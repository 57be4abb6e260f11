import numpy as np
import pytest
import skimage.data
from scipy import ndimage

from gaptorch.calibration import Calibration, estimate_calibration, is_counts, resolve_calibration


@pytest.mark.parametrize(
    ("gain", "offset", "read_noise", "photons"),
    [
        (2.5, 100.0, 1.0, 20.0),
        (0.8, 400.0, 0.5, 5.0),
        (4.0, 1000.0, 2.0, 50.0),
        (1.0, 0.0, 0.0, 0.5),
    ],
)
def test_estimate_recovers_gain_and_offset_within_5_percent(gain, offset, read_noise, photons):
    clean = ndimage.gaussian_filter(skimage.data.camera().astype(float), 2)
    rng = np.random.default_rng(1)
    rate = clean / clean.mean() * photons
    image = gain * rng.poisson(rate) + offset + rng.normal(0, read_noise, rate.shape)
    fit = estimate_calibration(image, read_noise=read_noise)
    assert fit.calibration.gain == pytest.approx(gain, rel=0.05)
    # An offset of 0 has no relative scale: compare in photons instead.
    assert abs(fit.calibration.offset - offset) <= max(0.05 * offset, 0.05 * gain)


def test_round_trip_through_counts():
    calibration = Calibration(gain=2.0, offset=100.0)
    counts = np.array([[0, 1, 5], [10, 0, 3]], dtype=np.float32)
    np.testing.assert_array_equal(calibration.to_counts(calibration.from_counts(counts)), counts)


def test_flat_image_cannot_be_calibrated():
    with pytest.raises(ValueError, match="intensity range"):
        estimate_calibration(np.full((64, 64), 7.0))


def test_resolution_rules():
    counts = np.array([[0, 3], [2, 1]], dtype=np.uint16)
    assert resolve_calibration(counts, None, None).is_identity
    with pytest.raises(ValueError, match="non-integer"):
        resolve_calibration(counts + 0.5, None, None)
    with pytest.raises(ValueError, match="negative"):
        resolve_calibration(counts.astype(int) - 2, None, None)
    with pytest.raises(ValueError, match="NaN"):
        resolve_calibration(np.array([[np.nan, 1.0]]), 1.0, 0.0)
    assert resolve_calibration(counts + 0.5, 2.0, None) == Calibration(2.0, 0.0)
    assert is_counts(np.array([0.0, 2.0])) and not is_counts(np.array([0.5]))
    with pytest.raises(ValueError, match="gain"):
        Calibration(gain=0.0)
