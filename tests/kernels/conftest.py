"""Kernel test helpers: where Triton runs, and a chi-square test for discrete samplers.

Triton reads TRITON_INTERPRET when kernels are defined (at import), so a running session
cannot switch the interpreter on. Tests marked `triton` take the `triton_device` fixture
and run in-process on CUDA, or on the CPU when the session started with
TRITON_INTERPRET=1. A plain `python -m pytest` on a CPU machine skips them here and
`test_interpreter.py` runs them all in one subprocess with the variable set.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from gaptorch.kernels._triton import HAS_TRITON, INTERPRETER

SUBPROCESS_REASON = "runs in the TRITON_INTERPRET=1 subprocess of tests/kernels/test_interpreter.py"


def in_process_triton_device() -> str | None:
    """"cuda" or "cpu" where this session can run Triton kernels, else None."""
    if not HAS_TRITON:
        return None
    if INTERPRETER:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else None


def pytest_collection_modifyitems(config, items):
    if in_process_triton_device() is not None:
        return
    skip = pytest.mark.skip(reason=SUBPROCESS_REASON)
    for item in items:
        if "triton" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def in_process_device() -> str | None:
    """`in_process_triton_device()`, for tests that must not import conftest."""
    return in_process_triton_device()


@pytest.fixture(scope="session")
def triton_device() -> str:
    """The device whose tensors the Triton backend runs on in this session."""
    device = in_process_triton_device()
    if device is None:
        pytest.skip(SUBPROCESS_REASON)
    return device


def _merge_small_bins(probs: np.ndarray, observed: np.ndarray, minimum: float):
    """Merge neighbouring bins until every expected count reaches `minimum`."""
    probs, observed = list(probs), list(observed)
    for order in (slice(None), slice(None, None, -1)):
        probs, observed = probs[order], observed[order]
        i = 0
        while i < len(probs) - 1:
            if probs[i] < minimum:
                probs[i + 1] += probs.pop(i)
                observed[i + 1] += observed.pop(i)
            else:
                i += 1
    return np.array(probs), np.array(observed)


def chi_square_pvalue(samples: np.ndarray, dist, bins: int = 40) -> float:
    """Goodness of fit of integer `samples` to a scipy discrete distribution.

    Bins are cut at the distribution's quantiles (tails included as open bins) and
    merged until each expects at least 5 samples; returns the chi-square p-value.
    """
    samples = np.asarray(samples).ravel()
    edges = np.unique(dist.ppf(np.linspace(0.0, 1.0, bins + 1)[1:-1]))
    edges = edges[np.isfinite(edges)]
    probs = np.diff(np.concatenate([[0.0], dist.cdf(edges), [1.0]]))
    observed = np.bincount(np.searchsorted(edges, samples, side="left"), minlength=probs.size)
    expected, observed = _merge_small_bins(probs * samples.size, observed.astype(float), 5.0)
    assert expected.size >= 2, "too few bins for a chi-square test"
    chi2 = ((observed - expected) ** 2 / expected).sum()
    return float(stats.chi2.sf(chi2, expected.size - 1))


@pytest.fixture(scope="session")
def chi_square():
    """`chi_square_pvalue(samples, scipy_distribution)`."""
    return chi_square_pvalue
