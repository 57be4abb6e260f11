"""The samplers' rare path: lanes whose uniform outlives the rounded cdf are redrawn.

That happens about once in 1e7 draws, so it is forced here: a uniform of 2 never
finishes the inversion, every lane is deferred, and the redraw must still give the
exact distribution.
"""

import numpy as np
import pytest
import torch
from sampling_stats import chi_square_pvalue
from scipy import stats

from gaptorch.kernels._triton import HAS_TRITON

if HAS_TRITON:
    import triton
    import triton.language as tl

    from gaptorch.kernels._samplers import (
        binomial_by_inversion,
        binomial_by_rejection,
        poisson_by_inversion,
        poisson_by_rejection,
    )

    @triton.jit
    def _forced_redraw_kernel(
        n_ptr, out_ptr, deferred_ptr, p, BINOMIAL: tl.constexpr, BLOCK: tl.constexpr
    ):
        elem = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
        image = tl.program_id(0).to(tl.int64) * 0
        u = tl.full([BLOCK], 2.0, tl.float32)
        if BINOMIAL:
            n = tl.load(n_ptr + elem).to(tl.int64)
            _, first = binomial_by_inversion(n, p, u)
            k, deferred = binomial_by_rejection(n, p, u, 7, 1, image, elem, 0)
        else:
            rate = tl.load(n_ptr + elem).to(tl.float32)
            _, first = poisson_by_inversion(rate, u)
            k, deferred = poisson_by_rejection(rate, u, 7, 1, image, elem, 2)
        tl.store(out_ptr + elem, k)
        tl.store(deferred_ptr + elem, (first & deferred).to(tl.int32))


def forced_redraws(values: torch.Tensor, p: float, binomial: bool, device: str) -> np.ndarray:
    values = values.to(device)
    out = torch.empty(values.shape, dtype=torch.int64, device=device)
    deferred = torch.empty(values.shape, dtype=torch.int32, device=device)
    block = 4096
    _forced_redraw_kernel[(values.numel() // block,)](
        values, out, deferred, p, BINOMIAL=binomial, BLOCK=block
    )
    assert torch.all(deferred == 1)
    return out.cpu().numpy()


@pytest.mark.triton
@pytest.mark.parametrize(("n", "p"), [(4, 0.3), (15, 0.5), (9, 0.9)])
def test_redrawn_binomial_lanes_are_exact(n, p, triton_device):
    samples = forced_redraws(torch.full((2**14,), n, dtype=torch.int64), p, True, triton_device)
    assert chi_square_pvalue(samples, stats.binom(n, p)) > 1e-4


@pytest.mark.triton
@pytest.mark.parametrize("rate", [0.3, 6.0])
def test_redrawn_poisson_lanes_are_exact(rate, triton_device):
    samples = forced_redraws(torch.full((2**14,), rate), 0.0, False, triton_device)
    assert chi_square_pvalue(samples, stats.poisson(rate)) > 1e-4
