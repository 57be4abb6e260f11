"""A chi-square goodness-of-fit test for discrete samplers (scipy distributions)."""

import numpy as np
from scipy import stats


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
    return np.array(probs[::-1]), np.array(observed[::-1])  # back in order


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
