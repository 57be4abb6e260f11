"""The GAP U-Net (Krull et al. 2023): encoded counts in, next-photon logits out."""

from __future__ import annotations

import torch
from torch import nn

from gaptorch.models.blocks import (
    Merge,
    MergeMode,
    ResidualBlock,
    Upsample,
    UpMode,
    pad_to_multiple,
    pool_kernel,
)
from gaptorch.models.encoding import PhotonEncoding


class UNet(nn.Module):
    """Original GAP U-Net: residual blocks, max-pool down, transposed-conv up, additive skips.

    Works in 2D (B, C, H, W) and 3D (B, C, D, H, W); any spatial size (padded internally
    to a multiple of 2**(depth-1), the output cropped back). No normalisation layers, so a
    tile's output depends only on its pixels, which makes tiled inference exact.

    Args:
        in_channels: image channels (1 for microscopy, 3 for RGB); also output channels.
        dims: 2 or 3 spatial dimensions.
        depth: resolution levels (depth - 1 poolings).
        start_filters: channels at full resolution, doubled per level.
        levels: sine-encoding levels of the input counts.
        up_mode: "transpose" or "upsample" (resize + 1x1 conv).
        merge_mode: "add" or "concat" skips.
        pool_z: pool along Z too (3D only); False keeps thin stacks' Z resolution.
    """

    def __init__(
        self,
        in_channels: int = 1,
        dims: int = 2,
        depth: int = 4,
        start_filters: int = 32,
        levels: int = 10,
        up_mode: UpMode = "transpose",
        merge_mode: MergeMode = "add",
        pool_z: bool = True,
    ) -> None:
        super().__init__()
        if dims not in (2, 3):
            raise ValueError(f"dims must be 2 or 3, got {dims}")
        if depth < 1 or start_filters < 1 or in_channels < 1:
            raise ValueError("depth, start_filters and in_channels must be >= 1")
        self.in_channels, self.dims, self.depth = in_channels, dims, depth
        factor = pool_kernel(dims, pool_z)
        self.pool_factor = factor
        self.multiples = tuple(f ** (depth - 1) for f in factor)
        self.encoding = PhotonEncoding(levels)
        widths = [start_filters * 2**i for i in range(depth)]
        self.down = nn.ModuleList(
            ResidualBlock(dims, in_channels * levels if i == 0 else widths[i - 1], widths[i])
            for i in range(depth)
        )
        pool_cls = {2: nn.MaxPool2d, 3: nn.MaxPool3d}[dims]
        self.pool = pool_cls(factor, stride=factor)
        self.merge = Merge(merge_mode)
        self.up = nn.ModuleList(
            Upsample(dims, widths[i + 1], widths[i], up_mode, factor) for i in reversed(range(depth - 1))
        )
        self.up_blocks = nn.ModuleList(
            ResidualBlock(dims, self.merge.channels(widths[i]), widths[i])
            for i in reversed(range(depth - 1))
        )
        self.head = nn.Conv2d(widths[0], in_channels, 1) if dims == 2 else nn.Conv3d(widths[0], in_channels, 1)

    @property
    def receptive_field(self) -> tuple[int, ...]:
        """Radius per spatial dim of the input region one output pixel depends on (an upper bound).

        Three 3x3 convolutions per block and level, pooling windows going down, and
        upsampling (counted as one coarse pixel either side) coming up. Tiling uses it
        to choose the overlap.
        """
        radii = []
        for factor in self.pool_factor:
            scale, radius = 1, 0
            for level in range(self.depth):
                if level:
                    radius += (factor - 1) * scale
                    scale *= factor
                radius += 3 * scale
            for _ in range(self.depth - 1):
                scale //= factor
                radius += factor * scale + 3 * scale
            radii.append(radius)
        return tuple(radii)

    def forward(self, counts: torch.Tensor) -> torch.Tensor:
        """(B, C, *spatial) photon counts -> (B, C, *spatial) next-photon logits."""
        padded, crop = pad_to_multiple(counts.float(), self.multiples)
        x = self.encoding(padded)
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else self.pool(x))
            skips.append(x)
        for up, block, skip in zip(self.up, self.up_blocks, reversed(skips[:-1])):
            x = block(self.merge(up(x), skip))
        return self.head(x)[crop]
