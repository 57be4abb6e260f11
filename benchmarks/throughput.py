"""Throughput benchmark: training steps/s and denoising megapixels/s, fast paths on and off.

For the default model on a 2D stack (16 x 2048 x 2048 uint16 on a GPU) and a 3D stack
(64 x 512 x 512), measured side by side in one run:
- train: optimiser steps/s through the real data pipeline (crops, augmentation, the split
  on the device) and on one pre-made batch kept in memory (the pipeline's ceiling);
- denoise: megapixels/s of `Denoiser.denoise` on the whole stack with the tile size the
  planner picks, with each fast path switched off in turn;
- careamics: CAREamics' Noise2Void prediction with its default U-Net on the same stack
  and tile size (when `careamics` is installed in this environment).
Each measurement runs in its own process, so its peak memory (CUDA peak allocation, or
peak resident memory on the CPU) is its own. On a CPU the stacks are smaller (stated in
the results). Writes results/throughput-<device>.json and prints a table.

Run: python -m gaptorch.benchmarks.throughput [--quick]   (also `gap bench throughput`)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gaptorch.acceleration import cpu_computes_bf16
from gaptorch.benchmarks.common import device_slug, environment

RESULTS = Path(__file__).parent / "results"
GPU_SHAPES = {"2d": (16, 2048, 2048), "3d": (64, 512, 512)}
CPU_SHAPES = {"2d": (2, 512, 512), "3d": (8, 128, 128)}
QUICK_SHAPES = {"2d": (1, 128, 128), "3d": (4, 32, 32)}
VARIANTS = {
    "all fast paths": {},
    "no bf16": {"bf16": False},
    "no channels_last": {"channels_last": False},
    "compiled": {"compile": True},
    "no prefetch": {"prefetch": False},
}


def _stack(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """A uint16 photon-count stack with structure (blurred blobs) and shot noise."""
    rng = np.random.default_rng(seed)
    rate = np.full(shape, 2.0)
    for _ in range(32):
        centre = [rng.uniform(0, s) for s in shape[-2:]]
        yy, xx = np.ogrid[: shape[-2], : shape[-1]]
        radius = max(shape[-1] / 16, 2)
        rate += 20.0 * np.exp(-((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) / (2 * radius**2))
    return rng.poisson(rate).astype(np.uint16)


def _model(dims: int, device: torch.device, fast: dict[str, Any]) -> Any:
    """The bundled default model for 2D when present, else the default architecture."""
    from gaptorch import Denoiser
    from gaptorch.acceleration import FastPaths
    from gaptorch.model_folder import ModelSpec
    from gaptorch.models import architecture_config, build

    if dims == 2:
        try:
            return Denoiser.from_pretrained(None, device=device, fast=FastPaths(**fast))
        except ValueError:
            pass
    config = architecture_config("unet", dims=dims)
    spec = ModelSpec(kind="denoiser", method="gap", architecture="unet", network=config)
    return Denoiser(build("unet", **config), spec, device, FastPaths(**fast))


def _peak_memory(device: torch.device) -> float:
    """Peak bytes: CUDA allocation, or resident memory of this process (Linux: KiB)."""
    if device.type == "cuda":
        return float(torch.cuda.max_memory_allocated(device))
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024.0


def measure_denoise(case: dict[str, Any]) -> dict[str, Any]:
    """Megapixels/s of Denoiser.denoise on one stack (one warm-up call on a slice first)."""
    device = torch.device(case["device"])
    stack = _stack(tuple(case["shape"]))
    denoiser = _model(case["dims"], device, case["fast"])
    axes = "ZYX" if case["dims"] == 3 else "TYX"
    denoiser.denoise(stack[: max(1, stack.shape[0] // 4)] if case["dims"] == 2 else stack, axes)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(device)
    began = time.perf_counter()
    denoiser.denoise(stack, axes)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - began
    return {
        "megapixels_per_second": stack.size / 1e6 / seconds,
        "seconds": seconds,
        "peak_memory_bytes": _peak_memory(device),
    }


def measure_train(case: dict[str, Any]) -> dict[str, Any]:
    """Training steps/s through the data pipeline and on a pre-made batch."""
    from gaptorch.acceleration import compiled, prepare
    from gaptorch.data import PatchSampler
    from gaptorch.methods.gap import GapObjective
    from gaptorch.training import TrainConfig

    device = torch.device(case["device"])
    dims, steps = case["dims"], case["steps"]
    denoiser = _model(dims, device, case["fast"])
    switches = case["fast"]
    fast = TrainConfig(  # the fast paths training uses (bf16 on CPUs with native bf16)
        steps=1,
        amp=switches.get("bf16", True),
        channels_last=switches.get("channels_last", True),
        compile=switches.get("compile"),
    ).fast.for_network(denoiser.network)
    network = prepare(denoiser.network.train(), device, fast)
    module = compiled(network, device, fast, training=True)
    optimizer = torch.optim.AdamW(network.parameters(), lr=1e-4)
    images = [
        torch.from_numpy(plane[None].astype(np.int32)) for plane in _stack(tuple(case["shape"]))
    ]
    if dims == 3:
        images = [torch.stack([image[0] for image in images])[None]]
    patch = (64, 64) if dims == 2 else (32, 32, 32)
    sampler = PatchSampler(images, patch)
    objective = GapObjective((-5.0, 5.0), "self")
    generator = torch.Generator().manual_seed(0)
    fixed = sampler.sample(case["batch"], generator).to(device)

    def run(pipeline: bool) -> float:
        for step in range(steps + 2):  # two warm-up steps
            if step == 2:
                if device.type == "cuda":
                    torch.cuda.synchronize()
                began = time.perf_counter()
            batch = sampler.sample(case["batch"], generator).to(device) if pipeline else fixed
            inputs, target = objective.pair(batch, step, steps, generator)
            with fast.autocast(device):
                loss = objective.loss(module(fast.format_input(inputs)).float(), target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return steps / (time.perf_counter() - began)

    with_pipeline, premade = run(True), run(False)
    return {
        "steps_per_second": with_pipeline,
        "premade_steps_per_second": premade,
        "pipeline_ratio": with_pipeline / premade,
        "peak_memory_bytes": _peak_memory(device),
    }


def measure_careamics(case: dict[str, Any]) -> dict[str, Any]:
    """CAREamics Noise2Void prediction (default U-Net, untrained weights) on the same stack.

    Written against careamics 0.3 (`create_n2v_config`, `CAREamist.predict(data, ...)`).
    """
    import careamics
    from careamics import CAREamist
    from careamics.config import create_n2v_config

    stack = _stack(tuple(case["shape"])).astype(np.float32)
    dims = case["dims"]
    axes = "ZYX" if dims == 3 else "SYX"
    config = create_n2v_config(
        experiment_name="throughput",
        data_type="array",
        axes=axes,
        patch_size=[32, 32, 32] if dims == 3 else [64, 64],
        batch_size=case["batch"],
        num_epochs=1,
    )
    work = Path(case["work"])
    careamist = CAREamist(config, work_dir=work, enable_progress_bar=False)
    tile = case["tile"] or (
        [min(s, 256) for s in stack.shape[-3:]]
        if dims == 3
        else [min(s, 512) for s in stack.shape[-2:]]
    )
    overlap = [min(48, t // 4) // 2 * 2 for t in tile]

    def predict(data: np.ndarray) -> None:
        careamist.predict(
            data, data_type="array", axes=axes, tile_size=tuple(tile), tile_overlap=tuple(overlap)
        )

    predict(stack[:1] if dims == 2 else stack)
    if case["device"] == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    began = time.perf_counter()
    predict(stack)
    if case["device"] == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - began
    return {
        "megapixels_per_second": stack.size / 1e6 / seconds,
        "seconds": seconds,
        "tile": tile,
        "careamics": careamics.__version__,
        "peak_memory_bytes": _peak_memory(torch.device(case["device"])),
    }


MEASURES = {"denoise": measure_denoise, "train": measure_train, "careamics": measure_careamics}


def _run_case(case: dict[str, Any]) -> dict[str, Any]:
    """One measurement in a fresh process (clean peak memory); errors become a row note."""
    command = [sys.executable, "-m", "gaptorch.benchmarks.throughput", "--case", json.dumps(case)]
    completed = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
    if completed.returncode != 0:
        lines = (completed.stderr or completed.stdout).strip().splitlines() or ["no output"]
        return {**case, "error": lines[-1]}
    return {**case, **json.loads(completed.stdout.strip().splitlines()[-1])}


def cases(device: str, shapes: dict[str, tuple[int, ...]], steps: int) -> list[dict[str, Any]]:
    """Every measurement of one run."""
    batch = 16 if device == "cuda" else 4
    rows = []
    for kind, shape in shapes.items():
        dims = 3 if kind == "3d" else 2
        base = {"device": device, "dims": dims, "shape": list(shape), "batch": batch}
        variants = (
            VARIANTS
            if device == "cuda"
            else {
                k: v
                for k, v in VARIANTS.items()
                if k in ("all fast paths", "compiled", "no prefetch")
            }
        )
        for name, fast in variants.items():
            rows.append({**base, "measure": "denoise", "variant": name, "fast": fast})
        for name in _train_variants(device, dims):
            rows.append(
                {
                    **base,
                    "measure": "train",
                    "variant": name,
                    "fast": VARIANTS[name],
                    "steps": steps,
                }
            )
        rows.append(
            {
                **base,
                "measure": "careamics",
                "variant": "Noise2Void predict",
                "fast": {},
                "tile": None,
            }
        )
    return rows


def _train_variants(device: str, dims: int) -> tuple[str, ...]:
    """Training rows: bf16 matters on CUDA, and for 2D on CPUs that compute it natively."""
    if device == "cuda":
        return ("all fast paths", "no bf16", "compiled")
    cpu_bf16 = dims == 2 and cpu_computes_bf16()
    return ("all fast paths", "no bf16") if cpu_bf16 else ("all fast paths",)


def print_table(rows: list[dict[str, Any]]) -> None:
    """One line per measurement."""
    print(f"{'measure':<10} {'stack':<16} {'variant':<20} {'result':>24} {'peak MB':>9}")
    for row in rows:
        stack = "x".join(map(str, row["shape"]))
        if "error" in row:
            result = f"error: {row['error'][:60]}"
        elif row["measure"] == "train":
            result = (
                f"{row['steps_per_second']:.2f} steps/s ({row['pipeline_ratio']:.2f} of pre-made)"
            )
        else:
            result = f"{row['megapixels_per_second']:.2f} Mpx/s"
        peak = row.get("peak_memory_bytes", float("nan")) / 2**20
        print(f"{row['measure']:<10} {stack:<16} {row['variant']:<20} {result:>24} {peak:>9.0f}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with --case, one measurement: used by the subprocesses)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny stacks: check that it runs")
    parser.add_argument("--steps", type=int, default=None, help="timed training steps")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case:
        case = json.loads(args.case)
        print(json.dumps(MEASURES[case["measure"]](case)))
        return 0
    device = "cuda" if torch.cuda.is_available() else "cpu"
    shapes = QUICK_SHAPES if args.quick else GPU_SHAPES if device == "cuda" else CPU_SHAPES
    steps = args.steps or (3 if args.quick else 50 if device == "cuda" else 10)
    work = args.out / "throughput-work"
    rows = [_run_case({**case, "work": str(work)}) for case in cases(device, shapes, steps)]
    print_table(rows)
    note = (
        None
        if device == "cuda"
        else (
            "CPU run: stacks reduced to "
            + ", ".join(f"{k} {'x'.join(map(str, v))}" for k, v in shapes.items())
            + "; denoising runs in float32 and channels_last acts on CUDA only, so those "
            + "rows are omitted; training uses bf16 where the CPU computes it natively ("
            + ("yes" if cpu_computes_bf16() else "no")
            + " here)"
        )
    )
    env = environment(torch.device(device))
    results = {"benchmark": "throughput", "environment": env, "note": note, "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    output = args.out / f"throughput-{device_slug(env)}.json"
    output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {output}" + (f"\n{note}" if note else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
