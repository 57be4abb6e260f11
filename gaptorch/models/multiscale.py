"""U-Net variants with logits at every decoder level: deep supervision and hierarchical output.

Each coarse level gets a 1x1 logit head; its logits are resized (linear interpolation)
to full resolution and cropped like the main output, so every level predicts the same
next-photon distribution at its own scale.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gaptorch.models.blocks import conv
from gaptorch.models.unet import UNet, unet_variant
from gaptorch.models.variants import DynamicUNet


def _coarse_heads(network: UNet) -> nn.ModuleList:
    """1x1 logit heads for the bottleneck and the decoder levels above full resolution."""
    widths = [network.widths[i] for i in reversed(range(1, network.depth))]
    return nn.ModuleList(conv(network.dims, w, network.in_channels, kernel_size=1) for w in widths)


def _resized(logits: torch.Tensor, size: torch.Size) -> torch.Tensor:
    """Logits interpolated to the full (padded) resolution."""
    mode = "bilinear" if logits.ndim == 4 else "trilinear"
    return F.interpolate(logits, size=size, mode=mode, align_corners=False)


@unet_variant
class DeepSupervisionUNet(UNet):
    """Auxiliary logit heads on coarse decoder levels: gradients reach the deep layers directly.

    The heads are trained with the same photon loss, so each level learns a usable estimate.

    `forward` returns the main logits. In training mode it also leaves the auxiliary
    logits (each shaped like the output) in `auxiliary_logits`;
    `gaptorch.methods.auxiliary.with_auxiliary_loss` adds `auxiliary_weight` times their
    mean loss to the objective (GAP training does this for every network with the
    attribute). In eval mode the list is empty.

    Args:
        auxiliary_weight: weight of the mean auxiliary loss.
    """

    def __init__(self, auxiliary_weight: float = 0.5, **unet: object) -> None:
        super().__init__(**unet)
        if not auxiliary_weight >= 0:
            raise ValueError(f"auxiliary_weight must be >= 0, got {auxiliary_weight}")
        self.auxiliary_weight = float(auxiliary_weight)
        self.auxiliary_heads = _coarse_heads(self)
        self.auxiliary_logits: list[torch.Tensor] = []

    def output(self, features: list[torch.Tensor], crop: tuple[slice, ...]) -> torch.Tensor:
        """The main logits; in training mode also sets `auxiliary_logits`."""
        size = features[-1].shape[2:]
        coarse = zip(self.auxiliary_heads, features[:-1], strict=True)
        self.auxiliary_logits = (
            [_resized(head(f), size)[crop] for head, f in coarse] if self.training else []
        )
        return super().output(features, crop)


@unet_variant
class HierarchicalUNet(UNet):
    """Logits of every level merged by a learned 1x1 conv: coarse smooth intensity, fine detail.

    Each level's logits are resized to full resolution before the merge.
    """

    def __init__(self, **unet: object) -> None:
        super().__init__(**unet)
        self.level_heads = _coarse_heads(self)
        self.fuse = conv(self.dims, self.in_channels * self.depth, self.in_channels, kernel_size=1)

    def output(self, features: list[torch.Tensor], crop: tuple[slice, ...]) -> torch.Tensor:
        """The merged logits of all levels."""
        size = features[-1].shape[2:]
        coarse = zip(self.level_heads, features[:-1], strict=True)
        logits = [_resized(head(f), size) for head, f in coarse]
        return self.fuse(torch.cat([*logits, self.head(features[-1])], dim=1))[crop]


@unet_variant
class HierarchicalDynamicUNet(HierarchicalUNet, DynamicUNet):
    """Hierarchical outputs on dynamic-convolution blocks: adaptive filters, multi-scale logits.

    Combines `HierarchicalUNet` and `DynamicUNet`.

    The mixing weights use each image's (tile's) global mean; `receptive_field` covers
    the convolutions only.
    """
