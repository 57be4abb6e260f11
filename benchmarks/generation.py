"""Generation benchmark: FD (Fashion-MNIST classifier features) of generators' samples.

Each model folder (or bundled name) generates `--count` images (28x28 or its own size;
the feature extractor resizes to 28x28) that are compared with the 10,000 Fashion-MNIST
test images (`gaptorch.frechet`, features of the bundled classifier). Two references
frame the numbers: `--count` real training images (the floor a perfect generator
reaches at this sample size) and uniform noise (the ceiling).

Run: `python -m gaptorch.benchmarks.generation ddpm-fashion gap-gen-fashion`
(or `python benchmarks/generation.py MODEL...`); writes results/generation-<device>.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from gaptorch import Generator, datasets
from gaptorch.fashion_features import FashionFeatures
from gaptorch.frechet import feature_statistics, frechet_distance

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    """Score each model and the two references; print and save the FDs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="model folders or bundled generator names")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ddim-steps", type=int, default=50)
    parser.add_argument("--device", default=None)
    args = parser.parse_args()
    features = FashionFeatures.bundled()
    test = feature_statistics(features(datasets.fashion_mnist("test")))
    rng = np.random.default_rng(args.seed)
    train = datasets.fashion_mnist("train")
    references = {
        "real training images": train[rng.choice(len(train), args.count, replace=False)],
        "uniform noise": rng.uniform(0, 255, (args.count, 28, 28)),
    }
    rows = [
        {"model": name, "fd": frechet_distance(feature_statistics(features(images)), test)}
        for name, images in references.items()
    ]
    for model in args.models:
        generator = Generator.from_pretrained(model, device=args.device)
        began = time.perf_counter()
        options = {"steps": args.ddim_steps} if generator.spec.method == "ddpm" else {}
        images = generator.generate(args.count, seed=args.seed, **options)
        seconds = time.perf_counter() - began
        fd = frechet_distance(feature_statistics(features(images)), test)
        rows.append(
            {
                "model": model,
                "method": generator.spec.method,
                "fd": fd,
                "seconds": round(seconds, 1),
                "sampling": options or "GAP defaults",
            }
        )
    for row in rows:
        print(f"{row['model']:>24}: FD {row['fd']:.2f}")
    RESULTS.mkdir(exist_ok=True)
    record = {
        "metric": "FD (Fashion-MNIST classifier features) against the 10,000 test images",
        "count": args.count,
        "seed": args.seed,
        "rows": rows,
    }
    device = args.device or "auto"
    (RESULTS / f"generation-{device}.json").write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
