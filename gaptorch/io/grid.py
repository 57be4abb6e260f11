"""A PNG grid of sample images: how generators are looked at, in benchmarks and training."""

from __future__ import annotations

import math
import os
from pathlib import Path

import imageio.v3 as iio
import numpy as np

from gaptorch.io.write import write_atomically


def grid_image(images: np.ndarray, columns: int | None = None, gap: int = 2) -> np.ndarray:
    """Tile (N, H, W) or (N, H, W, C) images into one uint8 image, white between tiles.

    All tiles share one display range (the 0.5th to 99.5th percentile of all images), so
    brightness is comparable across samples; empty cells of the last row stay white.

    Raises:
        ValueError: not 3 or 4 dimensions, or no images.
    """
    images = np.asarray(images, np.float64)
    if images.ndim not in (3, 4) or images.shape[0] == 0:
        raise ValueError(f"images must be (N, H, W) or (N, H, W, C), N >= 1, got {images.shape}")
    count, height, width = images.shape[:3]
    columns = columns or math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    low, high = np.percentile(images, [0.5, 99.5])
    scaled = np.clip((images - low) / max(high - low, 1e-12), 0.0, 1.0)
    canvas = np.ones(
        (rows * (height + gap) - gap, columns * (width + gap) - gap, *images.shape[3:])
    )
    for index, image in enumerate(scaled):
        top, left = (index // columns) * (height + gap), (index % columns) * (width + gap)
        canvas[top : top + height, left : left + width] = image
    return np.round(canvas * 255).astype(np.uint8)


def save_grid(path: str | os.PathLike, images: np.ndarray, columns: int | None = None) -> Path:
    """Write `grid_image(images, columns)` to `path` as a PNG, atomically."""
    grid = grid_image(images, columns)
    # The format is named, not guessed from the suffix, so the temporary name works too.
    return write_atomically(path, lambda partial: iio.imwrite(partial, grid, extension=".png"))
