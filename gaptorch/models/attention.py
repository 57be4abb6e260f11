"""Attention pieces for the U-Net variants: skip gates, CBAM, self- and cross-attention.

The gates and CBAM's spatial attention are local (convolutions); CBAM's channel attention
and the two attention layers look at a whole image (or tile) at once.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gaptorch.models.blocks import conv


class SkipGate(nn.Module):
    """Convolutional and attention gates on an encoder skip (Oktay et al. 2018, additive).

    The skip is multiplied by a gate computed from the skip alone (3x3 convolution) and
    by an attention gate from skip and decoder signal together (1x1 convolutions), so the
    decoder can suppress encoder features that only carry noise.
    """

    def __init__(self, dims: int, channels: int) -> None:
        super().__init__()
        hidden = max(1, channels // 2)
        self.conv_gate = conv(dims, channels, channels)
        self.from_skip = conv(dims, channels, hidden, kernel_size=1)
        self.from_decoder = conv(dims, channels, hidden, kernel_size=1)
        self.attention = conv(dims, hidden, 1, kernel_size=1)

    def forward(self, skip: torch.Tensor, upsampled: torch.Tensor) -> torch.Tensor:
        """The skip, gated."""
        attention = torch.sigmoid(
            self.attention(F.relu(self.from_skip(skip) + self.from_decoder(upsampled)))
        )
        return skip * torch.sigmoid(self.conv_gate(skip)) * attention


class CBAM(nn.Module):
    """Convolutional block attention (Woo et al. 2018): channel, then spatial attention.

    Channel attention pools each image (or tile) globally; spatial attention is a 7x7
    convolution over the channel mean and max (adds 3 pixels of radius).
    """

    radius = 3

    def __init__(self, dims: int, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.channel_mlp = nn.Sequential(
            nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, channels)
        )
        self.spatial = conv(dims, 2, 1, kernel_size=7)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features re-weighted by channel, then by position."""
        spatial_dims = tuple(range(2, x.ndim))
        average, maximum = x.mean(dim=spatial_dims), x.amax(dim=spatial_dims)
        channel = torch.sigmoid(self.channel_mlp(average) + self.channel_mlp(maximum))
        x = x * channel.view(*channel.shape, *([1] * len(spatial_dims)))
        pooled = torch.cat((x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)), dim=1)
        return x * torch.sigmoid(self.spatial(pooled))


class WithAttention(nn.Module):
    """A block followed by an attention module; the radii add up."""

    def __init__(self, block: nn.Module, attention: nn.Module) -> None:
        super().__init__()
        self.block, self.attention = block, attention
        self.radius = int(getattr(block, "radius", 3)) + int(getattr(attention, "radius", 0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block's output through the attention."""
        return self.attention(self.block(x))


def _tokens(x: torch.Tensor) -> torch.Tensor:
    """(B, C, *spatial) -> (B, N, C): one token per position."""
    return x.flatten(2).transpose(1, 2)


def _check_heads(channels: int, heads: int) -> None:
    if heads < 1 or channels % heads:
        raise ValueError(
            f"heads must be >= 1 and divide the {channels} bottleneck channels, got {heads}"
        )


class SelfAttention(nn.Module):
    """Pre-norm multi-head self-attention over all positions, with a residual connection.

    LayerNorm normalises each position's channels (nothing is shared across images);
    the attention itself mixes the whole image (or tile).
    """

    def __init__(self, channels: int, heads: int) -> None:
        super().__init__()
        _check_heads(channels, heads)
        self.norm = nn.LayerNorm(channels)
        self.attention = nn.MultiheadAttention(channels, heads, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features plus their self-attention (same shape)."""
        tokens = self.norm(_tokens(x))
        mixed, _ = self.attention(tokens, tokens, tokens, need_weights=False)
        return x + mixed.transpose(1, 2).reshape(x.shape)


class CrossAttention(nn.Module):
    """Positions attend to a few context tokens made from a per-image embedding.

    Args:
        channels: feature channels (queries).
        embedding: size of the context vector the tokens are made from.
        tokens: how many tokens the context vector is expanded into.
        heads: attention heads (must divide `channels`).
    """

    def __init__(self, channels: int, embedding: int, tokens: int, heads: int) -> None:
        super().__init__()
        _check_heads(channels, heads)
        if tokens < 1:
            raise ValueError(f"tokens must be >= 1, got {tokens}")
        self.channels, self.count = channels, tokens
        self.to_tokens = nn.Linear(embedding, tokens * channels)
        self.norm = nn.LayerNorm(channels)
        self.attention = nn.MultiheadAttention(channels, heads, batch_first=True)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """Features plus their attention to the context tokens (same shape)."""
        keys = self.to_tokens(context).view(x.shape[0], self.count, self.channels)
        mixed, _ = self.attention(self.norm(_tokens(x)), keys, keys, need_weights=False)
        return x + mixed.transpose(1, 2).reshape(x.shape)
