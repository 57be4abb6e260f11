"""Recipes of the bundled Fashion-MNIST generators: one command reproduces each model.

    python -m gaptorch.pretrained.generator_recipes ddpm-fashion [--steps N] [--out DIR]
    python -m gaptorch.pretrained.generator_recipes gap-gen-fashion [--steps N] [--out DIR]

Both train on the 60,000 Fashion-MNIST training images (Debian's dataset-fashion-mnist)
with a small CPU budget; the cards give the FD (Fashion-MNIST classifier features) of
1,000 samples against the 10,000 test images, measured by `benchmarks/generation.py`
(`gaptorch.frechet`), next to the FD of 1,000 real training images (the floor).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gaptorch import Generator, datasets

HERE = Path(__file__).parent


@dataclass(frozen=True)
class Recipe:
    """What one bundled generator is trained with."""

    name: str
    method: str
    steps: int
    options: dict[str, Any] = field(default_factory=dict)


RECIPES = {
    "ddpm-fashion": Recipe(
        "ddpm-fashion",
        "ddpm",
        2400,
        {
            "image_size": 32,
            "schedule": "cosine",
            "prediction": "epsilon",
            "batch_size": 32,
            "lr": 1e-3,
            "ema_decay": 0.995,
            "network": {"start_filters": 16, "channel_mults": [1, 2, 4], "attention_levels": [2]},
        },
    ),
    "gap-gen-fashion": Recipe(
        "gap-gen-fashion",
        "gap",
        2400,
        {
            "batch_size": 32,
            "patch_size": 28,
            "lr": 1e-3,
            "augment": False,
            "network": {"depth": 3, "start_filters": 16},
        },
    ),
}


def train(recipe: Recipe, steps: int | None = None, seed: int = 0) -> Generator:
    """Train `recipe` on the Fashion-MNIST training images."""
    images = datasets.fashion_mnist("train")
    return Generator.train(
        images,
        axes="SYX",
        method=recipe.method,
        steps=steps or recipe.steps,
        seed=seed,
        name=recipe.name,
        progress=True,
        device="cpu",
        **recipe.options,
    )


def main() -> None:
    """Train one recipe and write its model folder."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=sorted(RECIPES))
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    began = time.perf_counter()
    generator = train(RECIPES[args.name], args.steps, args.seed)
    out = args.out or HERE / args.name
    generator.save_pretrained(out)
    print(f"wrote {out} in {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
