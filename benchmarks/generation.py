"""Generation benchmark: FD (Fashion-MNIST classifier features) of generators' samples.

Each generator makes `--count` images that are compared with the 10,000 Fashion-MNIST
test images (`gaptorch.frechet`, features of the bundled classifier, which resizes to
28x28). A DDPM model is scored once per `--ddpm-sampling` entry (DDIM with 50 steps and
ancestral sampling over all 1000 training steps by default). Two references, measured in
the same run at the same sample size, frame the numbers: `--count` real training images
(the floor a perfect generator reaches) and a trivial generator, a per-pixel Gaussian
fitted to the 60,000 training images (independent pixels, clipped to [0, 255]).
With `--inception FILE` (a local TorchScript Inception-v3) the features are Inception's
and the number is the FID.

Writes results/generation-<device>.json (environment, FD, seconds and images per second
per row) and a PNG grid of the first 64 samples of each row.

Run: `gap bench generation` (the bundled ddpm-fashion and gap-gen-fashion), or
`python -m gaptorch.benchmarks.generation MODEL... [--count N] [--ddpm-sampling ddim:50]`.
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from gaptorch import Generator, datasets
from gaptorch.benchmarks.common import device_slug, environment, slug, write_results
from gaptorch.fashion_features import FashionFeatures
from gaptorch.frechet import (
    Features,
    FeatureStatistics,
    feature_statistics,
    frechet_distance,
)
from gaptorch.inception_features import InceptionFeatures
from gaptorch.io.grid import save_grid
from gaptorch.training import choose_device

RESULTS = Path(__file__).parent / "results"
DEFAULT_MODELS = ("ddpm-fashion", "gap-gen-fashion")
GRID_SAMPLES = 64


def sampling_options(text: str) -> dict[str, object]:
    """ "ddim:50" -> {"sampler": "ddim", "steps": 50}; "ddpm" (no steps) -> all of them.

    Raises:
        argparse.ArgumentTypeError: not SAMPLER[:STEPS] with a known sampler.
    """
    match = re.fullmatch(r"(ddim|ddpm)(?::([1-9][0-9]*))?", text)
    if match is None:
        raise argparse.ArgumentTypeError(f"expected ddim[:STEPS] or ddpm[:STEPS], got {text!r}")
    sampler, steps = match.groups()
    return {"sampler": sampler, **({"steps": int(steps)} if steps else {})}


def per_pixel_gaussian(train: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` images whose pixels are independent Gaussians with the training set's
    per-pixel mean and standard deviation, clipped to the data range [0, 255]."""
    pixels = train.astype(np.float64)
    mean, std = pixels.mean(axis=0), pixels.std(axis=0)
    return np.clip(rng.normal(mean, std, (count, *mean.shape)), 0.0, 255.0)


def score(
    label: str,
    images: np.ndarray,
    features: Features,
    test: FeatureStatistics,
    grid_prefix: Path,
) -> dict[str, object]:
    """The FD row of `images` (and their grid, written beside the JSON)."""
    grid = save_grid(f"{grid_prefix}-{slug(label)}.png", images[:GRID_SAMPLES], columns=8)
    fd = frechet_distance(feature_statistics(features(images)), test)
    return {"model": label, "fd": round(fd, 2), "grid": grid.name}


def timed(
    make: Callable[..., np.ndarray], *args: Any, **kwargs: Any
) -> tuple[np.ndarray, dict[str, float]]:
    """Images from `make(*args, **kwargs)` and how fast they came."""
    began = time.perf_counter()
    images = make(*args, **kwargs)
    seconds = time.perf_counter() - began
    speed = round(len(images) / seconds, 2)
    return images, {"seconds": round(seconds, 1), "images_per_second": speed}


def main(argv: list[str] | None = None) -> None:
    """Score the references and each generator; print and save the FDs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "models",
        nargs="*",
        default=list(DEFAULT_MODELS),
        help="model folders or bundled generator names (default: the bundled ones)",
    )
    parser.add_argument("--count", type=int, default=1000, help="images per row")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--ddpm-sampling",
        nargs="+",
        type=sampling_options,
        default=[{"sampler": "ddim", "steps": 50}, {"sampler": "ddpm"}],
        help="DDPM samplers to score: ddim[:STEPS] or ddpm[:STEPS] (default: ddim:50 ddpm)",
    )
    parser.add_argument("--device", default=None, help="default: CUDA when available")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--inception",
        type=Path,
        default=None,
        metavar="FILE",
        help="TorchScript Inception-v3 (inception-2015-12-05.pt): report the FID with its "
        "features instead of the FD with the bundled classifier's",
    )
    args = parser.parse_args(argv)
    if args.count < 2:
        parser.error(f"--count must be >= 2, got {args.count}")
    device = choose_device(args.device)
    env = environment(device)
    prefix = args.out / f"generation-{device_slug(env)}"
    args.out.mkdir(parents=True, exist_ok=True)
    if args.inception is None:
        features: Features = FashionFeatures.bundled()
        metric = "FD (Fashion-MNIST classifier features)"
    else:
        features = InceptionFeatures(args.inception, device)
        metric = f"{InceptionFeatures.name} features of {args.inception.name}"
    test = feature_statistics(features(datasets.fashion_mnist("test")))
    rng = np.random.default_rng(args.seed)
    train = datasets.fashion_mnist("train")
    references = {
        "real training images": (train[rng.choice(len(train), args.count, replace=False)], "floor"),
        "per-pixel Gaussian": (per_pixel_gaussian(train, args.count, rng), "trivial generator"),
    }
    rows = [
        {**score(label, images, features, test, prefix), "reference": role}
        for label, (images, role) in references.items()
    ]
    for model in args.models:
        generator = Generator.from_pretrained(model, device=device)
        name = Path(model).name
        settings = [{}]
        if generator.spec.method == "ddpm":
            timesteps = int(generator.spec.method_config["timesteps"])
            settings = [{"steps": timesteps, **o} for o in args.ddpm_sampling]
        for options in settings:
            label = f"{name} {options['sampler']} {options['steps']}" if options else name
            images, speed = timed(generator.generate, args.count, seed=args.seed, **options)
            rows.append(
                {
                    **score(label, images, features, test, prefix),
                    **speed,
                    "method": generator.spec.method,
                    "sampling": options or "GAP defaults (max_psnr 30, beta 0.1)",
                }
            )
    print(f"{metric}, {args.count} images against the test set")
    print(f"{'':>32}  {'FD':>8}  {'images/s':>9}")
    for row in rows:
        speed = f"{row['images_per_second']:9.2f}" if "images_per_second" in row else f"{'-':>9}"
        print(f"{row['model']:>32}  {row['fd']:8.2f}  {speed}")
    write_results(
        prefix.with_suffix(".json"),
        env,
        rows,
        {
            "metric": f"{metric} against the 10,000 test images",
            "count": args.count,
            "seed": args.seed,
        },
    )
    print(f"wrote {prefix.with_suffix('.json')}")


if __name__ == "__main__":
    main()
