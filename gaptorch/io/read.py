"""Read an image file into an array and its axes string (`STCZYX` letters)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import tifffile

TIFF_SUFFIXES = {".tif", ".tiff", ".btf", ".tf8", ".tf2"}
# tifffile's axis letters to ours: S (RGB samples) is a channel, Q/I/R/... are samples.
_TIFF_AXES = {"S": "C", "C": "C", "T": "T", "Z": "Z", "Y": "Y", "X": "X"}


def tiff_axes(axes: str) -> str:
    """Map tifffile axes (TZCYXS, Q, I, ...) to ours (STCZYX); unknown letters become S."""
    mapped = [_TIFF_AXES.get(letter, "S") for letter in axes.upper()]
    if mapped.count("S") > 1 or mapped.count("C") > 1:
        return ""
    return "".join(mapped)


def read_image(path: str | os.PathLike) -> tuple[np.ndarray, str | None]:
    """Read `path`; return the array and its axes (None when the file does not say).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file cannot be read as an image.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        if path.suffix.lower() in TIFF_SUFFIXES:
            with tifffile.TiffFile(path) as tiff:
                series = tiff.series[0]
                return series.asarray(), tiff_axes(series.axes) or None
        from skimage import io as skio

        image = np.asarray(skio.imread(path))
        axes = {2: "YX", 3: "YXC"}.get(image.ndim)
        return image, axes
    except (OSError, ValueError, tifffile.TiffFileError) as error:
        raise ValueError(f"{path}: cannot read image ({error})") from None
