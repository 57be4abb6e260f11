import numpy as np
import pytest
import torch
from scipy import stats

from gaptorch.kernels import gap_step


def test_mmse_is_per_image_softmax():
    logits = torch.randn(3, 2, 5, 7)
    photons = torch.zeros_like(logits)
    _, mmse = gap_step(logits, photons, 0.0, seed=0)
    expected = torch.softmax(logits.reshape(3, -1), dim=1).reshape(logits.shape)
    torch.testing.assert_close(mmse, expected)
    torch.testing.assert_close(mmse.sum(dim=(1, 2, 3)), torch.ones(3))


def test_zero_budget_adds_nothing():
    photons = torch.ones(2, 1, 4, 4)
    gap_step(torch.randn(2, 1, 4, 4), photons, 0.0, seed=0)
    assert torch.equal(photons, torch.ones(2, 1, 4, 4))


def test_new_photons_are_poisson_with_the_budget_as_mean():
    logits = torch.zeros(1, 1, 100, 100)
    photons = torch.zeros_like(logits)
    budget = 100 * 100 * 3.0
    gap_step(logits, photons, budget, seed=1)
    observed = np.bincount(photons.flatten().long().numpy())
    expected = stats.poisson.pmf(np.arange(len(observed)), 3.0) * photons.numel()
    keep = expected > 5
    chi2 = ((observed[keep] - expected[keep]) ** 2 / expected[keep]).sum()
    assert stats.chi2.sf(chi2, keep.sum() - 1) > 1e-3


def test_totals_count_the_new_photons_per_image_in_place():
    logits = torch.randn(3, 1, 8, 8)
    photons = torch.zeros_like(logits)
    totals = torch.zeros(3, dtype=torch.float64)
    gap_step(logits, photons, torch.tensor([10.0, 0.0, 50.0]), seed=2, totals=totals)
    torch.testing.assert_close(totals, photons.reshape(3, -1).sum(dim=1).double())
    assert totals[1] == 0


def test_same_seed_same_photons():
    logits = torch.randn(2, 1, 16, 16)
    a, b = torch.zeros_like(logits), torch.zeros_like(logits)
    gap_step(logits, a, 100.0, seed=4)
    gap_step(logits, b, 100.0, seed=4)
    assert torch.equal(a, b)


def test_shape_mismatch_is_rejected():
    with pytest.raises(ValueError, match="match"):
        gap_step(torch.randn(1, 1, 4, 4), torch.zeros(1, 1, 4, 5), 1.0, seed=0)
    with pytest.raises(TypeError, match="floating"):
        gap_step(torch.ones(1, 1, 4, 4, dtype=torch.int64), torch.zeros(1, 1, 4, 4), 1.0, seed=0)
