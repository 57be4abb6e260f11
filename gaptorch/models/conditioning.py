"""Conditioning on the input's photon level: the pseudo-PSNR, its embedding, FiLM.

The pseudo-PSNR `10 * log10(mean counts)` of each image tells a network how noisy its
input is. It is a global number per image; under tiled inference each tile measures its
own, which for tiles of one image differs little (the mean over many pixels).
"""

from __future__ import annotations

import math

import torch
from torch import nn

# Pseudo-PSNR range the embedding resolves; an empty canvas (mean 0) reads as the floor.
PSNR_FLOOR, PSNR_CEILING = -60.0, 60.0


def pseudo_psnr_db(counts: torch.Tensor) -> torch.Tensor:
    """(B, C, *spatial) counts -> (B,) float32 `10*log10(mean)`; -inf for an empty image."""
    mean = counts.float().flatten(1).mean(dim=1)
    return 10.0 * torch.log10(mean)


class PsnrEmbedding(nn.Module):
    """A per-image vector from the input's pseudo-PSNR: sines of it at several scales, then an MLP.

    Args:
        features: size of the embedding.
        frequencies: sine/cosine pairs (periods from 4 dB to the whole 120 dB range).
    """

    def __init__(self, features: int = 32, frequencies: int = 8) -> None:
        super().__init__()
        if features < 1 or frequencies < 1:
            raise ValueError(
                f"embedding and frequencies must be >= 1, got {features}, {frequencies}"
            )
        periods = torch.logspace(
            math.log10(4.0), math.log10(PSNR_CEILING - PSNR_FLOOR), frequencies
        )
        self.register_buffer("angular", 2 * math.pi / periods, persistent=False)
        self.features = features
        self.mlp = nn.Sequential(
            nn.Linear(2 * frequencies, features), nn.SiLU(), nn.Linear(features, features)
        )

    def forward(self, counts: torch.Tensor) -> torch.Tensor:
        """(B, C, *spatial) counts -> (B, features)."""
        level = pseudo_psnr_db(counts).clamp(PSNR_FLOOR, PSNR_CEILING).nan_to_num(PSNR_FLOOR)
        phase = level[:, None] * self.angular[None, :]
        return self.mlp(torch.cat((torch.sin(phase), torch.cos(phase)), dim=1))


def _broadcast(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(B, C) -> (B, C, 1, ...) matching the spatial dims of `like`."""
    return values.view(*values.shape, *([1] * (like.ndim - 2)))


class EmbeddingShift(nn.Module):
    """Add a learned projection of the embedding to every pixel's features (a per-image bias)."""

    def __init__(self, embedding: int, channels: int) -> None:
        super().__init__()
        self.project = nn.Linear(embedding, channels)

    def forward(self, x: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        """Features shifted by the embedding's projection."""
        return x + _broadcast(self.project(embedding), x)


class FiLM(nn.Module):
    """Feature-wise linear modulation (Perez et al. 2018): `x * (1 + gamma) + beta`.

    Starts as the identity (zero-initialised projection). Without the instance
    normalisation of AdaIN, so features keep their per-pixel meaning across tiles.
    """

    def __init__(self, embedding: int, channels: int) -> None:
        super().__init__()
        self.project = nn.Linear(embedding, 2 * channels)
        nn.init.zeros_(self.project.weight)
        nn.init.zeros_(self.project.bias)

    def forward(self, x: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        """Modulated features."""
        gamma, beta = self.project(embedding).chunk(2, dim=1)
        return x * (1 + _broadcast(gamma, x)) + _broadcast(beta, x)
