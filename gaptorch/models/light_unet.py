"""A light, fast U-Net for image-to-image regression (Noise2Noise): values in, values out."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gaptorch.models.blocks import conv, pad_to_multiple, pool_kernel


class _DoubleConv(nn.Module):
    """Two 3x3 convolutions, each followed by a ReLU."""

    def __init__(self, dims: int, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.first = conv(dims, in_channels, out_channels)
        self.second = conv(dims, out_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.second(F.relu(self.first(x))))


class LightUNet(nn.Module):
    """Plain conv/ReLU U-Net: max-pool down, transposed conv up, concatenated skips.

    No input encoding and no normalisation layers (a tile's output depends only on its
    pixels, so tiled inference matches whole images). The output is the input plus a
    learned correction, which makes the untrained network the identity and speeds up
    early training of a denoiser.

    Args:
        in_channels: image channels; also output channels.
        dims: 2 or 3 spatial dimensions.
        depth: resolution levels (depth - 1 poolings).
        start_filters: channels at full resolution, doubled per level.
        pool_z: pool along Z too (3D only).
    """

    def __init__(
        self,
        in_channels: int = 1,
        dims: int = 2,
        depth: int = 3,
        start_filters: int = 24,
        pool_z: bool = True,
    ) -> None:
        super().__init__()
        if dims not in (2, 3):
            raise ValueError(f"dims must be 2 or 3, got {dims}")
        if depth < 1 or start_filters < 1 or in_channels < 1:
            raise ValueError("depth, start_filters and in_channels must be >= 1")
        self.in_channels, self.dims, self.depth = in_channels, dims, depth
        self.pool_factor = pool_kernel(dims, pool_z)
        self.multiples = tuple(f ** (depth - 1) for f in self.pool_factor)
        widths = [start_filters * 2**i for i in range(depth)]
        self.down = nn.ModuleList(
            _DoubleConv(dims, in_channels if i == 0 else widths[i - 1], widths[i])
            for i in range(depth)
        )
        self.pool = {2: nn.MaxPool2d, 3: nn.MaxPool3d}[dims](
            self.pool_factor, stride=self.pool_factor
        )
        transpose = {2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}[dims]
        self.up = nn.ModuleList(
            transpose(widths[i + 1], widths[i], self.pool_factor, stride=self.pool_factor)
            for i in reversed(range(depth - 1))
        )
        self.up_blocks = nn.ModuleList(
            _DoubleConv(dims, 2 * widths[i], widths[i]) for i in reversed(range(depth - 1))
        )
        self.head = conv(dims, widths[0], in_channels, kernel_size=1)

    @property
    def receptive_field(self) -> tuple[int, ...]:
        """Radius per spatial dim of the input one output pixel depends on (an upper bound)."""
        radii = []
        for factor in self.pool_factor:
            scale, radius = 1, 0
            for level in range(self.depth):
                if level:
                    radius += (factor - 1) * scale
                    scale *= factor
                radius += 2 * scale
            for _ in range(self.depth - 1):
                scale //= factor
                radius += factor * scale + 2 * scale
            radii.append(radius)
        return tuple(radii)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, *spatial) values -> (B, C, *spatial) estimate in the same units."""
        padded, crop = pad_to_multiple(x.float(), self.multiples)
        features, skips = padded, []
        for i, block in enumerate(self.down):
            features = block(features if i == 0 else self.pool(features))
            skips.append(features)
        for up, block, skip in zip(self.up, self.up_blocks, reversed(skips[:-1]), strict=True):
            features = block(torch.cat((up(features), skip), dim=1))
        return (padded + self.head(features))[crop]
