"""The DDPM U-Net (Ho et al. 2020, appendix B): time embedding, residual blocks, attention.

A 2D network `(x_t, t) -> output` of x_t's shape: sinusoidal embedding of the step t
(as in the Transformer), residual blocks with group normalisation that add the embedding,
self-attention at the levels in `attention_levels` and between the two middle blocks,
strided-convolution down and nearest-neighbour up sampling, concatenated skips.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def timestep_embedding(t: torch.Tensor, channels: int) -> torch.Tensor:
    """(B,) steps -> (B, channels) sines and cosines at geometrically spaced frequencies."""
    half = channels // 2
    frequencies = torch.exp(
        -math.log(10_000.0) * torch.arange(half, device=t.device) / max(1, half - 1)
    )
    angles = t.float()[:, None] * frequencies[None]
    embedding = torch.cat([angles.sin(), angles.cos()], dim=1)
    return F.pad(embedding, (0, channels - 2 * half))


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(32, channels), channels)


class _ResidualBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, with the time embedding added in between."""

    def __init__(
        self, in_channels: int, out_channels: int, time_channels: int, dropout: float
    ) -> None:
        super().__init__()
        self.norm_in, self.conv_in = (
            _norm(in_channels),
            nn.Conv2d(in_channels, out_channels, 3, padding=1),
        )
        self.time = nn.Linear(time_channels, out_channels)
        self.norm_out, self.dropout = _norm(out_channels), nn.Dropout(dropout)
        self.conv_out = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.skip = (
            nn.Conv2d(in_channels, out_channels, 1)
            if in_channels != out_channels
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(F.silu(self.norm_in(x)))
        h = h + self.time(F.silu(embedding))[:, :, None, None]
        h = self.conv_out(self.dropout(F.silu(self.norm_out(h))))
        return h + self.skip(x)


class _Attention(nn.Module):
    """Multi-head self-attention over all pixels, with a residual connection."""

    def __init__(self, channels: int, heads: int) -> None:
        super().__init__()
        if channels % heads:
            raise ValueError(f"channels {channels} must be divisible by heads {heads}")
        self.heads = heads
        self.norm = _norm(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        q, k, v = (
            self.qkv(self.norm(x))
            .reshape(batch, 3, self.heads, channels // self.heads, -1)
            .unbind(1)
        )
        attended = F.scaled_dot_product_attention(
            q.transpose(-1, -2), k.transpose(-1, -2), v.transpose(-1, -2)
        )
        return x + self.out(attended.transpose(-1, -2).reshape(batch, channels, height, width))


class _Level(nn.Module):
    """Residual blocks (each optionally followed by attention) at one resolution."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        blocks: int,
        time_channels: int,
        attention: bool,
        heads: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            _ResidualBlock(
                in_channels if i == 0 else out_channels, out_channels, time_channels, dropout
            )
            for i in range(blocks)
        )
        self.attention = nn.ModuleList(
            _Attention(out_channels, heads) if attention else nn.Identity() for _ in range(blocks)
        )

    def forward(self, x: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        for block, attention in zip(self.blocks, self.attention, strict=True):
            x = attention(block(x, embedding))
        return x


class DDPMUNet(nn.Module):
    """Noise (or v) predictor of DDPM for (B, C, H, W) images; H and W multiples of 2**(levels-1).

    Args:
        in_channels: image channels (1 grayscale, 3 RGB); also output channels.
        dims: spatial dimensions; only 2 is supported.
        start_filters: channels at full resolution.
        channel_mults: channel multiplier per level (its length is the number of levels).
        blocks: residual blocks per level.
        attention_levels: levels (0 = full resolution) with self-attention.
        heads: attention heads.
        dropout: dropout inside residual blocks.
    """

    def __init__(
        self,
        in_channels: int = 1,
        dims: int = 2,
        start_filters: int = 32,
        channel_mults: tuple[int, ...] = (1, 2, 2),
        blocks: int = 1,
        attention_levels: tuple[int, ...] = (1,),
        heads: int = 1,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if dims != 2:
            raise ValueError(f"the DDPM U-Net is 2D only, got dims={dims}")
        if in_channels < 1 or start_filters < 1 or blocks < 1 or not channel_mults:
            raise ValueError(
                "in_channels, start_filters, blocks and channel_mults must be positive"
            )
        self.in_channels, self.dims = in_channels, dims
        self.multiples = (2 ** (len(channel_mults) - 1),) * 2
        widths = [start_filters * m for m in channel_mults]
        time_channels = 4 * start_filters
        self.start_filters = start_filters
        self.time = nn.Sequential(
            nn.Linear(start_filters, time_channels),
            nn.SiLU(),
            nn.Linear(time_channels, time_channels),
        )
        self.stem = nn.Conv2d(in_channels, start_filters, 3, padding=1)
        levels = len(widths)
        self.down = nn.ModuleList(
            _Level(
                start_filters if i == 0 else widths[i - 1],
                widths[i],
                blocks,
                time_channels,
                i in attention_levels,
                heads,
                dropout,
            )
            for i in range(levels)
        )
        self.downsample = nn.ModuleList(
            nn.Conv2d(widths[i], widths[i], 3, stride=2, padding=1) for i in range(levels - 1)
        )
        self.middle = nn.ModuleList(
            [
                _ResidualBlock(widths[-1], widths[-1], time_channels, dropout),
                _ResidualBlock(widths[-1], widths[-1], time_channels, dropout),
            ]
        )
        self.middle_attention = _Attention(widths[-1], heads)
        self.up = nn.ModuleList(
            _Level(
                2 * widths[i] if i == levels - 1 else widths[i + 1] + widths[i],
                widths[i],
                blocks,
                time_channels,
                i in attention_levels,
                heads,
                dropout,
            )
            for i in reversed(range(levels))
        )
        self.upsample = nn.ModuleList(
            nn.Conv2d(widths[i], widths[i], 3, padding=1) for i in reversed(range(1, levels))
        )
        self.head = nn.Sequential(
            _norm(widths[0]), nn.SiLU(), nn.Conv2d(widths[0], in_channels, 3, padding=1)
        )

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) noisy images and (B,) steps -> (B, C, H, W) predicted noise (or v).

        Raises:
            ValueError: H or W not a multiple of 2**(levels - 1).
        """
        if x.shape[-1] % self.multiples[1] or x.shape[-2] % self.multiples[0]:
            raise ValueError(
                f"image size must be a multiple of {self.multiples[0]}, got {tuple(x.shape[-2:])}"
            )
        embedding = self.time(timestep_embedding(t, self.start_filters))
        h = self.stem(x)
        skips = []
        for i, level in enumerate(self.down):
            h = level(h, embedding)
            skips.append(h)
            if i < len(self.downsample):
                h = self.downsample[i](h)
        h = self.middle_attention(self.middle[0](h, embedding))
        h = self.middle[1](h, embedding)
        for i, level in enumerate(self.up):
            h = level(torch.cat((h, skips.pop()), dim=1), embedding)
            if i < len(self.upsample):
                h = self.upsample[i](F.interpolate(h, scale_factor=2.0, mode="nearest"))
        return self.head(h)
