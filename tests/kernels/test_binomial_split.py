import importlib

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sampling_stats import chi_square_pvalue
from scipy import stats

from gaptorch.kernels import binomial_split
from gaptorch.kernels.binomial_split import binomial_split_reference


def test_input_and_remainder_follow_binomial_moments():
    counts = torch.full((4, 1, 64, 64), 20, dtype=torch.int64)
    inp, target = binomial_split(counts, 0.3, seed=0, backend="torch")
    assert inp.mean().item() == pytest.approx(20 * 0.3, rel=0.02)
    assert inp.var().item() == pytest.approx(20 * 0.3 * 0.7, rel=0.05)
    remainder = counts - inp
    assert remainder.float().mean().item() == pytest.approx(20 * 0.7, rel=0.02)
    assert remainder.float().var().item() == pytest.approx(20 * 0.3 * 0.7, rel=0.05)


def test_input_fits_binomial_distribution_chi_square_pvalue():
    n, p = 12, 0.35
    counts = torch.full((1, 1, 200, 200), n, dtype=torch.int32)
    inp, _ = binomial_split(counts, p, seed=3, backend="torch")
    observed = np.bincount(inp.flatten().long().numpy(), minlength=n + 1)
    expected = stats.binom.pmf(np.arange(n + 1), n, p) * inp.numel()
    keep = expected > 5
    chi2 = ((observed[keep] - expected[keep]) ** 2 / expected[keep]).sum()
    assert stats.chi2.sf(chi2, keep.sum() - 1) > 1e-3


def test_target_is_remainder_scaled_to_mean_one_per_image():
    counts = torch.poisson(torch.full((3, 2, 17, 9), 5.0)).to(torch.int64)
    inp, target = binomial_split(counts, torch.tensor([0.2, 0.5, 0.9]), seed=1)
    remainder = (counts - inp).double()
    scale = remainder[0].numel() / remainder.sum(dim=(1, 2, 3), keepdim=True)
    torch.testing.assert_close(target.double(), remainder * scale, rtol=1e-6, atol=1e-6)
    assert torch.all(inp <= counts) and torch.all(inp >= 0)
    assert torch.equal(inp, inp.round())


def test_all_zero_image_gives_zero_target_not_nan():
    counts = torch.zeros((2, 1, 5, 5), dtype=torch.int64)
    inp, target = binomial_split(counts, 0.5, seed=0)
    assert torch.count_nonzero(inp) == 0
    assert torch.count_nonzero(target) == 0
    assert not torch.isnan(target).any()


def test_p_zero_and_one_are_exact():
    counts = torch.randint(0, 50, (2, 1, 8, 8))
    inp, _ = binomial_split(counts, 0.0, seed=0)
    assert torch.count_nonzero(inp) == 0
    inp, target = binomial_split(counts, 1.0, seed=0)
    assert torch.equal(inp, counts.float())
    assert torch.count_nonzero(target) == 0


def test_same_seed_same_split_and_different_seed_differs():
    counts = torch.poisson(torch.full((2, 1, 32, 32), 10.0)).long()
    a = binomial_split(counts, 0.5, seed=7)
    b = binomial_split(counts, 0.5, seed=7)
    c = binomial_split(counts, 0.5, seed=8)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_no_seed_follows_torch_manual_seed():
    counts = torch.poisson(torch.full((1, 1, 16, 16), 10.0)).long()
    torch.manual_seed(5)
    a, _ = binomial_split(counts, 0.5)
    torch.manual_seed(5)
    b, _ = binomial_split(counts, 0.5)
    assert torch.equal(a, b)


def test_large_counts_are_exact_with_integer_output():
    counts = torch.tensor([[[2**31 - 1, 2**30 + 3]]], dtype=torch.int64)
    inp, _ = binomial_split(counts, 0.5, seed=0, dtype=torch.int64)
    assert inp.dtype == torch.int64
    assert torch.all(inp <= counts)
    assert abs(inp[0, 0, 0].item() - (2**31 - 1) / 2) < 6 * (2**31 * 0.25) ** 0.5


