"""Kernel benchmarks: binomial_split and gap_step against the paths they replace.

For each size (batch of B images, S x S) and photon mean: median time, GB/s and the
speed-up over the reference, with, in the same run, the reference path (torch
`Binomial(...).sample()` + subtract + normalise; the research code's sampling step with
its batch-wide max and two `.item()` syncs), `torch.binomial`, `torch.poisson` and a
device-to-device copy (the bandwidth ceiling). Then a whole 256x256 generation with a
fixed small U-Net: `gaptorch.methods.gap.accumulate` against the research loop.

GB/s counts the bytes an op must move per pixel (BYTES_PER_PIXEL), the same count for
an op's Triton and reference providers. Writes benchmarks/results/kernels-<device>.json
and prints a table. Without CUDA only the torch providers run, at reduced sizes.

    python -m gaptorch.benchmarks.kernels [--sizes 256 1024 2048 4096] \
        [--photons 0.1 1 1000] [--quick]
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path

import torch

from gaptorch.benchmarks.common import (
    device_slug,
    environment,
    print_table,
    row,
    time_ms,
    wall_ms,
    write_results,
)
from gaptorch.kernels import binomial_split, gap_step
from gaptorch.kernels._triton import triton_runs_on
from gaptorch.methods.gap import accumulate
from gaptorch.models import build

RESULTS = Path(__file__).parent / "results"
BYTES_PER_PIXEL = {
    # int32 counts in; inp and the raw remainder out; remainder read and written to scale
    ("binomial_split", "triton"): 20,
    ("binomial_split", "reference"): 20,
    ("binomial_split", "torch.binomial"): 12,  # float counts and probabilities in, draw out
    # logits read twice (partials, draw); canvas read and written; MMSE written
    ("gap_step", "triton"): 20,
    ("gap_step", "reference"): 20,
    ("gap_step", "torch.poisson"): 8,  # rates in, draw out
    ("binomial_split", "copy"): 8,
    ("gap_step", "copy"): 8,  # float32 read + write
}


def reference_split(counts: torch.Tensor, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The research code's split: Binomial(...).sample(), subtract, normalise to mean 1."""
    n = counts.float()
    probs = p.view(-1, *([1] * (n.ndim - 1))).expand_as(n)
    inp = torch.distributions.Binomial(total_count=n, probs=probs).sample()
    target = n - inp
    mean = target.mean(dim=tuple(range(1, n.ndim)), keepdim=True)
    return inp, target / mean.clamp_min(1e-12)


def reference_step(logits: torch.Tensor, photons: torch.Tensor, beta: float) -> float:
    """The research code's sampling step: batch-wide max and photon count, two host syncs."""
    z = torch.exp(logits - logits.max())
    probs = z / z.sum(dim=tuple(range(1, z.ndim)), keepdim=True)
    budget = max(beta * photons.sum().item() / photons.shape[0], 1.0)  # host sync 1
    photons += torch.poisson(probs * budget)
    return 10 * math.log10(photons.mean().item() + 1e-12)  # host sync 2: the stop test


def research_generation(
    predict: Callable,
    shape: tuple[int, ...],
    device: torch.device,
    max_psnr: float,
    beta: float,
    max_steps: int,
) -> torch.Tensor:
    """The research loop: reference steps from an empty canvas until `max_psnr`."""
    photons = torch.zeros(shape, device=device)
    for _ in range(max_steps):
        if reference_step(predict(photons), photons, beta) > max_psnr:
            break
    return photons


def bench_split(batch: int, size: int, photons: float, device: torch.device, triton: bool) -> list:
    """Rows for binomial_split and its baselines at one size and photon level."""
    shape = (batch, 1, size, size)
    counts = torch.poisson(torch.full(shape, photons, device=device)).to(torch.int32)
    p = torch.full((batch,), 0.5, device=device)
    n, probs = counts.float(), torch.full(shape, 0.5, device=device)
    source, target = torch.empty(shape, device=device), torch.empty(shape, device=device)
    providers = {
        "reference": lambda: reference_split(counts, p),
        "torch.binomial": lambda: torch.binomial(n, probs),
        "copy": lambda: target.copy_(source),
    }
    if triton:
        providers["triton"] = lambda: binomial_split(counts, p, seed=0, backend="triton")
    return _rows("binomial_split", providers, shape, photons, "int32", device)


def bench_step(batch: int, size: int, photons: float, device: torch.device, triton: bool) -> list:
    """Rows for gap_step and its baselines; each image draws `photons` per pixel on average.

    Both steps start from a canvas reset to one photon per pixel (timed for both), so the
    reference's budget, beta * photons per image, stays the same across repeats.
    """
    shape = (batch, 1, size, size)
    logits = torch.randn(shape, device=device)
    canvas = torch.zeros(shape, device=device)
    budget = torch.full((batch,), photons * size * size, device=device)
    rates = torch.full(shape, photons, device=device)
    totals = torch.zeros(batch, dtype=torch.float64, device=device)
    beta = photons  # reference budget: beta * (photons per image = size**2)
    source, target = torch.empty(shape, device=device), torch.empty(shape, device=device)
    providers = {
        "reference": lambda: reference_step(logits, canvas.fill_(1.0), beta),
        "torch.poisson": lambda: torch.poisson(rates),
        "copy": lambda: target.copy_(source),
    }
    if triton:
        providers["triton"] = lambda: gap_step(
            logits, canvas.fill_(1.0), budget, seed=0, backend="triton", totals=totals
        )
    return _rows("gap_step", providers, shape, photons, "float32", device)


