"""GAP's input encoding: photon counts seen at ten scales through a sine."""

from __future__ import annotations

import torch
from torch import nn


class PhotonEncoding(nn.Module):
    """Map counts x to `[sin(x * base**-i) for i in range(levels)]` along channels.

    Counts span six orders of magnitude between a dark and a bright image; the sines let
    one network read 0.1 and 1000 photons per pixel with the same resolution
    (Krull et al. 2023, supplement).
    """

    def __init__(self, levels: int = 10, base: float = 10.0) -> None:
        super().__init__()
        if levels < 1:
            raise ValueError(f"levels must be >= 1, got {levels}")
        self.levels = levels
        self.register_buffer(
            "scales", base ** -torch.arange(levels, dtype=torch.float32), persistent=False
        )

    def forward(self, counts: torch.Tensor) -> torch.Tensor:
        """(B, C, *spatial) counts -> (B, C * levels, *spatial), level-major."""
        batch, channels, *spatial = counts.shape
        scaled = counts.float().unsqueeze(1) * self.scales.view(1, -1, 1, *([1] * len(spatial)))
        return torch.sin(scaled).reshape(batch, self.levels * channels, *spatial)