@pytest.mark.parametrize(
    ("counts", "p", "error"),
    [
        (torch.ones(2, 1, 4, 4), 0.5, TypeError),
        (torch.ones(4, 4, dtype=torch.int64), 0.5, ValueError),
        (torch.ones(2, 1, 4, 4, dtype=torch.int64), 1.5, ValueError),
        (torch.ones(2, 1, 4, 4, dtype=torch.int64), torch.tensor([0.5, 0.5, 0.5]), ValueError),
        (torch.ones(2, 1, 4, 4, dtype=torch.int64), "0.5", TypeError),
    ],
)
def test_bad_arguments_raise(counts, p, error):
    with pytest.raises(error):
        binomial_split(counts, p, seed=0)


def test_validate_rejects_negative_counts():
    with pytest.raises(ValueError, match="non-negative"):
        binomial_split(-torch.ones(1, 1, 2, 2, dtype=torch.int64), 0.5, seed=0, validate=True)


def test_validate_rejects_counts_past_int32():
    with pytest.raises(ValueError, match="2\\*\\*31"):
        counts = torch.full((1, 1, 2, 2), 2**31, dtype=torch.int64)
        binomial_split(counts, 0.5, seed=0, validate=True)


def test_triton_backend_without_interpreter_raises_clearly():
    import gaptorch.kernels._triton as t

    if t.INTERPRETER:
        pytest.skip("interpreter on: the Triton backend can run")
    with pytest.raises(RuntimeError, match="backend='triton'"):
        binomial_split(torch.ones(1, 1, 2, 2, dtype=torch.int64), 0.5, seed=0, backend="triton")


@settings(max_examples=25, deadline=None)
@given(
    shape=st.lists(st.integers(1, 7), min_size=3, max_size=5),
    p=st.floats(0.0, 1.0),
    high=st.integers(0, 1000),
    seed=st.integers(0, 2**62),
)
def test_split_invariants_for_any_shape(shape, p, high, seed):
    generator = torch.Generator().manual_seed(seed % 1000)
    counts = torch.randint(0, high + 1, tuple(shape), generator=generator)
    inp, target = binomial_split_reference(counts, torch.full((shape[0],), p), seed=seed)
    assert inp.shape == counts.shape and target.shape == counts.shape
    assert torch.all(inp >= 0) and torch.all(inp <= counts)
    assert not torch.isnan(target).any()
    means = target.reshape(shape[0], -1).mean(dim=1)
    remaining = (counts - inp).reshape(shape[0], -1).sum(dim=1)
    expected = torch.where(remaining > 0, 1.0, 0.0)
    torch.testing.assert_close(means, expected, rtol=1e-5, atol=1e-5)


def test_non_contiguous_counts_are_accepted():
    counts = torch.poisson(torch.full((2, 1, 16, 24), 8.0)).long().transpose(-1, -2)
    inp, target = binomial_split(counts, 0.5, seed=0)
    assert inp.shape == counts.shape
    assert torch.all(inp <= counts)


# --- Triton kernels (CUDA, or the CPU under TRITON_INTERPRET=1) -------------------------

split_module = importlib.import_module("gaptorch.kernels.binomial_split")
SAMPLES = (2, 1, 256, 256)  # 131072 draws per case


def triton_split(counts, p, seed, device, **kwargs):
    counts = counts.to(device)
    if isinstance(p, torch.Tensor):
        p = p.to(device)
    inp, target = binomial_split(counts, p, seed=seed, backend="triton", **kwargs)
    return inp.cpu(), target.cpu()


