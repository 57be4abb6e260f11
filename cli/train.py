"""`gap train`: a model folder from image files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from gaptorch import Denoiser, Generator
from gaptorch.batch import steps_for_epochs
from gaptorch.cli.errors import GapError
from gaptorch.cli.options import (
    IntTuple,
    NumberOrAuto,
    check_axes,
    parse_key_values,
    quiet_debug_options,
)
from gaptorch.io import find_images
from gaptorch.model_folder import CONFIG_NAME
from gaptorch.models import list_architectures
from gaptorch.training_data import infer_network_shape

METHODS = ("gap", "n2n", "ddpm")


def _read_config(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        options = json.loads(path.read_text())
    except ValueError as error:
        raise GapError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(options, dict):
        raise GapError(f"{path}: must hold a JSON object of training options")
    return options


@click.command()
@click.argument("data", nargs=-1, required=True)
@click.option(
    "-o",
    "--output",
    "model_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Model folder to write (loadable with --model).",
)
@click.option(
    "--method",
    type=click.Choice(METHODS),
    default="gap",
    show_default=True,
    help="gap: self-supervised on noisy counts; n2n: pairs of noisy images; ddpm: a generator.",
)
@click.option(
    "--generator",
    "as_generator",
    is_flag=True,
    help="Train a generator (GAP on clean images); implied by ddpm.",
)
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Optimiser steps.")
@click.option(
    "--epochs",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Instead of --steps: passes over the data, one pass = all pixels / patch pixels patches.",
)
@click.option(
    "--patch-size",
    type=IntTuple(),
    default=None,
    help="Patch edge, or one per spatial dim [default: 64].",
)
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=None, help="Patches per step [default: 16]."
)
@click.option(
    "--lr", type=click.FloatRange(min=0, min_open=True), default=None, help="Peak learning rate."
)
@click.option(
    "--psnr-range",
    type=(float, float),
    default=None,
    metavar="LOW HIGH",
    help="Pseudo-PSNR range (dB) of training inputs (default: from the data).",
)
@click.option(
    "--curriculum", is_flag=True, help="Widen the PSNR range in phases (for all photon levels)."
)
@click.option(
    "--level-tilt",
    type=float,
    default=None,
    help="GAP: sample training levels with density ~ level**T (0: uniform in dB).",
)
@click.option(
    "--loss",
    type=click.Choice(["photon", "log_mse", "mse", "l1"]),
    default=None,
    help="GAP: photon (default) or log_mse (trains for PSNR); n2n: mse (default) or l1.",
)
@click.option(
    "--init",
    default=None,
    metavar="MODEL",
    help="Fine-tune: start from this model (bundled name or folder); its network is kept.",
)
@click.option(
    "--architecture",
    type=click.Choice(list_architectures()),
    default=None,
    help="Network by name [unet].",
)
@click.option(
    "--network-option",
    "network_options",
    multiple=True,
    callback=parse_key_values,
    metavar="KEY=VALUE",
    help="Network constructor keyword, JSON value (repeatable), e.g. start_filters=16.",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="JSON object of training options (any Denoiser.train option); flags override it.",
)
@click.option(
    "--pairs",
    type=click.Choice(["files", "frames"]),
    default=None,
    help="n2n: pair consecutive files, or consecutive frames of each file.",
)
@click.option("--resume", is_flag=True, help="Continue from the last checkpoint.")
@click.option("--overwrite", is_flag=True, help="Replace a model already in the output folder.")
@click.option(
    "--seed", type=click.IntRange(min=0), default=None, help="Makes the run reproducible."
)
@click.option(
    "--gain", type=NumberOrAuto(), default=None, help="Camera units per photon, or 'auto'."
)
@click.option(
    "--offset", type=NumberOrAuto(), default=None, help="Camera units at zero photons, or 'auto'."
)
@click.option(
    "--axes",
    callback=check_axes,
    metavar="AXES",
    help="Axes of every input (default: from each file).",
)
@click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:N, or auto.")
@click.option(
    "--checkpoint-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Checkpoints (default: MODELDIR/checkpoints).",
)
@click.option(
    "--log-csv",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Append losses here.",
)
@click.option(
    "--pattern", multiple=True, metavar="GLOB", help="File names to take from folders (repeatable)."
)
@click.option("--name", default=None, help="Model name for its card.")
@click.option(
    "--sample-every",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Generators: write a PNG grid of samples to MODELDIR/samples every N steps.",
)
@quiet_debug_options
def train(
    data: tuple[str, ...],
    model_dir: Path,
    method: str,
    as_generator: bool,
    steps: int | None,
    epochs: float | None,
    patch_size: Any,
    batch_size: int | None,
    lr: float | None,
    psnr_range: tuple[float, float] | None,
    curriculum: bool,
    level_tilt: float | None,
    loss: str | None,
    init: str | None,
    architecture: str | None,
    network_options: dict[str, Any],
    config_file: Path | None,
    pairs: str | None,
    resume: bool,
    overwrite: bool,
    seed: int | None,
    gain: Any,
    offset: Any,
    axes: str | None,
    device: str,
    checkpoint_dir: Path | None,
    log_csv: Path | None,
    pattern: tuple[str, ...],
    name: str | None,
    sample_every: int | None,
    quiet: bool,
) -> None:
    """Train a model on DATA (TIFF or photo files, folders, globs) and write MODELDIR.

    \b
    Example:
      gap train raw/ -o my-model --steps 5000 --gain auto --seed 0
      gap denoise raw/ -o denoised/ --model my-model --gain auto
      gap train raw/ -o tuned --init gap-fluo-2d --steps 2000 --lr 3e-4 --gain auto
    """
    if (model_dir / CONFIG_NAME).exists() and not (resume or overwrite):
        raise GapError(
            f"{model_dir} already holds a model; --overwrite replaces it, "
            "--resume continues its training"
        )
    is_generator = method == "ddpm" or as_generator
    if sample_every is not None and not is_generator:
        raise GapError("--sample-every applies to generators: add --generator or --method ddpm")
    options = _read_config(config_file)
    flags = {
        "patch_size": patch_size,
        "batch_size": batch_size,
        "lr": lr,
        "psnr_range": psnr_range,
        "curriculum": curriculum or None,
        "level_tilt": level_tilt,
        "loss": loss,
        "init": init,
        "architecture": architecture,
        "pairs": pairs,
        "gain": gain,
        "offset": offset,
        "axes": axes,
        "device": None if device == "auto" else device,
        "name": name,
        "log_csv": str(log_csv) if log_csv else None,
    }
    options.update({key: value for key, value in flags.items() if value is not None})
    options["network"] = {**options.get("network", {}), **network_options}
    options["checkpoint_dir"] = str(
        checkpoint_dir or options.get("checkpoint_dir") or model_dir / "checkpoints"
    )
    options["resume"] = resume or bool(options.get("resume"))
    options["progress"] = not quiet
    if sample_every is not None:
        options.update(sample_every=sample_every, sample_dir=str(model_dir / "samples"))
    files = [str(job.source) for job in find_images(data, pattern)]
    steps = steps or options.pop("steps", None)
    seed = seed if seed is not None else options.pop("seed", None)
    if steps is None and epochs is None:
        raise GapError("give --steps or --epochs")
    if steps is None:
        dims = int(options.get("dims") or infer_network_shape(files[0], options.get("axes"))[0])
        steps = steps_for_epochs(
            files,
            epochs,
            patch_size=options.get("patch_size", 64),
            batch_size=options.get("batch_size", 16),
            dims=dims,
        )
    cls = Generator if is_generator else Denoiser
    model = cls.train(files, method=method, steps=steps, seed=seed, **options)
    model.save_pretrained(model_dir)
    if not quiet:
        click.echo(
            f"wrote {model_dir} ({cls.__name__.lower()}, {method}, {steps} steps "
            f"on {len(files)} files)",
            err=True,
        )
