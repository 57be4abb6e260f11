"""From `Denoiser.train(..., method="n2n")` options to a trained network and its spec."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from gaptorch.config import build_config, take, to_dict
from gaptorch.data import PatchSampler, split_validation
from gaptorch.methods.n2n import N2NObjective, N2NOptions
from gaptorch.model_folder import ModelSpec
from gaptorch.training import TrainConfig, TrainResult, choose_device, run_training
from gaptorch.training_pairs import load_training_pairs
from gaptorch.training_setup import (
    ModelOptions,
    initial_network,
    refuse_options,
    run_record,
)

DEFAULT_ARCHITECTURE = "light_unet"


def train_n2n(
    data: Any, *, steps: int, seed: int | None, options: dict[str, Any]
) -> tuple[nn.Module, ModelSpec, torch.device, TrainResult]:
    """Train a Noise2Noise denoiser on pairs in `data` (see `N2NOptions.pairs`).

    Options: `axes`, `architecture` ("light_unet" by default, or "unet") and `network`,
    `dims`, `channels`, `name`, the `N2NOptions` fields and any `TrainConfig` field.

    Raises:
        TypeError: unknown options.
        ValueError: bad data or option values; gain or offset (n2n works in data units).
    """
    options = dict(options)
    refuse_options(
        options,
        ("gain", "offset"),
        "n2n: Noise2Noise standardises each image and works in data units",
    )
    model = ModelOptions.take(options, DEFAULT_ARCHITECTURE)
    n2n_options = build_config(N2NOptions, take(options, N2NOptions), "n2n")
    config = build_config(TrainConfig, {**options, "steps": steps, "seed": seed}, "training")
    dims, channels = model.shape(data)
    images, sources = load_training_pairs(
        data, pairs=n2n_options.pairs, axes=model.axes, dims=dims, channels=channels
    )
    network, network_config, start = initial_network(
        model, dims, channels, seed, kind="denoiser", method="n2n"
    )
    patch = config.patch(dims)
    train_images, validation_images = split_validation(images, config.val_fraction, patch)
    train_sampler = PatchSampler(train_images, patch, augment=config.augment)
    validation_sampler = (
        PatchSampler(validation_images, patch, augment=False) if validation_images else None
    )
    objective = N2NObjective(n2n_options, channels)
    network, result = run_training(network, objective, train_sampler, validation_sampler, config)
    data_mean = float(torch.stack([image[:channels].mean() for image in images]).mean())
    spec = ModelSpec(
        kind="denoiser",
        method="n2n",
        architecture=model.architecture,
        network=network_config,
        training=run_record(
            result,
            config,
            name=model.name or "n2n denoiser",
            sources=sources,
            device=choose_device(config.device),
            patch=train_sampler.patch,
            init=start,
        ),
        method_config={**to_dict(n2n_options), "normalisation": "per-image mean and std"},
        intensity={"mean": data_mean},
    )
    return network, spec, choose_device(config.device), result