@pytest.mark.triton
@pytest.mark.parametrize(
    ("n", "p"),
    [
        (1, 0.5),  # inversion, n * q < 10 ...
        (12, 0.35),
        (19, 0.5),  # ... just below the BTRS threshold
        (21, 0.5),  # BTRS just above it
        (30, 0.9),  # p > 1/2: inversion on q = 0.1, flipped
        (60, 0.8),  # BTRS on q = 0.2, flipped
        (5000, 0.001),  # tiny p, inversion
        (1_000_000, 0.3),
        (2**31 - 1, 0.4),  # BTRS in float64 at the int32 limit
        (2**31 - 1, 2e-9),  # inversion at the int32 limit
    ],
)
def test_triton_split_fits_the_exact_binomial(n, p, triton_device):
    counts = torch.full(SAMPLES, n, dtype=torch.int64)
    inp, target = triton_split(counts, p, 11, triton_device, dtype=torch.int64)
    assert chi_square_pvalue(inp.numpy(), stats.binom(n, p)) > 1e-4
    assert target.double().mean().item() == pytest.approx(1, rel=1e-5)


@pytest.mark.triton
def test_triton_split_agrees_with_the_reference_in_distribution(triton_device):
    generator = torch.Generator().manual_seed(0)
    rates = torch.rand(SAMPLES, generator=generator) * 40
    counts = torch.poisson(rates, generator=generator).to(torch.int32)
    p = torch.tensor([0.3, 0.7])
    triton_inp, _ = triton_split(counts, p, 5, triton_device)
    reference_inp, _ = binomial_split(counts, p, seed=5, backend="torch")
    table = np.stack(
        [
            np.bincount(x.long().flatten().numpy(), minlength=64)[:64]
            for x in (triton_inp, reference_inp)
        ]
    )
    table = table[:, table.min(axis=0) >= 5]
    assert stats.chi2_contingency(table)[1] > 1e-4


@pytest.mark.triton
def test_triton_split_target_is_the_remainder_at_mean_one(triton_device):
    counts = torch.poisson(torch.full((3, 2, 17, 9), 30.0)).to(torch.int64)
    p = torch.tensor([0.2, 0.5, 0.95])
    inp, target = triton_split(counts, p, 1, triton_device)
    remainder = (counts - inp).double()
    scale = remainder[0].numel() / remainder.sum(dim=(1, 2, 3), keepdim=True)
    torch.testing.assert_close(target.double(), remainder * scale, rtol=1e-6, atol=1e-6)
    assert torch.all(inp <= counts) and torch.all(inp >= 0) and torch.equal(inp, inp.round())


@pytest.mark.triton
def test_triton_split_edge_cases_are_exact(triton_device):
    counts = torch.randint(0, 50, (3, 1, 8, 8))
    counts[1] = 0
    inp, target = triton_split(counts, torch.tensor([0.0, 0.5, 1.0]), 0, triton_device)
    assert torch.count_nonzero(inp[0]) == 0 and torch.count_nonzero(inp[1]) == 0
    assert torch.equal(inp[2], counts[2].float())
    assert torch.count_nonzero(target[1:]) == 0 and not torch.isnan(target).any()
    assert target[0].mean().item() == pytest.approx(1.0, rel=1e-6)


@pytest.mark.triton
def test_triton_split_is_exact_near_the_int32_limit(triton_device):
    counts = torch.tensor([2**31 - 1, 2**31 - 2, 2**30 + 3, 7, 0], dtype=torch.int64).view(1, 1, 5)
    for p in (0.0, 1e-9, 0.5, 1 - 1e-7, 1.0):
        inp, _ = triton_split(counts, p, 3, triton_device, dtype=torch.int64)
        assert inp.dtype == torch.int64
        assert torch.all(inp >= 0) and torch.all(inp <= counts)
        if p in (0.0, 1.0):
            assert torch.equal(inp, counts * int(p))


