"""From `Generator.train(..., method="ddpm")` options to a trained network and its spec."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import torch
from torch import nn

from gaptorch.axes import Layout
from gaptorch.config import build_config, take, to_dict
from gaptorch.data import PatchSampler, split_validation
from gaptorch.methods.ddpm import DDPMObjective, DDPMOptions, square_images, to_unit_range
from gaptorch.model_folder import ModelSpec
from gaptorch.sample_grids import SampleGrids
from gaptorch.training import TrainConfig, TrainResult, choose_device, run_training
from gaptorch.training_data import Data, read_items
from gaptorch.training_setup import (
    ModelOptions,
    initial_network,
    refuse_options,
    run_record,
)

DEFAULT_ARCHITECTURE = "ddpm_unet"
PREPROCESSING = "largest central square, bilinear antialiased resize to image_size"
# DDPM's own defaults: whole images, no rotations (they would change what is generated),
# an EMA of the weights, and the last (EMA) weights rather than the best validation loss
# (the loss at random noise levels says little about sample quality).
DEFAULTS = {"augment": False, "keep_best": False, "ema_decay": 0.999}


def load_square_images(
    data: Data, *, axes: str | None, channels: int, size: int
) -> tuple[list[torch.Tensor], list[str]]:
    """(C, size, size) float32 images from arrays or files (see `square_images`).

    Raises:
        ValueError: empty or non-finite images, a channel count that does not match.
    """
    images: list[torch.Tensor] = []
    sources: list[str] = []
    for array, file_axes, source in read_items(data):
        sources.append(source)
        batch = Layout.of(array.shape, axes or file_axes, 2, channels).to_model(
            np.asarray(array, np.float32)
        )
        if not np.isfinite(batch).all():
            raise ValueError(f"training image {sources[-1]} contains NaN or infinite values")
        images.extend(square_images(torch.from_numpy(np.ascontiguousarray(batch)), size))
    return images, sources


def train_ddpm(
    data: Any, *, steps: int, seed: int | None, options: dict[str, Any]
) -> tuple[nn.Module, ModelSpec, torch.device, TrainResult]:
    """Train a DDPM generator on images in `data` (arrays, files, or a list of them).

    Options: `axes`, `architecture` ("ddpm_unet") and `network`, `channels`, `name`, the
    `DDPMOptions` fields (`image_size`, `schedule`, `prediction`, ...) and any
    `TrainConfig` field except `patch_size` (DDPM trains on whole images); `augment`,
    `keep_best` and `ema_decay` default to `DEFAULTS`.

    Raises:
        TypeError: unknown options.
        ValueError: bad data or option values; gain, offset, patch_size or 3D data.
    """
    options = {**DEFAULTS, **options}
    refuse_options(
        options,
        ("gain", "offset", "patch_size"),
        "ddpm: it trains on whole images, cropped and resized to image_size, in data units",
    )
    model = ModelOptions.take(options, DEFAULT_ARCHITECTURE)
    if (model.dims or 2) != 2:
        raise ValueError(f"ddpm generates 2D images, got dims={model.dims}")
    grids = SampleGrids.take(options)
    ddpm_options = build_config(DDPMOptions, take(options, DDPMOptions), "ddpm")
    config = build_config(TrainConfig, {**options, "steps": steps, "seed": seed}, "training")
    _, channels = model.shape(data)  # DDPM is 2D whatever dims the data would suggest
    size = ddpm_options.image_size
    images, sources = load_square_images(data, axes=model.axes, channels=channels, size=size)
    low = float(min(image.min() for image in images))
    high = float(max(image.max() for image in images))
    scaled = [to_unit_range(image, low, high) for image in images]
    network, network_config, start = initial_network(
        model, 2, channels, seed, kind="generator", method="ddpm"
    )
    grid = getattr(network, "multiples", (1, 1))
    if size % grid[0]:
        raise ValueError(f"image_size must be a multiple of {grid[0]} for this network, got {size}")
    train_images, validation_images = split_validation(scaled, config.val_fraction, (size, size))
    train_sampler = PatchSampler(train_images, (size, size), augment=config.augment)
    validation_sampler = (
        PatchSampler(validation_images, (size, size), augment=False) if validation_images else None
    )
    objective = DDPMObjective(ddpm_options.scheduler())
    device = choose_device(config.device)
    spec = ModelSpec(
        kind="generator",
        method="ddpm",
        architecture=model.architecture,
        network=network_config,
        training={"patch": (size, size)},
        method_config={**to_dict(ddpm_options), "preprocessing": PREPROCESSING},
        intensity={"low": low, "high": high},
    )
    monitor = grids.monitor(spec, device, config.steps) if grids else None
    network, result = run_training(
        network, objective, train_sampler, validation_sampler, config, monitor
    )
    record = run_record(
        result,
        config,
        name=model.name or "ddpm generator",
        sources=sources,
        device=device,
        patch=(size, size),
        init=start,
    )
    spec = replace(spec, training=record)
    return network, spec, device, result
