"""Fused GPU kernels for photon-limited imaging, each with a plain torch reference."""

from gaptorch.kernels.binomial_split import binomial_split
from gaptorch.kernels.gap_step import gap_step

__all__ = ["binomial_split", "gap_step"]
