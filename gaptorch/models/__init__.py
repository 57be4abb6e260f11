"""Networks by name: `build("unet", dims=3)` makes any registered architecture."""

from __future__ import annotations

import inspect
from typing import Any

from torch import nn

from gaptorch.models.cascade import Cascade
from gaptorch.models.conditioned import CrossAttentionUNet, FiLMUNet, PsnrConditionedUNet
from gaptorch.models.ddpm_unet import DDPMUNet
from gaptorch.models.light_unet import LightUNet
from gaptorch.models.multiscale import (
    DeepSupervisionUNet,
    HierarchicalDynamicUNet,
    HierarchicalUNet,
)
from gaptorch.models.unet import UNet
from gaptorch.models.variants import (
    AttentionUNet,
    CBAMUNet,
    DenseUNet,
    DilatedUNet,
    DynamicUNet,
    GatedUNet,
)

ARCHITECTURES: dict[str, type[nn.Module]] = {
    "unet": UNet,
    "light_unet": LightUNet,
    "ddpm_unet": DDPMUNet,
}
# The seed study's U-Net variants (one idea each) and the cascade of slice members.
ARCHITECTURES.update(
    {
        "unet_attention": AttentionUNet,
        "unet_cbam": CBAMUNet,
        "unet_cross_attention": CrossAttentionUNet,
        "unet_deep_supervision": DeepSupervisionUNet,
        "unet_dense": DenseUNet,
        "unet_dilated": DilatedUNet,
        "unet_dynamic": DynamicUNet,
        "unet_film": FiLMUNet,
        "unet_gated": GatedUNet,
        "unet_hierarchical": HierarchicalUNet,
        "unet_hierarchical_dynamic": HierarchicalDynamicUNet,
        "unet_psnr_conditioned": PsnrConditionedUNet,
        "cascade": Cascade,
    }
)


def list_architectures() -> list[str]:
    """Names accepted by `build`, sorted."""
    return sorted(ARCHITECTURES)


def architecture_config(name: str, **kwargs: Any) -> dict[str, Any]:
    """The full constructor keywords of `name` with defaults filled in (a model's config).

    Raises:
        ValueError: unknown name, or keywords the architecture does not take.
    """
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {name!r}; known: {', '.join(list_architectures())}")
    signature = inspect.signature(ARCHITECTURES[name])
    try:
        bound = signature.bind(**kwargs)
    except TypeError as error:
        raise ValueError(f"architecture {name!r}: {error}") from None
    bound.apply_defaults()
    return dict(bound.arguments)


def build(name: str, **kwargs: Any) -> nn.Module:
    """Build the network registered as `name` with constructor keywords `kwargs`.

    Raises:
        ValueError: unknown name or keywords.
    """
    config = architecture_config(name, **kwargs)
    return ARCHITECTURES[name](**config)


__all__ = [
    "ARCHITECTURES",
    "DDPMUNet",
    "LightUNet",
    "UNet",
    "architecture_config",
    "build",
    "list_architectures",
]
