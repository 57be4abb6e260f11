"""The `gap` (alias `gaptorch`) command group."""

from __future__ import annotations

import click

from gaptorch import __version__
from gaptorch.cli.demo import demo
from gaptorch.cli.errors import EXPECTED, GapError


class _Group(click.Group):
    """Turns expected library errors into one clean line unless --debug is given."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except EXPECTED as error:
            if ctx.params.get("debug"):
                raise
            raise GapError(str(error).splitlines()[0] if str(error) else type(error).__name__) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gaptorch")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
def main(debug: bool) -> None:
    """Denoise and generate photon-limited images (GAP, Noise2Noise, DDPM)."""


main.add_command(demo)