def _rows(
    op: str,
    providers: dict[str, Callable],
    shape: tuple[int, ...],
    photons: float,
    dtype: str,
    device: torch.device,
) -> list:
    """Time each provider; add GB/s rows and the speed-up over the reference."""
    pixels = math.prod(shape)
    times = {name: time_ms(fn, device) for name, fn in providers.items()}
    rows = []
    for name, (p20, p50, p80) in times.items():
        rows.append(row(op, name, shape, photons, dtype, "time", "ms", [p20, p50, p80]))
        gigabytes = BYTES_PER_PIXEL[(op, name)] * pixels / 1e9
        rows.append(
            row(
                op,
                name,
                shape,
                photons,
                dtype,
                "bandwidth",
                "GB/s",
                [gigabytes / (p80 / 1e3), gigabytes / (p50 / 1e3), gigabytes / (p20 / 1e3)],
            )
        )
        speedup = times["reference"][1] / p50
        rows.append(
            row(op, name, shape, photons, dtype, "speedup", "x reference", [None, speedup, None])
        )
    return rows


def bench_generation(
    device: torch.device, size: int, batch: int, max_psnr: float, triton: bool
) -> list:
    """A whole generation with a fixed U-Net: accumulate (kernels) vs the research loop."""
    torch.manual_seed(0)
    network = build("unet", depth=3, start_filters=16).to(device).eval()
    shape = (batch, 1, size, size)
    beta, max_steps = 0.1, 400

    @torch.no_grad()
    def predict(x: torch.Tensor) -> torch.Tensor:
        return network(x)

    backend = "triton" if triton else "torch"
    providers = {
        "reference": lambda: research_generation(predict, shape, device, max_psnr, beta, max_steps),
        backend: lambda: accumulate(
            predict,
            torch.zeros(shape, device=device),
            max_psnr=max_psnr,
            beta=beta,
            max_steps=max_steps,
            seed=0,
            backend=backend,
        ),
    }
    times = {name: wall_ms(fn, device) for name, fn in providers.items()}
    rows = []
    for name, values in times.items():
        rows.append(row("generation", name, shape, max_psnr, "float32", "time", "ms", values))
        rows.append(
            row(
                "generation",
                name,
                shape,
                max_psnr,
                "float32",
                "speedup",
                "x reference",
                [None, times["reference"][1] / values[1], None],
            )
        )
    return rows


def summarise(rows: list, triton: bool) -> dict[str, object]:
    """The issue's targets, where this run measured them (photons column of 16x2048^2)."""

    def p50(op: str, provider: str, metric: str, shape: str | None = None) -> list:
        return [
            r
            for r in rows
            if r["op"] == op
            and r["provider"] == provider
            and r["metric"] == metric
            and (shape is None or r["shape"] == shape)
        ]

    if not triton:
        return {"note": "no CUDA: torch providers only, at reduced sizes; targets not measured"}
    big = "16x1x2048x2048"
    copy = {r["photons"]: r["p50"] for r in p50("binomial_split", "copy", "bandwidth", big)}
    return {
        "split_16x2048_fraction_of_copy_bandwidth (>= 0.8)": {
            r["photons"]: r["p50"] / copy[r["photons"]]
            for r in p50("binomial_split", "triton", "bandwidth", big)
        },
        "split_16x2048_speedup (>= 25)": {
            r["photons"]: r["p50"] for r in p50("binomial_split", "triton", "speedup", big)
        },
        "step_speedup (>= 5)": {
            f"{r['shape']}@{r['photons']}": r["p50"] for r in p50("gap_step", "triton", "speedup")
        },
        "generation_speedup (>= 3)": [r["p50"] for r in p50("generation", "triton", "speedup")],
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks; write the JSON and print the table. Returns an exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", help="image sizes S (S x S)")
    parser.add_argument("--batch", type=int, help="images per batch (16 on CUDA)")
    parser.add_argument("--photons", type=float, nargs="+", help="photon means per pixel")
    parser.add_argument("--quick", action="store_true", help="one small size: a smoke test")
    parser.add_argument("--no-generation", action="store_true", help="skip the end-to-end run")
    parser.add_argument(
        "--output", type=Path, help="JSON path (default results/kernels-<device>.json)"
    )
    args = parser.parse_args(argv)

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    triton = triton_runs_on(device) and device.type == "cuda"
    if not triton:
        print("No CUDA: running the torch providers only, at reduced sizes (no Triton timings).")
    quick = args.quick or not triton
    sizes = args.sizes or (
        [256] if args.quick else [256, 1024] if quick else [256, 1024, 2048, 4096]
    )
    batch = args.batch or (2 if quick else 16)
    levels = args.photons or ([1.0, 100.0] if args.quick else [0.1, 1.0, 10.0, 100.0, 1000.0])

    rows = []
    for size in sizes:
        for photons in levels:
            rows += bench_split(batch, size, photons, device, triton)
            rows += bench_step(batch, size, photons, device, triton)
    if not args.no_generation:
        size, psnr = (64, 5.0) if args.quick else (256, 20.0)
        rows += bench_generation(device, size, 2 if quick else 8, psnr, triton)

    env = environment(device)
    output = args.output or RESULTS / f"kernels-{device_slug(env)}.json"
    write_results(output, env, rows, summarise(rows, triton))
    print_table(rows)
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
