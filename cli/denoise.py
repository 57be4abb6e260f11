"""`gap denoise` and `gap sample`: batches of image files through a denoising model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import torch

from gaptorch import Denoiser
from gaptorch.acceleration import FastPaths
from gaptorch.batch import (
    DenoiseSettings,
    SampleSettings,
    denoise_file,
    merge_summaries,
    run_batch,
    sample_file,
)
from gaptorch.cli.errors import GapError
from gaptorch.cli.options import (
    accumulation_options,
    common_image_options,
    fast_path_options,
    model_option,
    quiet_debug_options,
)
from gaptorch.cli.report import BatchReport
from gaptorch.distributed import gather, join, rank_device
from gaptorch.io import OUTPUT_DTYPES, ImageReader, find_images, plan_outputs
from gaptorch.pretrained import DEFAULTS
from gaptorch.training import choose_device

EXIT_HELP = (
    "Exit code 0 when every file is done or skipped, 2 when the command cannot run or any "
    "file failed."
)


def load_denoiser(model: str | None, device: str | None, fast: FastPaths | None = None) -> Denoiser:
    """The model named by --model (None: the bundled default), as one clean error line."""
    try:
        return Denoiser.from_pretrained(model, device=device, fast=fast)
    except ValueError as error:
        raise GapError(str(error)) from None


def _inputs_and_output(function: Any) -> Any:
    function = click.option(
        "--overwrite", is_flag=True, help="Replace existing outputs (default: skip them)."
    )(function)
    function = click.option(
        "--pattern",
        multiple=True,
        metavar="GLOB",
        help="File names to take from folders, e.g. '*.tif' "
        "(repeatable; default: TIFF, PNG, JPEG).",
    )(function)
    function = click.option(
        "-o",
        "--output",
        "out_dir",
        required=True,
        type=click.Path(file_okay=False, path_type=Path),
        help="Output folder; input folder structure is mirrored inside it.",
    )(function)
    return click.argument("inputs", nargs=-1, required=True)(function)


def _dry_run(planned: list, axes: str | None) -> None:
    for job, outputs in planned:
        state = "exists, skip" if all(o.exists() for o in outputs) else "to do"
        try:
            with ImageReader(job.source, axes) as image:
                detail = f"{'x'.join(map(str, image.shape))} {image.dtype.name} {image.axes or '?'}"
        except (ValueError, OSError) as error:
            detail = f"unreadable: {str(error).splitlines()[0]}"
        click.echo(f"{job.source} -> {', '.join(map(str, outputs))} ({detail}; {state})")
    todo = sum(not all(o.exists() for o in outputs) for _, outputs in planned)
    click.echo(
        f"dry run: {len(planned)} files, {todo} to do, {len(planned) - todo} to skip", err=True
    )


@click.command(epilog=EXIT_HELP)
@_inputs_and_output
@model_option("denoiser")
@common_image_options
@click.option(
    "--output-dtype",
    type=click.Choice(OUTPUT_DTYPES),
    default="float32",
    show_default=True,
    help="float32: as computed; same: the input's type (rounded, clipped); "
    "uint16: rounded, clipped, uint8 inputs scaled by 257. Recorded in the output's metadata.",
)
@click.option(
    "--symmetries",
    type=click.Choice(["1", "2", "4", "8"]),
    default="1",
    show_default=True,
    help="Average the estimate over this many flips/rotations (8: ~0.1 dB more, 8x the time).",
)
@click.option("--suffix", default="", help="Added to each output's name before the extension.")
@click.option("--dry-run", is_flag=True, help="List inputs and outputs, process nothing.")
@click.option(
    "--seed", type=int, default=None, help="Seed torch (MMSE denoising itself is deterministic)."
)
@fast_path_options
@quiet_debug_options
@click.pass_context
def denoise(
    ctx: click.Context,
    inputs: tuple[str, ...],
    out_dir: Path,
    pattern: tuple[str, ...],
    overwrite: bool,
    model: str | None,
    axes: str | None,
    gain: Any,
    offset: Any,
    tile: Any,
    overlap: Any,
    batch_size: int | None,
    device: str | None,
    output_dtype: str,
    symmetries: str,
    suffix: str,
    dry_run: bool,
    seed: int | None,
    quiet: bool,
    fast: FastPaths,
) -> None:
    """Denoise image files (MMSE estimate, in the input's units) into OUTPUT.

    INPUTS are files, folders (searched recursively) and globs. Outputs keep each
    input's axes and metadata; an existing output is skipped, so rerunning an
    interrupted batch resumes it. Inputs are never overwritten.

    \b
    Example:
      gap denoise raw/ -o denoised/ --model my-model --gain auto
    """
    settings = DenoiseSettings(
        axes=axes,
        gain=gain,
        offset=offset,
        tile=tile,
        overlap=overlap,
        batch_size=batch_size,
        output_dtype=output_dtype,
        overwrite=overwrite,
        model_name=model or DEFAULTS["denoiser"],
        symmetries=int(symmetries),
    )
    planned = plan_outputs(find_images(inputs, pattern), out_dir, [(suffix, None)])
    world = join(choose_device(device))
    denoiser = load_denoiser(model, rank_device(choose_device(device), world), fast)
    if dry_run:
        if world.is_main:
            _dry_run(planned, axes)
        return
    if seed is not None:
        torch.manual_seed(seed)
    # Under torchrun: ranks split the files, or the planes of each file when there are
    # fewer files than ranks; rank 0 reports the whole batch.
    split_planes = world.distributed and len(planned) < world.size
    mine = planned if split_planes or not world.distributed else planned[world.rank :: world.size]
    silent = split_planes and not world.is_main  # rank 0 speaks for a file split over ranks
    report = BatchReport("denoise", len(mine), quiet or silent, bool(ctx.meta.get("gap.debug")))

    def work(job: Any, outputs: tuple[Path, ...]) -> Any:
        return denoise_file(
            denoiser,
            job.source,
            outputs[0],
            settings,
            progress=report.progress,
            world=world if split_planes else None,
        )

    summary = run_batch(
        mine, work, on_start=report.start, on_result=None if silent else report.result
    )
    merged = summary if split_planes else merge_summaries(summary, world)
    if world.is_main:
        report.summary(merged)
    if merged.count("failed") or gather(summary.count("failed"), world) != [0] * world.size:
        ctx.exit(2)


@click.command(epilog=EXIT_HELP)
@_inputs_and_output
@model_option("denoiser")
@click.option(
    "-n", "--samples", "n", type=click.IntRange(min=1), required=True, help="Samples per image."
)
@accumulation_options("samples")
@common_image_options
@fast_path_options
@quiet_debug_options
@click.pass_context
def sample(
    ctx: click.Context,
    inputs: tuple[str, ...],
    out_dir: Path,
    pattern: tuple[str, ...],
    overwrite: bool,
    model: str | None,
    n: int,
    max_psnr: float,
    beta: float,
    seed: int | None,
    axes: str | None,
    gain: Any,
    offset: Any,
    tile: Any,
    overlap: Any,
    batch_size: int | None,
    device: str | None,
    quiet: bool,
    fast: FastPaths,
) -> None:
    """Posterior samples of image files ("diversity denoising") into OUTPUT.

    For each input NAME: NAME_samples.tif (the N samples on an extra leading axis),
    NAME_mean and NAME_std (per-pixel mean and standard deviation, with the input's
    metadata), all float32 in the input's units.

    \b
    Example:
      gap sample cells.tif -n 16 -o samples/ --model my-model --seed 0
    """
    settings = SampleSettings(
        axes=axes,
        gain=gain,
        offset=offset,
        tile=tile,
        overlap=overlap,
        batch_size=batch_size,
        overwrite=overwrite,
        model_name=model or DEFAULTS["denoiser"],
        n=n,
        max_psnr=max_psnr,
        beta=beta,
        seed=seed,
    )
    names = [("_samples", ".tif"), ("_mean", None), ("_std", None)]
    planned = plan_outputs(find_images(inputs, pattern), out_dir, names)
    denoiser = load_denoiser(model, device, fast)
    report = BatchReport("sample", len(planned), quiet, bool(ctx.meta.get("gap.debug")))

    def work(job: Any, outputs: tuple[Path, ...]) -> Any:
        return sample_file(denoiser, job.source, outputs, settings, progress=report.progress)

    summary = run_batch(planned, work, on_start=report.start, on_result=report.result)
    report.summary(summary)
    if summary.count("failed"):
        ctx.exit(2)
