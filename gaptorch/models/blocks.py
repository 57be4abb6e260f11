"""Building blocks shared by every U-Net in the registry, for 2D and 3D."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

UpMode = Literal["transpose", "upsample"]
MergeMode = Literal["add", "concat"]


ConvFactory = Callable[..., nn.Module]


def conv(
    dims: int, in_channels: int, out_channels: int, kernel_size: int = 3, dilation: int = 1
) -> nn.Module:
    """A same-size convolution in `dims` (2 or 3) spatial dimensions."""
    cls = {2: nn.Conv2d, 3: nn.Conv3d}[dims]
    padding = dilation * (kernel_size // 2)
    return cls(in_channels, out_channels, kernel_size, padding=padding, dilation=dilation)


def pool_kernel(dims: int, pool_z: bool) -> tuple[int, ...]:
    """Pooling factor per spatial dim: 2 everywhere, or Z kept when `pool_z` is False."""
    if dims == 2:
        return (2, 2)
    return (2 if pool_z else 1, 2, 2)


class ResidualBlock(nn.Module):
    """Three convolutions with a residual connection around the last two.

    Args:
        dilations: dilation of each of the three 3x3 convolutions (hybrid dilated
            blocks use e.g. (1, 2, 3): a wider view with no gridding holes).
        make_conv: builds each convolution, `(dims, in, out, dilation=d)`; dynamic
            blocks swap in `DynamicConv`.

    Attributes:
        radius: pixels one output pixel sees on each side, at this block's resolution.
    """

    def __init__(
        self,
        dims: int,
        in_channels: int,
        out_channels: int,
        dilations: Sequence[int] = (1, 1, 1),
        make_conv: ConvFactory = conv,
    ) -> None:
        super().__init__()
        if len(dilations) != 3 or min(dilations) < 1:
            raise ValueError(f"dilations must be three ints >= 1, got {tuple(dilations)}")
        first, second, third = dilations
        self.entry = make_conv(dims, in_channels, out_channels, dilation=first)
        self.conv_a = make_conv(dims, out_channels, out_channels, dilation=second)
        self.conv_b = make_conv(dims, out_channels, out_channels, dilation=third)
        self.radius = sum(dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features of the block (same spatial size)."""
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
        """Upsampled features."""
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
        """Merged features."""
        return up + skip if self.mode == "add" else torch.cat((up, skip), dim=1)


def pad_to_multiple(
    x: torch.Tensor, multiples: tuple[int, ...]
) -> tuple[torch.Tensor, tuple[slice, ...]]:
    """Pad the spatial dims of `x` up to multiples (reflect, or replicate when too small).

    Returns the padded tensor and the index that crops a same-size output back.
    """
    spatial = x.shape[2:]
    extra = [(-size) % m for size, m in zip(spatial, multiples, strict=False)]
    crop = (slice(None), slice(None), *(slice(0, size) for size in spatial))
    if not any(extra):
        return x, crop
    pads: list[int] = []
    for amount in reversed(extra):
        pads += [0, amount]
    reflectable = all(amount < size for amount, size in zip(extra, spatial, strict=False))
    return F.pad(x, pads, mode="reflect" if reflectable else "replicate"), crop


class GatedResidualBlock(ResidualBlock):
    """A residual block whose residual branch passes a learned sigmoid gate per pixel.

    The gate lets a level switch its correction off where the skip path already fits
    (the "residual gated" U-Net); same radius as `ResidualBlock`.
    """

    def __init__(self, dims: int, in_channels: int, out_channels: int) -> None:
        super().__init__(dims, in_channels, out_channels)
        self.gate = conv(dims, out_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features of the block (same spatial size)."""
        skip = self.entry(x)
        hidden = F.relu(self.conv_a(skip))
        return F.relu(skip + torch.sigmoid(self.gate(hidden)) * self.conv_b(hidden))


class DenseBlock(nn.Module):
    """A DenseNet block: every 3x3 convolution sees the concatenation of all before it.

    Feature reuse gives more depth per parameter; a 1x1 transition maps back to
    `out_channels`, with a residual connection to the entry features.

    Args:
        layers: densely connected convolutions after the entry convolution.
        growth: channels each of them adds (default: out_channels // 2, at least 4).
    """

    def __init__(
        self,
        dims: int,
        in_channels: int,
        out_channels: int,
        layers: int = 3,
        growth: int | None = None,
    ) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError(f"dense_layers must be >= 1, got {layers}")
        growth = growth or max(4, out_channels // 2)
        self.entry = conv(dims, in_channels, out_channels)
        self.layers = nn.ModuleList(
            conv(dims, out_channels + i * growth, growth) for i in range(layers)
        )
        self.transition = conv(dims, out_channels + layers * growth, out_channels, kernel_size=1)
        self.radius = 1 + layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features of the block (same spatial size)."""
        entry = F.relu(self.entry(x))
        features = [entry]
        for layer in self.layers:
            features.append(F.relu(layer(torch.cat(features, dim=1))))
        return F.relu(self.transition(torch.cat(features, dim=1)) + entry)


class DynamicConv(nn.Module):
    """Dynamic convolution (Chen et al. 2020): per image, a softmax mix of K kernels.

    The mixing weights come from the image's global mean features, so the filters adapt
    to the photon level and content of each image (or tile: that global mean is the one
    piece of information shared across a whole tile).

    Args:
        kernels: K, the number of kernels mixed.
        temperature: softmax temperature of the mixing weights (high: near-uniform start).
    """

    def __init__(
        self,
        dims: int,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        dilation: int = 1,
        kernels: int = 4,
        temperature: float = 4.0,
    ) -> None:
        super().__init__()
        if kernels < 1:
            raise ValueError(f"kernels must be >= 1, got {kernels}")
        self.dims, self.dilation, self.temperature = dims, dilation, temperature
        template = conv(dims, in_channels, out_channels, kernel_size, dilation)
        self.padding = template.padding
        # K perturbed copies of one default initialisation: any mix starts out as an
        # ordinary, well-scaled convolution, and the copies differ enough to specialise.
        weight = template.weight.detach()
        copies = [weight * (1 + 0.1 * torch.randn_like(weight)) for _ in range(kernels)]
        self.weight = nn.Parameter(torch.stack(copies))
        self.bias = nn.Parameter(torch.zeros(kernels, out_channels))
        self.attention = nn.Linear(in_channels, kernels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in, *spatial) -> (B, out, *spatial), one kernel mix per image."""
        batch, channels, *spatial = x.shape
        pooled = x.mean(dim=tuple(range(2, x.ndim)))
        mix = torch.softmax(self.attention(pooled) / self.temperature, dim=1)
        weight = torch.einsum("bk,ko...->bo...", mix, self.weight)
        bias = mix @ self.bias
        functional = F.conv2d if self.dims == 2 else F.conv3d
        out = functional(
            x.reshape(1, batch * channels, *spatial),
            weight.reshape(-1, *weight.shape[2:]),
            bias.reshape(-1),
            padding=self.padding,
            dilation=self.dilation,
            groups=batch,
        )
        return out.reshape(batch, -1, *out.shape[2:])
