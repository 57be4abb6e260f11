"""What batch commands print on stderr: a progress bar per file, a line per file, a summary."""

from __future__ import annotations

import sys
from typing import Any

import click

from gaptorch.batch import BatchSummary, FileResult, NotCountsError
from gaptorch.io import FileJob


def _stderr() -> Any:
    return sys.stderr


def error_line(result: FileResult) -> str:
    """The failure as one line, with the command-line flags that fix it."""
    if isinstance(result.error, NotCountsError):
        return (
            f"{result.source}: image is not photon counts ({result.error.kind} values); "
            "pass --gain and --offset, or --gain auto"
        )
    return result.message


class BatchReport:
    """Progress and per-file lines for a batch of `total` files; only errors when quiet."""

    def __init__(self, command: str, total: int, quiet: bool, debug: bool) -> None:
        self.command, self.total, self.quiet, self.debug = command, total, quiet, debug
        self._bar: Any = None
        self._shown = 0
        self._index = 0
        self._label = ""

    def start(self, index: int, job: FileJob) -> None:
        """A new file begins."""
        self._index, self._label = index, f"[{index + 1}/{self.total}] {job.source.name}"

    def progress(self, done: int, total: int) -> None:
        """Blocks of the current file done (the bar appears with the first block)."""
        if self.quiet:
            return
        if self._bar is None:
            self._bar = click.progressbar(
                length=total, label=self._label, file=_stderr(), show_pos=True
            )
            self._bar.__enter__()
            self._shown = 0
        self._bar.update(done - self._shown)
        self._shown = done

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None

    def result(self, index: int, result: FileResult) -> None:
        """One line for a finished file (failures always, the rest unless quiet)."""
        self._close_bar()
        if result.status == "failed":
            click.echo(f"Error: {error_line(result)}", err=True)
            if self.debug:
                click.echo(result.traceback, err=True, nl=False)
            return
        if self.quiet:
            return
        outputs = ", ".join(str(out) for out in result.outputs)
        if result.status == "skipped":
            click.echo(
                f"skipped {result.source}: {outputs} exists (--overwrite replaces it)", err=True
            )
            return
        rate = result.pixels / 1e6 / result.seconds if result.seconds > 0 else 0.0
        click.echo(
            f"done {result.source} -> {outputs} ({result.calibration}; {result.seconds:.1f} s, "
            f"{rate:.2f} megapixels/s)",
            err=True,
        )

    def summary(self, summary: BatchSummary) -> None:
        """The closing line (not for a single failed file: its error line says it all)."""
        self._close_bar()
        if self.quiet or (len(summary.results) == 1 and summary.count("failed") == 1):
            return
        done, skipped, failed = (summary.count(s) for s in ("done", "skipped", "failed"))
        click.echo(
            f"gap {self.command}: {done} done, {skipped} skipped, {failed} failed of "
            f"{len(summary.results)} files in {summary.seconds:.1f} s ({summary.megapixels:.2f} "
            f"megapixels, {summary.megapixels_per_second:.2f} megapixels/s)",
            err=True,
        )
        sys.stderr.flush()
