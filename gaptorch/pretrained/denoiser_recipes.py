"""Recipes of the bundled denoisers: one function per model, registered in `recipes.RECIPES`.

Both are GAP models trained on photon counts simulated from bright images with the
clean image as target ("clean" supervision: measured against the self-supervised split
of simulated counts at equal budget, see their cards), over a PSNR curriculum that
widens from [24, 32] dB to [-16, 32] dB so one model serves about 0.1 to 1000 photons
per pixel.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gaptorch import Curriculum, Denoiser, datasets

CURRICULUM = {"start_low": 24.0, "start_high": 32.0, "step_db": 8.0, "min_psnr": -16.0}


def _train_denoiser(
    name: str, images: list[np.ndarray], axes: str, out: Path, *, work: Path, steps: int | None,
    progress: bool, default_steps: int, phase_steps: int,
) -> Denoiser:
    """The shared recipe: clean supervision, curriculum, EMA, 32-filter GAP U-Net."""
    steps = steps or default_steps
    run = work / name
    curriculum = Curriculum(**CURRICULUM, steps_per_phase=max(1, phase_steps * steps // default_steps))
    denoiser = Denoiser.train(
        images, axes=axes, steps=steps, seed=0, name=name, supervision="clean", curriculum=curriculum,
        network={"depth": 4, "start_filters": 32}, batch_size=16, patch_size=64, lr=1e-3, ema_decay=0.999,
        val_every=500, checkpoint_every=250, checkpoint_dir=str(run), resume=True,
        log_csv=str(run / "log.csv"), progress=progress,
    )
    denoiser.save_pretrained(out)
    return denoiser


def gap_fluo_2d(out: Path, *, work: Path, steps: int | None, progress: bool) -> None:
    """The default denoiser: grayscale fluorescence (napari time-lapse every 3rd frame,
    mahotas nuclear, stardist img2d; training quadrants only)."""
    images = datasets.fluorescence_2d("train", frame_step=3)
    _train_denoiser("gap-fluo-2d", images, "YX", out, work=work, steps=steps, progress=progress,
                    default_steps=20_000, phase_steps=1500)


def gap_photo_rgb(out: Path, *, work: Path, steps: int | None, progress: bool) -> None:
    """RGB photos: scikit-image's photographs, PyWavelets' and Debian's wallpapers (training
    images only)."""
    images = datasets.photos_rgb("train")
    _train_denoiser("gap-photo-rgb", images, "YXC", out, work=work, steps=steps, progress=progress,
                    default_steps=20_000, phase_steps=1500)

