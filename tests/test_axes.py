import numpy as np
import pytest

from gaptorch.axes import Layout, default_axes, validate_axes


@pytest.mark.parametrize(
    ("shape", "axes", "dims", "channels", "model_shape"),
    [
        ((7, 9), "YX", 2, 1, (1, 1, 7, 9)),
        ((5, 7, 9), "ZYX", 2, 1, (5, 1, 7, 9)),
        ((5, 7, 9), "ZYX", 3, 1, (1, 1, 5, 7, 9)),
        ((2, 5, 3, 7, 9), "TZCYX", 3, 1, (6, 1, 5, 7, 9)),
        ((7, 9, 3), "YXC", 2, 3, (1, 3, 7, 9)),
        ((4, 3, 7, 9), "SCYX", 2, 3, (4, 3, 7, 9)),
    ],
)
def test_layout_round_trips(shape, axes, dims, channels, model_shape):
    image = np.random.default_rng(0).random(shape)
    layout = Layout.of(shape, axes, dims, channels)
    batch = layout.to_model(image)
    assert batch.shape == model_shape
    np.testing.assert_array_equal(layout.from_model(batch), image)


@pytest.mark.parametrize(
    ("axes", "ndim", "message"),
    [
        ("YQ", 2, "unknown letter"),
        ("YY", 2, "repeats"),
        ("ZYX", 2, "3 letters"),
        ("ZX", 2, "Y and X"),
    ],
)
def test_bad_axes_are_explained(axes, ndim, message):
    with pytest.raises(ValueError, match=message):
        validate_axes(axes, ndim)


def test_model_requirements_are_checked():
    with pytest.raises(ValueError, match="needs a Z axis"):
        Layout.of((4, 5), "YX", 3, 1)
    with pytest.raises(ValueError, match="has 4 along C"):
        Layout.of((5, 6, 4), "YXC", 2, 3)
    with pytest.raises(ValueError, match="no C"):
        Layout.of((5, 6), "YX", 2, 3)


def test_default_axes_guesses():
    assert default_axes((5, 6), 2, 1) == "YX"
    assert default_axes((5, 6, 3), 2, 3) == "YXC"
    assert default_axes((4, 5, 6), 3, 1) == "ZYX"
    assert default_axes((4, 5, 6), 2, 1) == "TYX"
    with pytest.raises(ValueError, match="pass axes"):
        default_axes((2, 3, 4, 5, 6), 2, 1)
