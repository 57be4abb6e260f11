"""`gap bench`: run the benchmarks shipped as `gaptorch.benchmarks.<name>`."""

from __future__ import annotations

import importlib

import click

from gaptorch.cli.errors import GapError

BENCHMARKS = {
    "kernels": "Triton kernels against their torch references (time, bandwidth).",
    "quality": "Denoising quality (PSNR/SSIM) on simulated photon-limited data.",
    "throughput": "Denoising throughput (megapixels per second) and memory.",
    "psnr_spectrum": "Quality per pseudo-PSNR slice of architectures, a cascade, a curriculum.",
    "generation": "Fréchet distance of generators' samples (Fashion-MNIST), images per second.",
    "n2n_targets": "Noise2Noise against clean targets at equal budget (PSNR).",
}


def _benchmark(name: str, summary: str) -> click.Command:
    @click.command(
        name=name,
        help=f"{summary} Arguments go to the benchmark (try: gap bench {name} --help).",
        context_settings={
            "ignore_unknown_options": True,
            "allow_extra_args": True,
            "help_option_names": [],
        },
    )
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    @click.pass_context
    def run(ctx: click.Context, args: tuple[str, ...]) -> None:
        module_name = f"gaptorch.benchmarks.{name}"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
            raise GapError(
                f"benchmark {name!r} is not available in this installation "
                f"({module_name} is missing)"
            ) from None
        status = module.main(list(args))
        if isinstance(status, int) and status:
            ctx.exit(status)

    return run


@click.group()
def bench() -> None:
    """Run a benchmark; results go to benchmarks/results/.

    \b
    Example:
      gap bench kernels
    """


for _name, _summary in BENCHMARKS.items():
    bench.add_command(_benchmark(_name, _summary))
