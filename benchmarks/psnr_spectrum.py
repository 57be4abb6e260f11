"""PSNR spectrum (the seed study): denoising quality of each model over -40..32 dB pseudo-PSNR.

For a grayscale fluorescence set and an RGB photo set (`gaptorch.datasets`), it trains the
chosen architectures, optionally a cascade (one member per slice) and a curriculum model
(a U-Net on the widening `gaptorch.Curriculum`), every model with the same total budget
of optimiser steps (a cascade splits it over its members), on simulated counts of the
clean training images ("clean" supervision). It then scores each model per 8 dB slice:
held-out ('eval') images scaled so their expected mean count is `10**(centre/10)` at the
slice's centre, Poisson counts drawn, the MMSE estimate compared with the clean image in
photon units (`gaptorch.psnr` / `gaptorch.ssim`, as `benchmarks.quality`).

Run: `python -m gaptorch.benchmarks.psnr_spectrum --architectures unet unet_film --cascade 3
--curriculum --steps 500` (also `gap bench psnr_spectrum`). Writes
results/psnr-spectrum-<device>.json and a PNG with one curve per model (needs matplotlib).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gaptorch import Denoiser, datasets
from gaptorch.benchmarks.common import device_slug, environment
from gaptorch.benchmarks.quality import crop_center, evaluation_images, score
from gaptorch.cascade import DEFAULT_SLICES, train_cascade

RESULTS = Path(__file__).parent / "results"
FULL_RANGE = (DEFAULT_SLICES[0][0], DEFAULT_SLICES[-1][1])


def training_images(data: str) -> list[np.ndarray]:
    """Clean training images of `data` ("fluorescence" or "photos")."""
    if data == "fluorescence":
        return datasets.fluorescence_2d("train")
    return datasets.photos_rgb("train")


def cascade_slices(members: int) -> list[tuple[float, float]]:
    """`members` equal slices of the full -40..32 dB range (9 gives the seed study's)."""
    edges = np.linspace(FULL_RANGE[0], FULL_RANGE[1], members + 1)
    return [(float(low), float(high)) for low, high in zip(edges[:-1], edges[1:], strict=True)]


def train_models(data: str, args: argparse.Namespace) -> dict[str, tuple[Denoiser, float]]:
    """Every requested model trained on `data`, with its training time in seconds."""
    images, axes = training_images(data), "YX" if data == "fluorescence" else "YXC"
    common: dict[str, Any] = {
        "axes": axes,
        "supervision": "clean",
        "network": {"depth": args.depth, "start_filters": args.start_filters},
        "batch_size": args.batch_size,
        "patch_size": args.patch_size,
        "seed": args.seed,
    }
    plans: dict[str, Any] = {
        name: lambda name=name: Denoiser.train(
            images, steps=args.steps, architecture=name, psnr_range=FULL_RANGE, **common
        )
        for name in args.architectures
    }
    if args.cascade:
        steps = max(1, args.steps // args.cascade)
        plans[f"cascade-{args.cascade}"] = lambda: train_cascade(
            images, slices=cascade_slices(args.cascade), steps_per_member=steps, **common
        )
    if args.curriculum:
        plans["curriculum"] = lambda: Denoiser.train(
            images, steps=args.steps, curriculum=True, **common
        )
    trained = {}
    for name, train in plans.items():
        began = time.perf_counter()
        trained[name] = (train(), time.perf_counter() - began)
        print(f"{data}: trained {name} in {trained[name][1]:.0f} s", flush=True)
    return trained


def evaluate(
    data: str, models: dict[str, tuple[Denoiser, float]], crop: int, seed: int
) -> tuple[list[dict], list[dict]]:
    """Per-slice rows (PSNR, SSIM of every model and of the noisy input) and per-model rows."""
    clean_images, axes = evaluation_images(data)
    clean_images = [crop_center(image, crop) for image in clean_images]
    rgb = data == "photos"
    rows, seconds = [], dict.fromkeys(models, 0.0)
    for low, high in DEFAULT_SLICES:
        centre = (low + high) / 2
        rng = np.random.default_rng(seed)
        pairs = [datasets.simulate_counts(c, 10 ** (centre / 10), rng) for c in clean_images]
        rates, noisy = [r for r, _ in pairs], [n for _, n in pairs]
        cell = {"data": data, "slice": [low, high], "pseudo_psnr": centre}
        rows.append(
            {**cell, "model": "input", **score([n.astype(np.float64) for n in noisy], rates, rgb)}
        )
        for name, (denoiser, _) in models.items():
            began = time.perf_counter()
            estimates = [denoiser.denoise(n, axes=axes) for n in noisy]
            seconds[name] += time.perf_counter() - began
            rows.append({**cell, "model": name, **score(estimates, rates, rgb)})
            quality = f"PSNR {rows[-1]['psnr']:6.2f}  SSIM {rows[-1]['ssim']:.3f}"
            print(f"{data} {centre:>5g} dB  {name:<24} {quality}", flush=True)
    calls = len(DEFAULT_SLICES) * len(clean_images)
    summary = []
    for name, (denoiser, train_seconds) in models.items():
        own = [r for r in rows if r["model"] == name]
        summary.append(
            {
                "data": data,
                "model": name,
                "architecture": denoiser.spec.architecture,
                "parameters": sum(p.numel() for p in denoiser.network.parameters()),
                "train_seconds": round(train_seconds, 1),
                "inference_ms_per_image": round(1e3 * seconds[name] / calls, 1),
                "mean_psnr": float(np.mean([r["psnr"] for r in own])),
                "mean_ssim": float(np.mean([r["ssim"] for r in own])),
            }
        )
    return rows, summary


def plot(results: dict, path: Path) -> None:
    """PSNR against pseudo-PSNR, one panel per data set and one curve per model (matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = list(dict.fromkeys(r["data"] for r in results["rows"]))
    fig, axes = plt.subplots(1, len(sets), figsize=(6 * len(sets), 4), squeeze=False)
    for ax, data in zip(axes[0], sets, strict=True):
        rows = [r for r in results["rows"] if r["data"] == data]
        for model in dict.fromkeys(r["model"] for r in rows):
            own = [r for r in rows if r["model"] == model]
            style = {"linestyle": ":", "color": "gray"} if model == "input" else {"marker": "o"}
            ax.plot([r["pseudo_psnr"] for r in own], [r["psnr"] for r in own], label=model, **style)
        ax.set_xlabel("input pseudo-PSNR (dB), slice centre")
        ax.set_ylabel("PSNR (dB)")
        ax.set_title(f"{data}: {results['settings']['steps']} steps per model")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def parse(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options; `--quick` shrinks everything to a smoke test."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", nargs="+", choices=["fluorescence", "photos"], default=["fluorescence", "photos"]
    )
    parser.add_argument(
        "--architectures", nargs="*", default=["unet"], help="registry names, each one model"
    )
    parser.add_argument(
        "--steps", type=int, default=2000, help="optimiser steps per model (a cascade splits them)"
    )
    parser.add_argument(
        "--cascade",
        type=int,
        default=0,
        help="also train a cascade of this many slices (9: the study's)",
    )
    parser.add_argument(
        "--curriculum", action="store_true", help="also train a U-Net on the default curriculum"
    )
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--start-filters", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--patch-size", type=int, default=48)
    parser.add_argument(
        "--crop", type=int, default=128, help="evaluation images are centre crops of this size"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--quick", action="store_true", help="tiny networks, 4 steps, 32-pixel crops"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.depth, args.start_filters, args.crop, args.patch_size = 4, 2, 4, 32, 16
    if args.steps < 1 or args.cascade < 0:
        parser.error("--steps must be >= 1 and --cascade >= 0")
    return args


def write(results: dict, stem: Path) -> None:
    """The results as JSON and, with matplotlib installed, the plot beside them."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
    try:
        plot(results, stem.with_suffix(".png"))
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib)")


def main(argv: list[str] | None = None) -> dict:
    """Command-line entry point (also `gap bench psnr_spectrum`).

    The results file is rewritten after each data set, so a run cut short keeps what
    it finished.
    """
    args = parse(argv)
    env = environment(torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    results: dict[str, Any] = {
        "benchmark": "psnr-spectrum",
        "environment": env,
        "settings": settings,
        "slices": [list(s) for s in DEFAULT_SLICES],
        "skipped": {},
        "models": [],
        "rows": [],
    }
    stem = args.out / f"psnr-spectrum-{device_slug(env)}"
    for data in args.data:
        try:
            models = train_models(data, args)
        except datasets.SourceUnavailable as error:
            results["skipped"][data] = str(error)
            print(f"skipping {data}: {error}", flush=True)
            continue
        rows, summary = evaluate(data, models, args.crop, args.seed)
        results["rows"] += rows
        results["models"] += summary
        write(results, stem)
    for entry in results["models"]:
        print(
            f"{entry['data']:<13} {entry['model']:<24} mean PSNR {entry['mean_psnr']:6.2f}  "
            f"SSIM {entry['mean_ssim']:.3f}  {entry['parameters']:>8} params  "
            f"{entry['inference_ms_per_image']:7.1f} ms/image"
        )
    return results


if __name__ == "__main__":
    main()
