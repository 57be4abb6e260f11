"""Self-ensembling: average an estimate over the flips and rotations of the image plane.

A denoiser trained with dihedral augmentation should be equivariant to these eight
transforms but is only approximately so; the mean of the eight back-transformed
estimates removes that part of its error for 8x the compute.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

SYMMETRIES = (1, 2, 4, 8)


def check_symmetries(symmetries: int) -> int:
    """`symmetries` if it is a count `symmetric_mean` takes, else ValueError."""
    if symmetries not in SYMMETRIES:
        raise ValueError(f"symmetries must be one of {SYMMETRIES}, got {symmetries!r}")
    return symmetries


def _forward(x: torch.Tensor, k: int) -> torch.Tensor:
    """Transform k of the dihedral group on the last two dims: flip if k is odd, then rotate."""
    flipped = x.flip(-1) if k % 2 else x
    return torch.rot90(flipped, k // 2, dims=(-2, -1))


def _inverse(y: torch.Tensor, k: int) -> torch.Tensor:
    """Undo `_forward(., k)`."""
    unrotated = torch.rot90(y, -(k // 2), dims=(-2, -1))
    return unrotated.flip(-1) if k % 2 else unrotated


def symmetric_mean(
    estimate: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, symmetries: int
) -> torch.Tensor:
    """Mean of `estimate` over the first `symmetries` of the 8 transforms of the last two dims.

    Order: identity, flip, rotation by 90 degrees, its flip, 180, its flip, 270, its flip;
    so 2 averages a mirror pair, 4 adds a quarter turn, 8 takes the whole group.

    Raises:
        ValueError: `symmetries` not in 1, 2, 4, 8.
    """
    total = estimate(x)
    for k in range(1, check_symmetries(symmetries)):
        total = total + _inverse(estimate(_forward(x, k)), k)
    return total / symmetries
