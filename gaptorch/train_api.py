"""From `Denoiser.train` / `Generator.train` options to a trained network and its spec."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
from torch import nn

from gaptorch.config import build_config, take, to_dict
from gaptorch.data import PatchSampler, split_validation
from gaptorch.ddpm_training import train_ddpm
from gaptorch.methods.auxiliary import with_auxiliary_loss
from gaptorch.methods.gap import GapObjective, GapOptions
from gaptorch.model_folder import ModelSpec
from gaptorch.n2n_training import train_n2n
from gaptorch.sample_grids import SampleGrids
from gaptorch.training import TrainConfig, TrainResult, choose_device, run_training
from gaptorch.training_data import load_training_images
from gaptorch.training_setup import ModelOptions, initial_network, run_record

METHODS = {"denoiser": ("gap", "n2n"), "generator": ("gap", "ddpm")}


def train_model(
    data: Any, *, kind: str, method: str, steps: int, seed: int | None, options: dict[str, Any]
) -> tuple[nn.Module, ModelSpec, torch.device, TrainResult]:
    """Train a network for `kind` ("denoiser" or "generator") with `method` on `data`.

    Raises:
        TypeError: unknown options.
        ValueError: an unknown method for `kind`, bad data or option values.
    """
    if method not in METHODS[kind]:
        raise ValueError(
            f"method must be one of {', '.join(METHODS[kind])} for a {kind}, got {method!r}"
        )
    if method == "n2n":
        return train_n2n(data, steps=steps, seed=seed, options=options)
    if method == "ddpm":
        return train_ddpm(data, steps=steps, seed=seed, options=options)
    options = dict(options)
    gain, offset = options.pop("gain", None), options.pop("offset", None)
    model = ModelOptions.take(options, "unet")
    grids = SampleGrids.take(options) if kind == "generator" else None
    options.setdefault("supervision", "clean" if kind == "generator" else "self")
    gap_options = build_config(GapOptions, take(options, GapOptions), "GAP")
    config = build_config(TrainConfig, {**options, "steps": steps, "seed": seed}, "training")
    dims, channels = model.shape(data)
    loaded = load_training_images(
        data,
        axes=model.axes,
        dims=dims,
        channels=channels,
        supervision=gap_options.supervision,
        gain=gain,
        offset=offset,
    )
    schedule = gap_options.schedule(loaded.psnr_span)
    objective = GapObjective(
        schedule,
        gap_options.supervision,
        level_tilt=gap_options.level_tilt,
        loss=gap_options.loss,
    )
    network, network_config, start = initial_network(
        model, dims, channels, seed, kind=kind, method=method
    )
    objective = with_auxiliary_loss(objective, network)
    patch = config.patch(dims)
    train_images, validation_images = split_validation(loaded.images, config.val_fraction, patch)
    train_sampler = PatchSampler(train_images, patch, augment=config.augment)
    validation_sampler = (
        PatchSampler(validation_images, patch, augment=False) if validation_images else None
    )
    device = choose_device(config.device)
    data_mean = float(torch.stack([image.float().mean() for image in loaded.images]).mean())
    spec = ModelSpec(
        kind=kind,  # type: ignore[arg-type]
        method=method,  # type: ignore[arg-type]
        architecture=model.architecture,
        network=network_config,
        training={"patch": train_sampler.patch},
        method_config={
            **to_dict(gap_options),
            "schedule": to_dict(schedule) if not isinstance(schedule, tuple) else list(schedule),
        },
        calibration=to_dict(loaded.calibration)
        if loaded.calibration and not loaded.calibration.is_identity
        else None,
        intensity={"mean": data_mean},
    )
    monitor = grids.monitor(spec, device, config.steps) if grids else None
    network, result = run_training(
        network, objective, train_sampler, validation_sampler, config, monitor
    )
    spec = replace(
        spec,
        training={
            **run_record(
                result,
                config,
                name=model.name or f"{method} {kind}",
                sources=loaded.sources,
                device=device,
                patch=train_sampler.patch,
                init=start,
            ),
            "data_pseudo_psnr": round(loaded.pseudo_psnr, 2),
        },
    )
    return network, spec, device, result
