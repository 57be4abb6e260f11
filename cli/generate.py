"""`gap generate`: new images from a generative model."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click
import numpy as np

from gaptorch import Generator, __version__
from gaptorch.cli.errors import GapError
from gaptorch.cli.options import IntTuple, accumulation_options, model_option, quiet_debug_options
from gaptorch.io.write import write_pngs, write_tiff
from gaptorch.pretrained import DEFAULTS


def load_generator(model: str | None, device: str | None) -> Generator:
    """The generator named by --model, with a hint when the bundled default is missing."""
    try:
        return Generator.from_pretrained(model, device=device)
    except ValueError as error:
        if model is None:
            raise GapError(
                f"no bundled default generator ({DEFAULTS['generator']}) in this version "
                "of gaptorch; "
                "pass --model PATH to a model folder (gap train --generator makes one)"
            ) from None
        raise GapError(str(error)) from None


@click.command()
@model_option("generator")
@click.option(
    "-n", "--count", "n", type=click.IntRange(min=1), required=True, help="Images to generate."
)
@click.option(
    "--shape",
    type=IntTuple(),
    default=None,
    help="Spatial size, e.g. 64 or 64,64 (default: the training patch).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="TIFF file for the stack of images (first axis: image).",
)
@click.option(
    "--png",
    "png_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Also write each image as an 8-bit PNG into this folder.",
)
@accumulation_options("images")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=64,
    show_default=True,
    help="Images generated at once.",
)
@click.option(
    "--sampler",
    type=click.Choice(["ddim", "ddpm"]),
    default="ddim",
    show_default=True,
    help="DDPM models: DDIM steps, or DDPM ancestral steps.",
)
@click.option(
    "--steps",
    type=click.IntRange(min=1),
    default=None,
    help="DDPM models: denoising steps [ddim: 50, ddpm: all of the schedule].",
)
@click.option(
    "--eta",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="DDPM models, ddim sampler: noise per step (0 deterministic, 1 like DDPM).",
)
@click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:N, or auto.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
@quiet_debug_options
def generate(
    model: str | None,
    n: int,
    shape: int | tuple[int, ...] | None,
    output: Path,
    png_dir: Path | None,
    seed: int | None,
    max_psnr: float,
    beta: float,
    batch_size: int,
    sampler: str,
    steps: int | None,
    eta: float,
    device: str,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Generate N new images with a generative model and write them as a TIFF stack.

    \b
    Example:
      gap generate -n 16 --shape 64,64 -o generated.tif --model my-generator --png generated/
    """
    if output.exists() and not overwrite:
        raise GapError(f"{output} exists; --overwrite replaces it")
    generator = load_generator(model, None if device == "auto" else device)
    dims = int(generator.spec.network["dims"])
    size = (shape,) * dims if isinstance(shape, int) else shape
    images = generator.generate(
        n,
        size,
        seed=seed,
        max_psnr=max_psnr,
        beta=beta,
        batch_size=batch_size,
        sampler=sampler,
        steps=steps,
        eta=eta,
    )
    axes = "I" + ("ZYX" if dims == 3 else "YX") + ("S" if generator.channels > 1 else "")
    record = {
        "version": __version__,
        "operation": "generate",
        "model": model or DEFAULTS["generator"],
        "seed": seed,
        **(
            {"sampler": sampler, "steps": steps, "eta": eta}
            if generator.spec.method == "ddpm"
            else {"max_psnr": max_psnr, "beta": beta}
        ),
        "date": datetime.now().isoformat(timespec="seconds"),
    }
    write_tiff(
        output,
        [images],
        shape=images.shape,
        dtype=np.dtype(np.float32),
        axes=axes,
        record=lambda: record,
    )
    if png_dir is not None:
        write_pngs(png_dir, images, stem=output.stem)
    if not quiet:
        click.echo(
            f"wrote {output} ({n} images of {'x'.join(map(str, images.shape[1:]))})"
            + (f" and {n} PNGs in {png_dir}" if png_dir is not None else ""),
            err=True,
        )
