"""Recipes of the bundled Fashion-MNIST generators: one command reproduces each model.

    python -m gaptorch.pretrained.generator_recipes ddpm-fashion [--steps N] [--out DIR]
    python -m gaptorch.pretrained.generator_recipes gap-gen-fashion [--steps N] [--out DIR]
    python -m gaptorch.pretrained.generator_recipes NAME --card-only --quality JSON

Both train on the 60,000 Fashion-MNIST training images (Debian's dataset-fashion-mnist)
with a small CPU budget; the cards give the FD (Fashion-MNIST classifier features) of
1,000 samples against the 10,000 test images, measured by `benchmarks/generation.py`
(`gaptorch.frechet`), next to its references: 1,000 real training images (the floor)
and a per-pixel Gaussian (a trivial generator). `--card-only --quality JSON` rewrites a
card from that benchmark's results.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gaptorch import Generator, datasets
from gaptorch.io.write import write_atomically
from gaptorch.model_card import model_card
from gaptorch.model_folder import CARD_NAME

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
        6000,
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
        6000,
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


def quality_section(name: str, results: dict) -> str:
    """The card's quality text: this model's rows of a generation benchmark and its references."""
    summary, rows = results["summary"], results["rows"]
    env = results["environment"]
    mine = [r for r in rows if r["model"].split(" ")[0] == name and "method" in r]
    if not mine:
        raise ValueError(f"the generation results hold no row of {name}")
    lines = [
        f"{summary['metric']}, {summary['count']:,} samples, seed {summary['seed']} "
        f"(`gap bench generation`, {env['device']}, {env['cpu_threads']} threads, "
        f"torch {env['torch']}):",
        "",
        "| generator | FD | images/s |",
        "|---|---|---|",
        *(f"| {r['model']} | **{r['fd']:.1f}** | {r['images_per_second']:g} |" for r in mine),
        *(
            f"| {r['model']} ({r['reference']}) | {r['fd']:.1f} | |"
            for r in rows
            if "reference" in r
        ),
    ]
    return "\n".join(lines)


def write_card(name: str, folder: Path, results: dict) -> None:
    """Rewrite the model card of the generator in `folder` with measured quality."""
    generator = Generator.from_pretrained(folder, device="cpu")
    card = model_card(generator.spec, quality_section(name, results))
    write_atomically(folder / CARD_NAME, lambda path: Path(path).write_text(card))


def main() -> None:
    """Train one recipe and write its model folder."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=sorted(RECIPES))
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--card-only", action="store_true", help="rewrite the card, no training")
    parser.add_argument("--quality", type=Path, default=None, help="generation benchmark JSON")
    args = parser.parse_args()
    out = args.out or HERE / args.name
    quality = json.loads(args.quality.read_text()) if args.quality else None
    if args.card_only:
        if quality is None:
            parser.error("--card-only needs --quality")
        write_card(args.name, out, quality)
        return
    began = time.perf_counter()
    generator = train(RECIPES[args.name], args.steps, args.seed)
    generator.save_pretrained(out)
    if quality is not None:
        write_card(args.name, out, quality)
    print(f"wrote {out} in {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
