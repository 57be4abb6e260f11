"""What every method's trainer shares: a seeded new network and the record of a run."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from gaptorch.config import to_dict
from gaptorch.models import architecture_config, build
from gaptorch.training import TrainConfig, TrainResult


def seeded_network(
    architecture: str, kwargs: dict[str, Any], seed: int | None
) -> tuple[nn.Module, dict[str, Any]]:
    """A new network and its full config, initialised from `seed` (global RNG untouched)."""
    config = architecture_config(architecture, **kwargs)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0 if seed is None else seed)
        return build(architecture, **config), config


def run_record(
    result: TrainResult,
    config: TrainConfig,
    *,
    name: str,
    sources: list[str],
    device: torch.device,
    patch: tuple[int, ...],
) -> dict[str, Any]:
    """The `training` section of a model's spec: data, settings, time and final losses."""
    last = result.history[-1] if result.history else {}
    return {
        "name": name,
        "sources": sources,
        "steps": config.steps,
        "seconds": round(result.seconds, 1),
        "device": str(device),
        "patch": list(patch),
        "config": to_dict(config),
        "final_loss": finite(last.get("loss", math.nan)),
        "final_val_loss": finite(last.get("val_loss", math.nan)),
    }


def finite(value: float) -> float | None:
    """`value` rounded, or None for NaN (JSON has no NaN)."""
    return None if math.isnan(value) else round(value, 6)
