"""Side-by-side PNG panels of images, each scaled to the last (reference) image's range."""

from __future__ import annotations

import os
from collections.abc import Sequence

import imageio.v3 as iio
import numpy as np


def save_panel(path: str | os.PathLike, images: Sequence[np.ndarray]) -> None:
    """Write grayscale or RGB images next to each other, separated by a white bar.

    All images share the display range of the last one (1st to 99.8th percentile), so
    brightness is comparable.
    """
    reference = np.asarray(images[-1], np.float64)
    low, high = np.percentile(reference, [1, 99.8])
    scaled = [
        np.clip((np.asarray(i, np.float64) - low) / max(high - low, 1e-12), 0, 1) for i in images
    ]
    height = scaled[0].shape[0]
    bar = np.ones((height, 4, *scaled[0].shape[2:]))
    row = [part for image in scaled for part in (image, bar)][:-1]
    # The format is named, not guessed from the suffix, so a temporary name works too.
    iio.imwrite(
        os.fspath(path), (np.concatenate(row, axis=1) * 255).astype(np.uint8), extension=".png"
    )
