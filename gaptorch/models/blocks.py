"""Building blocks shared by every U-Net in the registry, for 2D and 3D."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

UpMode = Literal["transpose", "upsample"]
MergeMode = Literal["add", "concat"]


def conv(dims: int, in_channels: int, out_channels: int, kernel_size: int = 3) -> nn.Module:
    """A same-size convolution in `dims` (2 or 3) spatial dimensions."""
    cls = {2: nn.Conv2d, 3: nn.Conv3d}[dims]
    return cls(in_channels, out_channels, kernel_size, padding=kernel_size // 2)


def pool_kernel(dims: int, pool_z: bool) -> tuple[int, ...]:
    """Pooling factor per spatial dim: 2 everywhere, or Z kept when `pool_z` is False."""
    if dims == 2:
        return (2, 2)
    return (2 if pool_z else 1, 2, 2)


class ResidualBlock(nn.Module):
    """Three convolutions with a residual connection around the last two."""

    def __init__(self, dims: int, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.entry = conv(dims, in_channels, out_channels)
        self.conv_a = conv(dims, out_channels, out_channels)
        self.conv_b = conv(dims, out_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = self.entry(x)
        return F.relu(self.conv_b(F.relu(self.conv_a(skip))) + skip)


class Upsample(nn.Module):
    """Double the resolution and halve the channels (transposed conv, or resize + 1x1 conv)."""

    def __init__(
        self, dims: int, in_channels: int, out_channels: int, mode: UpMode, factor: tuple[int, ...]
    ) -> None:
        super().__init__()
        if mode == "transpose":
            cls = {2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}[dims]
            self.layer: nn.Module = cls(in_channels, out_channels, factor, stride=factor)
        elif mode == "upsample":
            interpolation = {2: "bilinear", 3: "trilinear"}[dims]
            self.layer = nn.Sequential(
                nn.Upsample(scale_factor=factor, mode=interpolation, align_corners=False),
                conv(dims, in_channels, out_channels, kernel_size=1),
            )
        else:
            raise ValueError(f"up_mode must be 'transpose' or 'upsample', got {mode!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class Merge(nn.Module):
    """Join a decoder feature map with its encoder skip, by sum or by concatenation."""

    def __init__(self, mode: MergeMode) -> None:
        super().__init__()
        if mode not in ("add", "concat"):
            raise ValueError(f"merge_mode must be 'add' or 'concat', got {mode!r}")
        self.mode = mode

    def channels(self, out_channels: int) -> int:
        """Channels after merging two maps of `out_channels` each."""
        return out_channels * (2 if self.mode == "concat" else 1)

    def forward(self, up: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return up + skip if self.mode == "add" else torch.cat((up, skip), dim=1)


def pad_to_multiple(
    x: torch.Tensor, multiples: tuple[int, ...]
) -> tuple[torch.Tensor, tuple[slice, ...]]:
    """Pad the spatial dims of `x` up to multiples (reflect, or replicate when too small).

    Returns the padded tensor and the index that crops a same-size output back.
    """
    spatial = x.shape[2:]
    extra = [(-size) % m for size, m in zip(spatial, multiples)]
    crop = (slice(None), slice(None), *(slice(0, size) for size in spatial))
    if not any(extra):
        return x, crop
    pads: list[int] = []
    for amount in reversed(extra):
        pads += [0, amount]
    reflectable = all(amount < size for amount, size in zip(extra, spatial))
    return F.pad(x, pads, mode="reflect" if reflectable else "replicate"), crop
