import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
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


def test_input_fits_binomial_distribution_chi_square():
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
    counts = torch.randint(0, high + 1, tuple(shape), generator=torch.Generator().manual_seed(seed % 1000))
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
