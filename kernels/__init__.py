"""Fused GPU kernels for photon-limited imaging, each with a plain torch reference."""

from gaptorch.kernels.binomial_split import binomial_split
from gaptorch.kernels.gap_step import gap_step
from gaptorch.kernels.normalize import normalize_mean, normalize_percentile, percentiles

__all__ = ["binomial_split", "gap_step", "normalize_mean", "normalize_percentile", "percentiles"]