@pytest.mark.triton
@pytest.mark.parametrize("shape", [(1, 1, 1), (1, 1, 1, 1, 1), (2, 3, 4, 5, 6), (3, 1, 7, 129)])
def test_triton_split_handles_one_pixel_and_3d_shapes(shape, triton_device):
    counts = torch.randint(0, 100, shape)
    inp, target = triton_split(counts, 0.4, 2, triton_device)
    assert inp.shape == counts.shape == target.shape
    assert torch.all(inp <= counts) and torch.all(inp >= 0)


@pytest.mark.triton
def test_triton_split_of_a_non_contiguous_view_equals_that_of_its_copy(triton_device):
    counts = torch.poisson(torch.full((2, 1, 16, 24), 20.0)).long().transpose(-1, -2)
    assert not counts.is_contiguous()
    a = triton_split(counts, 0.5, 9, triton_device)
    b = triton_split(counts.contiguous(), 0.5, 9, triton_device)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


@pytest.mark.triton
def test_triton_split_is_reproducible_and_independent_of_the_block_size(triton_device):
    counts = torch.poisson(torch.full((2, 1, 24, 24), 12.0)).long().to(triton_device)
    counts[1, 0, :12] = 3000  # BTRS lanes as well
    probs = torch.tensor([0.5, 0.3], device=triton_device)
    runs = [
        split_module._launch_binomial_split(counts, probs, seed=4, block=block)
        for block in (64, 64, 4096)
    ]
    for inp, target in runs[1:]:
        assert torch.equal(inp, runs[0][0]) and torch.equal(target, runs[0][1])


@pytest.mark.triton
def test_triton_split_streams_are_independent_across_calls_and_images(triton_device):
    counts = torch.full((2, 1, 128, 128), 30, dtype=torch.int64)
    counts[:, :, :64] = 6  # inversion and BTRS lanes
    base = 1234
    first, other_call, other_key = (  # residuals: the draws less their means
        triton_split(counts, 0.5, seed, triton_device)[0] - counts / 2
        for seed in (base, base + 2**32, base + 1)  # key, same key and next call id, next key
    )
    pairs = [(first, other_call), (first, other_key), (first[0:1], first[1:2])]
    for a, b in pairs:
        r = np.corrcoef(a.flatten().numpy(), b.flatten().numpy())[0, 1]
        assert abs(r) < 5 / np.sqrt(a.numel())
    assert not torch.equal(first, other_call)


@pytest.mark.triton
@settings(max_examples=12, deadline=None)
@given(
    shape=st.lists(st.integers(1, 6), min_size=3, max_size=5),
    p=st.floats(0.0, 1.0),
    high=st.sampled_from([0, 1, 30, 1000, 2**31 - 1]),
    seed=st.integers(0, 2**63 - 1),
)
def test_triton_split_invariants_for_any_shape(shape, p, high, seed, triton_device):
    generator = torch.Generator().manual_seed(seed % 997)
    counts = torch.randint(0, high + 1, tuple(shape), generator=generator)
    inp, target = triton_split(counts, p, seed, triton_device, dtype=torch.int64)
    assert inp.shape == counts.shape and target.shape == counts.shape
    assert torch.all(inp >= 0) and torch.all(inp <= counts)
    assert not torch.isnan(target).any()
    means = target.reshape(shape[0], -1).double().mean(dim=1)
    remaining = (counts - inp).reshape(shape[0], -1).sum(dim=1)
    expected = torch.where(remaining > 0, 1.0, 0.0).double()
    torch.testing.assert_close(means, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.gpu
def test_split_on_cuda_uses_triton_without_host_sync():
    counts = torch.poisson(torch.full((4, 1, 64, 64), 5.0, device="cuda")).int()
    p = torch.full((4,), 0.5, device="cuda")
    binomial_split(counts, p, seed=0)  # compile outside the checked region
    torch.cuda.set_sync_debug_mode("error")
    try:
        inp, target = binomial_split(counts, p, seed=1)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert inp.is_cuda and target.is_cuda
