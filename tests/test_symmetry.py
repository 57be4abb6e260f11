import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gaptorch.symmetry import _forward, _inverse, symmetric_mean


@settings(max_examples=40, deadline=None)
@given(height=st.integers(1, 7), width=st.integers(1, 7), k=st.integers(0, 7))
def test_every_transform_is_undone_exactly(height, width, k):
    x = torch.arange(2 * height * width, dtype=torch.float32).reshape(1, 2, height, width)
    assert torch.equal(_inverse(_forward(x, k), k), x)


def test_the_eight_transforms_are_the_distinct_elements_of_the_dihedral_group():
    x = torch.arange(9.0).reshape(1, 1, 3, 3)
    images = {tuple(_forward(x, k).flatten().tolist()) for k in range(8)}
    assert len(images) == 8


@pytest.mark.parametrize("symmetries", [1, 2, 4, 8])
def test_an_equivariant_estimate_is_unchanged(symmetries):
    x = torch.rand(2, 1, 5, 6)
    torch.testing.assert_close(symmetric_mean(lambda t: 2 * t, x, symmetries), 2 * x)


def test_a_mirror_pair_averages_out_a_left_right_bias():
    x = torch.rand(1, 1, 4, 6)
    ramp = torch.arange(6.0)
    mean = symmetric_mean(lambda t: t + torch.arange(float(t.shape[-1])), x, 2)
    torch.testing.assert_close(mean, x + ramp.mean())


@pytest.mark.parametrize("symmetries", [0, 3, 16])
def test_other_counts_are_refused(symmetries):
    with pytest.raises(ValueError, match="symmetries must be one of"):
        symmetric_mean(lambda t: t, torch.zeros(1, 1, 2, 2), symmetries)


def test_denoise_averages_the_estimates_of_the_transformed_images(tiny_denoiser, camera_counts):
    noisy = camera_counts[0][:40, :56]
    transforms = [
        (lambda a: a, lambda a: a),
        (lambda a: a[:, ::-1], lambda a: a[:, ::-1]),
        (lambda a: np.rot90(a), lambda a: np.rot90(a, -1)),
        (lambda a: np.rot90(a[:, ::-1]), lambda a: np.rot90(a, -1)[:, ::-1]),
    ]
    for tiles in ({}, {"tile": 32, "overlap": 16}):
        expected = np.mean(
            [
                undo(tiny_denoiser.denoise(np.ascontiguousarray(do(noisy)), **tiles))
                for do, undo in transforms
            ],
            axis=0,
        )
        averaged = tiny_denoiser.denoise(noisy, symmetries=4, **tiles)
        np.testing.assert_allclose(averaged, expected, rtol=1e-4, atol=1e-5)
        assert averaged.sum() == pytest.approx(float(noisy.sum()), rel=1e-4)
