"""The GAP U-Net (Krull et al. 2023): encoded counts in, next-photon logits out.

`UNet` builds its parts through small methods (`make_block`, `make_gate`, `context`,
`condition`, `bottleneck`, `output`) so the variants in `gaptorch.models.variants` change
one idea each by overriding one or two of them; `unet_variant` gives a variant the full
constructor signature (the base keywords plus its own), which is its model config. A
variant stores its own options before calling `UNet.__init__`, which builds the blocks
through the hooks.
"""

from __future__ import annotations

import inspect
from typing import TypeVar

import torch
from torch import nn
from torch.nn import functional as F

from gaptorch.models.blocks import (
    Merge,
    MergeMode,
    ResidualBlock,
    UpMode,
    Upsample,
    conv,
    pad_to_multiple,
    pool_kernel,
)
from gaptorch.models.encoding import PhotonEncoding

Variant = TypeVar("Variant", bound=type)


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
        log_skip: add `LogSkip` (about log(counts) where the image is bright) to the
            logits, so the network learns a correction to the noisy input instead of
            the input itself.
        contrast_input: feed `LocalContrast` (brightness-free deviations from the local
            mean) beside the sine encoding.
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
        log_skip: bool = False,
        contrast_input: bool = False,
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
        self.contrast = LocalContrast(dims) if contrast_input else None
        encoded = in_channels * (levels + (LocalContrast.channels if contrast_input else 0))
        self.widths = widths = [start_filters * 2**i for i in range(depth)]
        self.down = nn.ModuleList(
            self.make_block(dims, encoded if i == 0 else widths[i - 1], widths[i])
            for i in range(depth)
        )
        pool_cls = {2: nn.MaxPool2d, 3: nn.MaxPool3d}[dims]
        self.pool = pool_cls(factor, stride=factor)
        self.merge = Merge(merge_mode)
        decoder = list(reversed(range(depth - 1)))
        self.up = nn.ModuleList(
            Upsample(dims, widths[i + 1], widths[i], up_mode, factor) for i in decoder
        )
        self.up_blocks = nn.ModuleList(
            self.make_block(dims, self.merge.channels(widths[i]), widths[i]) for i in decoder
        )
        self.gates = nn.ModuleList(self.make_gate(dims, widths[i]) for i in decoder)
        self.head = conv(dims, widths[0], in_channels, kernel_size=1)
        self.block_radius = int(getattr(self.down[0], "radius", 3))
        self.log_skip = LogSkip(dims) if log_skip else None

    def make_block(self, dims: int, in_channels: int, out_channels: int) -> nn.Module:
        """The convolution block of one level (encoder and decoder)."""
        return ResidualBlock(dims, in_channels, out_channels)

    def make_gate(self, dims: int, channels: int) -> nn.Module:
        """What an encoder skip passes through before merging (`gate(skip, upsampled)`)."""
        return _PassSkip()

    def context(self, counts: torch.Tensor) -> torch.Tensor | None:
        """Per-image side information from the unpadded counts (None: no conditioning)."""
        return None

    def condition(self, x: torch.Tensor, stage: int, context: torch.Tensor | None) -> torch.Tensor:
        """Features after block `stage` (encoder 0..depth-1, then decoder), conditioned."""
        return x

    def bottleneck(self, x: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        """Features at the lowest resolution, before decoding."""
        return x

    def output(self, features: list[torch.Tensor], crop: tuple[slice, ...]) -> torch.Tensor:
        """Logits from the decoder features, coarsest (bottleneck) first, full resolution last."""
        return self.head(features[-1])[crop]

    @property
    def receptive_field(self) -> tuple[int, ...]:
        """Radius per spatial dim of the input region one output pixel depends on (an upper bound).

        `block_radius` pixels per block and level (three 3x3 convolutions: 3), pooling
        windows going down, and upsampling (counted as one coarse pixel either side)
        coming up, plus the contrast input's window; the log skip's window, if wider,
        bounds it instead (the skip runs beside the U-Net, not after it). Tiling uses it to
        choose the overlap.
        """
        radii = []
        for factor in self.pool_factor:
            scale, radius = 1, 0
            for level in range(self.depth):
                if level:
                    radius += (factor - 1) * scale
                    scale *= factor
                radius += self.block_radius * scale
            for _ in range(self.depth - 1):
                scale //= factor
                radius += factor * scale + self.block_radius * scale
            radius += self.contrast.radius if self.contrast is not None else 0
            radii.append(max(radius, self.log_skip.radius) if self.log_skip else radius)
        return tuple(radii)

    def forward(self, counts: torch.Tensor) -> torch.Tensor:
        """(B, C, *spatial) photon counts -> (B, C, *spatial) next-photon logits."""
        counts = counts.float()
        padded, crop = pad_to_multiple(counts, self.multiples)
        context = self.context(counts)
        x = self.encoding(padded)
        if self.contrast is not None:
            x = torch.cat([x, self.contrast(padded)], dim=1)
        skips = []
        for i, block in enumerate(self.down):
            x = self.condition(block(x if i == 0 else self.pool(x)), i, context)
            skips.append(x)
        x = self.bottleneck(x, context)
        features = [x]
        stages = zip(self.up, self.up_blocks, self.gates, reversed(skips[:-1]), strict=False)
        for j, (up, block, gate, skip) in enumerate(stages):
            upsampled = up(x)
            x = block(self.merge(upsampled, gate(skip, upsampled)))
            x = self.condition(x, self.depth + j, context)
            features.append(x)
        logits = self.output(features, crop)
        return logits if self.log_skip is None else logits + self.log_skip(counts)


class LocalMean(nn.Module):
    """Mean count over a (2 * radius + 1)-wide window, averaging only pixels inside the image."""

    def __init__(self, dims: int, radius: int) -> None:
        super().__init__()
        self.radius = radius
        self.pool = {2: nn.AvgPool2d, 3: nn.AvgPool3d}[dims](2 * radius + 1, stride=1)

    def forward(self, counts: torch.Tensor) -> torch.Tensor:
        """(B, C, *spatial) counts -> local means, same shape."""
        margin = [self.radius] * (2 * (counts.dim() - 2))
        inside = torch.ones_like(counts[:1, :1])
        return self.pool(F.pad(counts, margin)) / self.pool(F.pad(inside, margin))


class LocalContrast(nn.Module):
    """Two input channels per image channel that read alike at every brightness.

    `tanh(z / 4)` of `z = (x - m) / sqrt(m + 1)`, a pixel's deviation from its local
    mean m in shot-noise units, and `log1p(m) / 8`. The sine encoding shows a bright
    pixel's few-percent excess over its neighbours only as a small change of a feature
    near +-1 (a network on it gained 0.1 dB over the input at 128 photons/pixel); here
    that excess reads alike at every brightness. The tanh bounds edges, whose z grows
    as the square root of the level, to the sines' range: unbounded, or as 4 tanh(z/4),
    the feature killed the network (every ReLU off) within 250 steps of the gap-fluo-2d
    recipe.
    """

    bound = 4.0

    channels = 2

    def __init__(self, dims: int, radius: int = 3) -> None:
        super().__init__()
        self.mean = LocalMean(dims, radius)
        self.radius = radius

    def forward(self, counts: torch.Tensor) -> torch.Tensor:
        """(B, C, *spatial) counts -> (B, 2 C, *spatial), deviations then log means."""
        m = self.mean(counts)
        deviation = torch.tanh((counts - m) / torch.sqrt(m + 1.0) / self.bound)
        return torch.cat([deviation, torch.log1p(m) / 8.0], dim=1)


class LogSkip(nn.Module):
    """`g * log1p(x)` with the gate `g = m**2 / (m**2 + 30**2)` of the local mean count m.

    Bright regions of a photon image are already good estimates of themselves, and
    logits = log(x) reproduce them, so there the network only learns a correction. At
    a few photons per pixel log1p(x) is a spike at every photon that the network would
    have to unlearn; the gate switches it off there (half on at 30 photons per pixel,
    where shot noise is 18 %). m averages a (2 * radius + 1)-wide window, so a tile's
    output still depends only on nearby pixels. Measured on gap-fluo-2d's recipe (1000
    steps): this fixed gate beat m / (m + m0) with m0 learnt, and a learnt half point
    and slope, below 8 photons per pixel and was within 0.3 dB of them above.
    """

    half_point = 30.0

    def __init__(self, dims: int, radius: int = 8) -> None:
        super().__init__()
        self.radius = radius
        self.mean = LocalMean(dims, radius)

    def forward(self, counts: torch.Tensor) -> torch.Tensor:
        """(B, C, *spatial) counts -> the gated log counts, same shape."""
        local_mean = self.mean(counts)
        gate = local_mean**2 / (local_mean**2 + self.half_point**2)
        return gate * torch.log1p(counts)


class _PassSkip(nn.Module):
    """The plain U-Net skip: the encoder features unchanged."""

    def forward(self, skip: torch.Tensor, upsampled: torch.Tensor) -> torch.Tensor:
        return skip


def unet_variant(cls: Variant) -> Variant:
    """Give a `UNet` subclass the signature of all of `UNet`'s keywords plus its own.

    A variant's `__init__(self, own=..., **unet)` forwards the rest to `UNet` (through
    any variant it inherits from); `architecture_config` binds the signature set here,
    so a saved config lists every keyword with its default.
    """
    parameters: dict[str, inspect.Parameter] = {}
    for klass in reversed(cls.__mro__[: cls.__mro__.index(UNet) + 1]):
        if "__init__" not in vars(klass):
            continue
        for name, parameter in inspect.signature(vars(klass)["__init__"]).parameters.items():
            if name != "self" and parameter.kind is not inspect.Parameter.VAR_KEYWORD:
                parameters[name] = parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY)
    cls.__signature__ = inspect.Signature(list(parameters.values()))  # type: ignore[attr-defined]
    return cls


def stage_channels(network: UNet) -> list[int]:
    """Channels after each `condition` stage: the encoder levels, then the decoder levels."""
    widths = network.widths
    return widths + [widths[i] for i in reversed(range(network.depth - 1))]
