"""Options shared by the `gap` commands, and their parsing."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import click

from gaptorch.acceleration import FastPaths
from gaptorch.axes import ALPHABET, validate_axes
from gaptorch.cli.errors import GapError

F = Callable[..., Any]


class NumberOrAuto(click.ParamType):
    """A float, or the word "auto"."""

    name = "FLOAT|auto"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float | str:
        """The number, or "auto"."""
        if isinstance(value, float) or value == "auto":
            return value
        try:
            return float(value)
        except ValueError:
            self.fail(f"{value!r} is neither a number nor 'auto'", param, ctx)


class IntTuple(click.ParamType):
    """One int, or one per spatial dim separated by commas ("256" or "16,256,256")."""

    name = "N[,N...]"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> int | tuple[int, ...]:
        """One int, or a tuple of them."""
        if isinstance(value, (int, tuple)):
            return value
        try:
            numbers = tuple(int(part) for part in str(value).replace("x", ",").split(","))
        except ValueError:
            self.fail(f"{value!r} is not an integer or a comma-separated list of them", param, ctx)
        if any(n < 0 for n in numbers):
            self.fail(f"{value!r} has negative sizes", param, ctx)
        return numbers[0] if len(numbers) == 1 else numbers


def check_axes(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Upper-cased --axes after checking its letters (the length is checked per file)."""
    if value is None:
        return None
    try:
        return validate_axes(value, len(value))
    except ValueError as error:
        raise GapError(f"--axes: {error}") from None


def _device(ctx: click.Context, param: click.Parameter, value: str) -> str | None:
    if value == "auto":
        return None
    if value == "cpu" or value == "cuda" or (value.startswith("cuda:") and value[5:].isdigit()):
        return value
    raise click.BadParameter(f"{value!r}; use cpu, cuda, cuda:N or auto", ctx, param)


def debug_flag(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    """Remember --debug for the group's error handler (also when given after the command)."""
    if value:
        ctx.meta["gap.debug"] = True
    return value


def parse_key_values(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, Any]:
    """KEY=VALUE pairs; values parsed as JSON when they are JSON ("3", "true", "[1,2]")."""
    parsed: dict[str, Any] = {}
    for item in values:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", ctx, param)
        try:
            parsed[key] = json.loads(text)
        except ValueError:
            parsed[key] = text
    return parsed


def model_option(kind: str) -> Callable[[F], F]:
    """--model NAME|PATH."""
    return click.option(
        "--model",
        "model",
        metavar="NAME|PATH",
        default=None,
        help=f"Model folder or bundled {kind} name (default: the bundled default {kind}).",
    )


def common_image_options(function: F) -> F:
    """--axes, --gain, --offset, --tile, --overlap, --batch-size, --device."""
    options = [
        click.option(
            "--axes",
            callback=check_axes,
            metavar="AXES",
            help=f"Axes of every input, letters of {ALPHABET} (default: from each file).",
        ),
        click.option(
            "--gain",
            type=NumberOrAuto(),
            default=None,
            help="Camera units per photon, or 'auto' to estimate "
            "(default: data must be photon counts).",
        ),
        click.option(
            "--offset",
            type=NumberOrAuto(),
            default=None,
            help="Camera units at zero photons, or 'auto' to estimate.",
        ),
        click.option(
            "--tile",
            type=IntTuple(),
            default=None,
            help="Tile size per spatial dim (default: from free memory).",
        ),
        click.option(
            "--overlap",
            type=IntTuple(),
            default=None,
            help="Tile overlap (default: 2.5x the network's receptive-field radius).",
        ),
        click.option(
            "--batch-size",
            type=click.IntRange(min=1),
            default=None,
            help="Images or tiles per forward pass (default: from free memory).",
        ),
        click.option(
            "--device",
            default="auto",
            show_default=True,
            callback=_device,
            help="cpu, cuda, cuda:N, or auto (CUDA when available).",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def accumulation_options(outputs: str) -> Callable[[F], F]:
    """--max-psnr, --beta and --seed of the commands that accumulate photons into `outputs`."""

    def apply(function: F) -> F:
        options = [
            click.option(
                "--max-psnr",
                type=float,
                default=30.0,
                show_default=True,
                help="Add photons until this pseudo-PSNR (dB).",
            ),
            click.option(
                "--beta",
                type=click.FloatRange(min=0, min_open=True),
                default=0.1,
                show_default=True,
                help="Fraction of the photons added per step.",
            ),
            click.option(
                "--seed",
                type=click.IntRange(min=0),
                default=None,
                help=f"Makes the {outputs} reproducible.",
            ),
        ]
        for option in reversed(options):
            function = option(function)
        return function

    return apply


def _quiet_flag(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.meta["gap.quiet"] = True
    return value


def debug_option(function: F) -> F:
    """--debug (also accepted after the command name)."""
    return click.option(
        "--debug",
        is_flag=True,
        expose_value=False,
        callback=debug_flag,
        is_eager=True,
        help="Show full tracebacks on errors.",
    )(function)


def quiet_debug_options(function: F) -> F:
    """--quiet and --debug."""
    function = debug_option(function)
    return click.option(
        "-q",
        "--quiet",
        is_flag=True,
        callback=_quiet_flag,
        help="No progress, no per-file lines, no summary (errors still shown).",
    )(function)


def fast_path_options(function: F) -> F:
    """--compile/--no-compile, --no-bf16, --no-channels-last, --no-prefetch: a `fast` argument."""

    @functools.wraps(function)
    def with_fast_paths(
        *args: Any,
        compile_: bool | None,
        bf16: bool,
        channels_last: bool,
        prefetch: bool,
        **kwargs: Any,
    ) -> Any:
        fast = FastPaths(
            bf16=bf16, channels_last=channels_last, compile=compile_, prefetch=prefetch
        )
        return function(*args, fast=fast, **kwargs)

    options = [
        click.option(
            "--compile/--no-compile",
            "compile_",
            default=None,
            help="torch.compile the network (default: only when training on CUDA).",
        ),
        click.option(
            "--bf16/--no-bf16", default=True, show_default=True, help="bf16 autocast on CUDA."
        ),
        click.option(
            "--channels-last/--no-channels-last",
            default=True,
            show_default=True,
            help="Channels-last memory format for 2D networks on CUDA.",
        ),
        click.option(
            "--prefetch/--no-prefetch",
            default=True,
            show_default=True,
            help="Read the next block of a file while the current one is computed.",
        ),
    ]
    for option in reversed(options):
        with_fast_paths = option(with_fast_paths)
    return with_fast_paths  # type: ignore[return-value]
