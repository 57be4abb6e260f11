"""The `gap` (alias `gaptorch`) command group."""

from __future__ import annotations

import logging

import click

from gaptorch import __version__
from gaptorch.cli.bench import bench
from gaptorch.cli.demo import demo
from gaptorch.cli.denoise import denoise, sample
from gaptorch.cli.errors import EXPECTED, GapError
from gaptorch.cli.generate import generate
from gaptorch.cli.info import info
from gaptorch.cli.models import models
from gaptorch.cli.options import debug_flag
from gaptorch.cli.train import train


class _Group(click.Group):
    """Turns expected library errors into one clean line unless --debug is given."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort, click.ClickException):
            raise  # Click's own exits (--help, ctx.exit) are RuntimeErrors too
        except EXPECTED as error:
            if ctx.meta.get("gap.debug"):
                raise
            raise GapError(
                str(error).splitlines()[0] if str(error) else type(error).__name__
            ) from None


class _EchoWarnings(logging.Handler):
    """Library warnings (e.g. a retry with smaller tiles) as "Warning: ..." lines on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        context = click.get_current_context(silent=True)
        if context is None or not context.meta.get("gap.quiet"):
            click.echo(f"Warning: {record.getMessage()}", err=True)


def _configure_logging(ctx: click.Context, debug: bool) -> None:
    """Echo library warnings for this command only; tifffile's complaints only with --debug.

    The handler and the logger settings are restored when the command ends, so a program
    (or test) that calls the CLI in-process keeps its own logging afterwards.
    """
    tiff, library = logging.getLogger("tifffile"), logging.getLogger("gaptorch")
    saved = (tiff.level, library.propagate)
    handler = _EchoWarnings(logging.WARNING)
    tiff.setLevel(logging.DEBUG if debug else logging.CRITICAL)
    library.addHandler(handler)
    library.propagate = False

    def restore() -> None:
        library.removeHandler(handler)
        tiff.setLevel(saved[0])
        library.propagate = saved[1]

    ctx.call_on_close(restore)


@click.group(
    cls=_Group,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Exit codes: 0 success; 2 bad usage or input (one line on stderr; for batches, any "
    "file failed); 1 an unexpected internal error (with a traceback).",
)
@click.version_option(__version__, prog_name="gaptorch")
@click.option("--debug", is_flag=True, callback=debug_flag, help="Show full tracebacks on errors.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Denoise and generate photon-limited images (GAP, Noise2Noise, DDPM)."""
    _configure_logging(ctx, debug)


for command in (denoise, sample, generate, train, models, info, bench, demo):
    main.add_command(command)
