import importlib

import numpy as np
import pytest
import torch
from sampling_stats import chi_square_pvalue
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


# --- Triton kernels (CUDA, or the CPU under TRITON_INTERPRET=1) -------------------------

step_module = importlib.import_module("gaptorch.kernels.gap_step")
SAMPLES = (2, 1, 256, 256)  # 131072 draws per case


def triton_step(logits, photons, budget, seed, device, **kwargs):
    logits, photons = logits.to(device), photons.to(device)
    if isinstance(budget, torch.Tensor):
        budget = budget.to(device)
    totals = kwargs.pop("totals", None)
    if totals is not None:
        totals = totals.to(device)
    _, mmse = gap_step(
        logits, photons, budget, seed=seed, backend="triton", totals=totals, **kwargs
    )
    return photons.cpu(), mmse.cpu(), None if totals is None else totals.cpu()


@pytest.mark.triton
@pytest.mark.parametrize("rate", [0.05, 3.0, 9.5, 12.0, 500.0, 1e5, 1e7])
def test_triton_step_fits_the_exact_poisson(rate, triton_device):
    logits = torch.zeros(SAMPLES)
    budget = rate * logits[0].numel()  # a uniform softmax: every pixel draws Poisson(rate)
    photons, _, _ = triton_step(
        logits, torch.zeros(SAMPLES, dtype=torch.float64), budget, 21, triton_device
    )
    assert chi_square_pvalue(photons.numpy(), stats.poisson(rate)) > 1e-4


@pytest.mark.triton
def test_triton_step_agrees_with_the_reference_in_distribution(triton_device):
    logits = torch.randn(SAMPLES, generator=torch.Generator().manual_seed(0)) * 2
    budget = torch.tensor([2e5, 2e6])
    triton_photons, triton_mmse, _ = triton_step(
        logits, torch.zeros(SAMPLES), budget, 3, triton_device
    )
    reference = torch.zeros(SAMPLES)
    _, reference_mmse = gap_step(logits, reference, budget, seed=3, backend="torch")
    torch.testing.assert_close(triton_mmse, reference_mmse)
    for image in range(2):
        table = np.stack(
            [
                np.bincount(x[image].long().flatten().numpy(), minlength=80)[:80]
                for x in (triton_photons, reference)
            ]
        )
        table = table[:, table.min(axis=0) >= 5]
        assert stats.chi2_contingency(table)[1] > 1e-4


@pytest.mark.triton
@pytest.mark.parametrize("shape", [(1, 1, 1), (3, 2, 5, 7), (2, 1, 3, 4, 5), (1, 3, 33, 65)])
def test_triton_step_mmse_is_the_softmax_and_totals_count_new_photons(shape, triton_device):
    logits = torch.randn(shape) * 3
    batch = shape[0]
    budget = torch.linspace(0, 500, batch)
    totals = torch.full((batch,), 7, dtype=torch.int64)
    photons, mmse, totals = triton_step(
        logits, torch.ones(shape), budget, 2, triton_device, totals=totals
    )
    expected = torch.softmax(logits.reshape(batch, -1), dim=1).reshape(shape)
    torch.testing.assert_close(mmse, expected)
    new = (photons - 1).reshape(batch, -1).sum(dim=1)
    assert torch.equal(totals, 7 + new.long())
    assert torch.all(photons >= 1) and torch.equal(photons, photons.round())
    assert new[0] == 0  # budget 0 adds nothing


@pytest.mark.triton
def test_triton_step_softmax_combines_many_partials(monkeypatch, triton_device):
    monkeypatch.setattr(step_module, "REDUCE_BLOCK", 16)
    monkeypatch.setattr(step_module, "MAX_PARTIALS", 8)
    logits = torch.randn(2, 1, 30, 37) * 4
    _, mmse, _ = triton_step(logits, torch.zeros(logits.shape), 10.0, 0, triton_device)
    torch.testing.assert_close(mmse, torch.softmax(logits.reshape(2, -1), 1).reshape(logits.shape))


@pytest.mark.triton
@pytest.mark.parametrize("dtype", [torch.int32, torch.int64, torch.float64])
def test_triton_step_updates_integer_and_non_contiguous_canvases_in_place(dtype, triton_device):
    logits = torch.randn(2, 1, 12, 20).to(triton_device)
    photons = torch.full((2, 1, 20, 12), 3, dtype=dtype, device=triton_device).transpose(-1, -2)
    totals = torch.zeros(2, dtype=torch.float64, device=triton_device)
    returned, _ = gap_step(logits, photons, 200.0, seed=5, backend="triton", totals=totals)
    assert returned is photons and photons.dtype == dtype
    torch.testing.assert_close(photons.double().sum(dim=(1, 2, 3)) - 3 * 240, totals)
    assert totals.min() > 0


@pytest.mark.triton
def test_triton_step_is_reproducible_and_independent_of_the_block_size(triton_device):
    logits = (torch.randn(2, 1, 24, 24) * 3).to(triton_device)
    budget = torch.tensor([300.0, 3e4], device=triton_device)  # inversion and PTRS lanes
    runs = []
    for block in (64, 64, 4096):
        photons = torch.zeros_like(logits)
        _, mmse = step_module._launch_gap_step(logits, photons, budget, seed=8, block=block)
        runs.append((photons, mmse))
    for photons, mmse in runs[1:]:
        assert torch.equal(photons, runs[0][0]) and torch.equal(mmse, runs[0][1])


@pytest.mark.triton
def test_triton_step_streams_are_independent_across_calls(triton_device):
    logits = torch.zeros(2, 1, 128, 128)
    base = 99
    draws = [
        triton_step(
            logits, torch.zeros(logits.shape), 2.0 * logits[0].numel(), seed, triton_device
        )[0]
        for seed in (base, base + 2**32, base + 1)
    ]
    for other in draws[1:]:
        r = np.corrcoef(draws[0].flatten().numpy(), other.flatten().numpy())[0, 1]
        assert abs(r) < 5 / np.sqrt(draws[0].numel())
    r = np.corrcoef(draws[0][0].flatten().numpy(), draws[0][1].flatten().numpy())[0, 1]
    assert abs(r) < 5 / np.sqrt(draws[0][0].numel())


def test_totals_of_another_dtype_are_rejected():
    with pytest.raises(TypeError, match="totals"):
        gap_step(
            torch.randn(1, 1, 4, 4),
            torch.zeros(1, 1, 4, 4),
            1.0,
            seed=0,
            totals=torch.zeros(1, dtype=torch.float32),
        )


@pytest.mark.gpu
def test_step_on_cuda_uses_triton_without_host_sync():
    logits = torch.randn(4, 1, 64, 64, device="cuda")
    photons = torch.zeros_like(logits)
    totals = torch.zeros(4, dtype=torch.float64, device="cuda")
    budget = torch.full((4,), 100.0, device="cuda")
    gap_step(logits, photons, budget, seed=0, totals=totals)  # compile outside the checked region
    torch.cuda.set_sync_debug_mode("error")
    try:
        gap_step(logits, photons, budget, seed=1, totals=totals)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    torch.testing.assert_close(totals, photons.double().sum(dim=(1, 2, 3)))
