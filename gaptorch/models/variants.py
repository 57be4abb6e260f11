"""U-Net variants that change the block, the skips or the bottleneck (one idea each).

All take GAP's photon encoding and return next-photon logits like `UNet`, in 2D and 3D,
on any input size. The receptive field of the convolutions is known; variants with
global pooling or attention say what that means for tiled inference.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from gaptorch.models.attention import CBAM, SelfAttention, SkipGate, WithAttention
from gaptorch.models.blocks import DenseBlock, DynamicConv, GatedResidualBlock, ResidualBlock
from gaptorch.models.unet import UNet, unet_variant


@unet_variant
class GatedUNet(UNet):
    """Gated residual blocks and conv + attention gates on skips: shut out noise-only features.

    All gates are local (convolutions): tiled inference stays exact.
    """

    def make_block(self, dims: int, in_channels: int, out_channels: int) -> nn.Module:
        """A gated residual block."""
        return GatedResidualBlock(dims, in_channels, out_channels)

    def make_gate(self, dims: int, channels: int) -> nn.Module:
        """Conv and attention gates on the skip."""
        return SkipGate(dims, channels)


@unet_variant
class DilatedUNet(UNet):
    """Hybrid dilated blocks (dilations 1, 2, 3): a wider view per level at the same cost.

    Unequal dilations avoid the gridding holes of equal ones.

    Args:
        dilations: dilation of the three convolutions of each block.
    """

    def __init__(self, dilations: tuple[int, int, int] = (1, 2, 3), **unet: object) -> None:
        self.dilations = tuple(dilations)
        super().__init__(**unet)

    def make_block(self, dims: int, in_channels: int, out_channels: int) -> nn.Module:
        """A residual block with hybrid dilations."""
        return ResidualBlock(dims, in_channels, out_channels, dilations=self.dilations)


@unet_variant
class CBAMUNet(UNet):
    """CBAM after every block: re-weight features by what the image shows (channels) and where.

    Channel attention pools globally over each image (tile); `receptive_field` covers the
    convolutions only, so tiled output can differ slightly from the whole image's.
    """

    def make_block(self, dims: int, in_channels: int, out_channels: int) -> nn.Module:
        """A residual block followed by CBAM."""
        return WithAttention(
            ResidualBlock(dims, in_channels, out_channels), CBAM(dims, out_channels)
        )


@unet_variant
class AttentionUNet(UNet):
    """Self-attention at the lowest resolution: long-range context convolutions reach only slowly.

    Repeated structures and the overall brightness are seen at once.

    The attention is global over each image (tile); `receptive_field` covers the
    convolutions only, so tiled and whole-image outputs differ.

    Args:
        heads: attention heads; must divide the bottleneck channels.
    """

    def __init__(self, heads: int = 4, **unet: object) -> None:
        super().__init__(**unet)
        self.attention = SelfAttention(self.widths[-1], heads)

    def bottleneck(self, x: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        """Bottleneck features plus their self-attention."""
        return self.attention(x)


@unet_variant
class DenseUNet(UNet):
    """Dense blocks: each convolution sees all earlier ones of its level (more depth per weight).

    Args:
        dense_layers: densely connected convolutions per block.
        growth: channels each adds (None: half the level's channels, at least 4).
    """

    def __init__(self, dense_layers: int = 3, growth: int | None = None, **unet: object) -> None:
        self.dense_layers, self.growth = dense_layers, growth
        super().__init__(**unet)

    def make_block(self, dims: int, in_channels: int, out_channels: int) -> nn.Module:
        """A dense block."""
        return DenseBlock(dims, in_channels, out_channels, self.dense_layers, self.growth)


@unet_variant
class DynamicUNet(UNet):
    """Dynamic convolutions (attention over K kernels): filter dark and bright inputs differently.

    Each convolution mixes its K kernels per image, weighted by attention over its mean features.

    The mixing weights use each image's (tile's) global mean; `receptive_field` covers
    the convolutions only.

    Args:
        kernels: K, kernels per convolution.
    """

    def __init__(self, kernels: int = 4, **unet: object) -> None:
        self.kernels = kernels
        super().__init__(**unet)

    def make_block(self, dims: int, in_channels: int, out_channels: int) -> nn.Module:
        """A residual block of dynamic convolutions."""
        make_conv = partial(DynamicConv, kernels=self.kernels)
        return ResidualBlock(dims, in_channels, out_channels, make_conv=make_conv)
