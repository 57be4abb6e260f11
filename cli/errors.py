"""Expected failures become one line on stderr and exit code 2."""

from __future__ import annotations

import click

EXPECTED = (
    ValueError,
    TypeError,
    FileNotFoundError,
    PermissionError,
    RuntimeError,
    OSError,
    MemoryError,
)


class GapError(click.ClickException):
    """A user-facing error: bad input, bad options, a missing file."""

    exit_code = 2
