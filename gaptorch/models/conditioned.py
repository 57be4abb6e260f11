"""U-Net variants told the input's photon level: its pseudo-PSNR embedding conditions them.

GAP's network sees images from an empty canvas up to bright ones; the sine encoding
carries the level implicitly, these variants give it explicitly. The pseudo-PSNR is
measured per image (per tile under tiled inference; tiles of one image read nearly
the same level), so `receptive_field` still bounds the spatial context.
"""

from __future__ import annotations

import torch
from torch import nn

from gaptorch.models.attention import CrossAttention
from gaptorch.models.conditioning import EmbeddingShift, FiLM, PsnrEmbedding
from gaptorch.models.unet import UNet, stage_channels, unet_variant


class _LevelConditioned(UNet):
    """Shared part: a pseudo-PSNR embedding and one conditioning layer per stage."""

    conditioner: type[nn.Module] = EmbeddingShift

    def __init__(self, embedding: int = 32, **unet: object) -> None:
        super().__init__(**unet)
        self.psnr_embedding = PsnrEmbedding(embedding)
        self.conditioners = nn.ModuleList(
            self.conditioner(embedding, channels) for channels in stage_channels(self)
        )

    def context(self, counts: torch.Tensor) -> torch.Tensor | None:
        """The pseudo-PSNR embedding of each image."""
        return self.psnr_embedding(counts)

    def condition(self, x: torch.Tensor, stage: int, context: torch.Tensor | None) -> torch.Tensor:
        """Features conditioned on the embedding by this stage's layer."""
        return self.conditioners[stage](x, context)


@unet_variant
class PsnrConditionedUNet(_LevelConditioned):
    """Pseudo-PSNR embedding added to the features after every block: each level knows the level.

    A learned per-image bias telling each level how many photons it is looking at. Global
    information: the pseudo-PSNR is the mean over the whole image (tile).

    Args:
        embedding: size of the pseudo-PSNR embedding.
    """


@unet_variant
class FiLMUNet(_LevelConditioned):
    """FiLM from the pseudo-PSNR embedding after every block: scale features, not only shift.

    Per-channel scale and shift, so the photon level can turn features up or down. Global
    information: the pseudo-PSNR is the mean over the whole image (tile).

    Args:
        embedding: size of the pseudo-PSNR embedding.
    """

    conditioner = FiLM


@unet_variant
class CrossAttentionUNet(UNet):
    """Bottleneck cross-attention to pseudo-PSNR tokens: each position picks its level cues.

    The embedding is expanded into a few tokens the bottleneck positions attend to. Global
    information: the pseudo-PSNR is the mean over the whole image (tile); positions do not
    attend to each other, so `receptive_field` still bounds the spatial context.

    Args:
        embedding: size of the pseudo-PSNR embedding.
        context_tokens: tokens the embedding is expanded into.
        heads: attention heads; must divide the bottleneck channels.
    """

    def __init__(
        self, embedding: int = 32, context_tokens: int = 4, heads: int = 4, **unet: object
    ) -> None:
        super().__init__(**unet)
        self.psnr_embedding = PsnrEmbedding(embedding)
        self.cross_attention = CrossAttention(self.widths[-1], embedding, context_tokens, heads)

    def context(self, counts: torch.Tensor) -> torch.Tensor | None:
        """The pseudo-PSNR embedding of each image."""
        return self.psnr_embedding(counts)

    def bottleneck(self, x: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        """Bottleneck features after cross-attention to the embedding's tokens."""
        return self.cross_attention(x, context)
