"""What every method's trainer shares: layout and network options, a seeded network, a record."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from gaptorch.config import to_dict
from gaptorch.model_folder import WEIGHTS_NAME, load_model_folder
from gaptorch.models import architecture_config, build
from gaptorch.pretrained import resolve_model_path, sha256_of
from gaptorch.training import TrainConfig, TrainResult
from gaptorch.training_data import infer_network_shape


@dataclass(frozen=True)
class ModelOptions:
    """The training options about data layout and network that every method takes."""

    axes: str | None
    architecture: str
    network: dict[str, Any]
    dims: int | None
    channels: int | None
    name: str | None
    init: str | None = None

    @classmethod
    def take(cls, options: dict[str, Any], architecture: str) -> ModelOptions:
        """Pop these options from `options` (`architecture`: the method's default).

        What is left goes to the method's and the loop's settings.
        """
        return cls(
            axes=options.pop("axes", None),
            architecture=options.pop("architecture", architecture),
            network=dict(options.pop("network", None) or {}),
            dims=options.pop("dims", None),
            channels=options.pop("channels", None),
            name=options.pop("name", None),
            init=options.pop("init", None),
        )

    def shape(self, data: Any) -> tuple[int, int]:
        """(dims, channels): given as options, in `network`, or inferred from `data`."""
        dims = self.dims or self.network.get("dims")
        channels = self.channels or self.network.get("in_channels")
        if dims is None or channels is None:
            inferred_dims, inferred_channels = infer_network_shape(data, self.axes)
            dims, channels = dims or inferred_dims, channels or inferred_channels
        return int(dims), int(channels)

    def network_kwargs(self, dims: int, channels: int) -> dict[str, Any]:
        """Keywords of the network to build for data of `dims` and `channels`."""
        return {**self.network, "dims": dims, "in_channels": channels}


def refuse_options(options: dict[str, Any], names: Iterable[str], reason: str) -> None:
    """Pop `names` from `options`; the first that is set raises ValueError.

    The message reads "<name> does not apply to <reason>".
    """
    for name in names:
        if options.pop(name, None) is not None:
            raise ValueError(f"{name} does not apply to {reason}")


def seeded_network(
    architecture: str, kwargs: dict[str, Any], seed: int | None
) -> tuple[nn.Module, dict[str, Any]]:
    """A new network and its full config, initialised from `seed` (global RNG untouched)."""
    config = architecture_config(architecture, **kwargs)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0 if seed is None else seed)
        return build(architecture, **config), config


def initial_network(
    model: ModelOptions, dims: int, channels: int, seed: int | None, *, kind: str, method: str
) -> tuple[nn.Module, dict[str, Any], dict[str, Any] | None]:
    """The network training starts from, its config, and what it started from.

    `model.init`'s weights (fine-tuning) or, without one, a seeded network (record None).
    A fine-tuned network keeps the starting model's architecture and config; `network`
    keywords, if given, must agree with it. The record names the starting model and its
    own training (a chain), for the spec; its weights' SHA-256 identifies it where the
    path was local to the training machine.

    Raises:
        ValueError: the starting model is of another kind or method, or disagrees with
            the data's shape or the requested network.
    """
    requested = model.network_kwargs(dims, channels)
    if model.init is None:
        return (*seeded_network(model.architecture, requested, seed), None)
    folder = resolve_model_path(model.init, kind=kind)
    network, spec = load_model_folder(folder, torch.device("cpu"))
    if (spec.kind, spec.method) != (kind, method):
        raise ValueError(
            f"init {model.init!r} is a {spec.method} {spec.kind}, not a {method} {kind}"
        )
    differing = {
        key: (value, spec.network.get(key))
        for key, value in requested.items()
        if spec.network.get(key) != value
    }
    if spec.architecture != model.architecture or differing:
        raise ValueError(
            f"init {model.init!r} is architecture {spec.architecture!r} {spec.network}; "
            f"asked for {model.architecture!r} with {differing} (requested, init)"
        )
    kept = ("name", "steps", "seconds", "device", "init")
    record = {
        "model": str(model.init),
        "model_sha256": sha256_of(folder / WEIGHTS_NAME),
        **{k: spec.training[k] for k in kept if k in spec.training},
    }
    return network.train(), dict(spec.network), record


def run_record(
    result: TrainResult,
    config: TrainConfig,
    *,
    name: str,
    sources: list[str],
    device: torch.device,
    patch: tuple[int, ...],
    init: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The `training` section of a model's spec: data, start, settings, time, final losses."""
    last = result.history[-1] if result.history else {}
    return {
        "name": name,
        "sources": sources,
        **({"init": init} if init is not None else {}),
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
