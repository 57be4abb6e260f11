"""Training data from arrays or files: calibrated, laid out as (C, *spatial) tensors."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gaptorch.axes import Layout, validate_axes
from gaptorch.calibration import Calibration, resolve_calibration
from gaptorch.io import read_image

Data = np.ndarray | str | os.PathLike | Sequence[np.ndarray | str | os.PathLike]


@dataclass
class TrainingImages:
    """Images ready for patch sampling, and what was done to get them."""

    images: list[torch.Tensor]
    calibration: Calibration | None
    levels: list[float]
    sources: list[str]

    @property
    def pseudo_psnr(self) -> float:
        """Median pseudo-PSNR of the images (dB)."""
        return float(np.median(self.levels))

    @property
    def psnr_span(self) -> tuple[float, float]:
        """(5th, 95th) percentile of the images' pseudo-PSNR (dB)."""
        low, high = np.percentile(self.levels, [5, 95])
        return float(low), float(high)


def data_items(data: Data) -> list[np.ndarray | str | os.PathLike]:
    """`data` as a list of arrays and paths.

    Raises:
        ValueError: empty data.
    """
    if isinstance(data, (np.ndarray, str, os.PathLike)):
        return [data]
    if isinstance(data, torch.Tensor):
        return [data.cpu().numpy()]
    items = list(data)
    if not items:
        raise ValueError("data is empty: give an array, a file, or a list of them")
    return items


def read_items(data: Data) -> Iterator[tuple[np.ndarray, str | None, str]]:
    """Each item of `data` as (array, axes from its file or None, source name).

    Raises:
        ValueError: an empty image or one with fewer than 2 dims.
    """
    for item in data_items(data):
        if isinstance(item, (str, os.PathLike)):
            array, file_axes = read_image(item)
            source = str(Path(item))
        else:
            array, file_axes = np.asarray(item), None
            source = f"array{tuple(array.shape)}"
        if array.size == 0 or array.ndim < 2:
            raise ValueError(f"training image {source} is empty or has fewer than 2 dims")
        yield array, file_axes, source


def infer_network_shape(data: Data, axes: str | None) -> tuple[int, int]:
    """(dims, channels) a new network needs for `data`: 3D when the axes name Z, RGB for C=3."""
    first = data_items(data)[0]
    shape = np.shape(first) if not isinstance(first, (str, os.PathLike)) else None
    file_axes = None
    if shape is None:
        array, file_axes = read_image(first)
        shape = array.shape
    axes = validate_axes(axes, len(shape)) if axes is not None else file_axes
    if axes is None:
        return 2, 3 if len(shape) == 3 and shape[-1] == 3 else 1
    channels = 3 if "C" in axes and shape[axes.index("C")] == 3 else 1
    return (3 if "Z" in axes else 2), channels


def load_training_images(
    data: Data,
    *,
    axes: str | None,
    dims: int,
    channels: int,
    supervision: str,
    gain: float | str | None = None,
    offset: float | str | None = None,
) -> TrainingImages:
    """Load, calibrate and split `data` into (C, *spatial) images.

    Noisy data ("self" supervision) become integer counts through the calibration; clean
    data ("clean") stay float intensities and must be non-negative.

    Raises:
        ValueError: empty, non-finite or negative clean data; data that are not counts.
    """
    images: list[torch.Tensor] = []
    sources: list[str] = []
    calibration: Calibration | None = None
    for array, file_axes, source in read_items(data):
        sources.append(source)
        layout = Layout.of(array.shape, axes or file_axes, dims, channels)
        if supervision == "self":
            calibration = resolve_calibration(array, gain, offset)
            batch = layout.to_model(calibration.to_counts(array)).astype(np.int32)
        else:
            batch = layout.to_model(np.asarray(array, np.float32))
            if not np.isfinite(batch).all() or (batch < 0).any():
                raise ValueError(
                    f"clean training image {sources[-1]} must be finite and non-negative"
                )
        images.extend(torch.from_numpy(np.ascontiguousarray(image)) for image in batch)
    means = [float(image.float().mean()) for image in images]
    if supervision == "self" and not any(means):
        raise ValueError("training data hold no photons (all zero)")
    levels = [10 * math.log10(m) for m in means if m > 0] or [-40.0]
    return TrainingImages(images, calibration, levels, sources)
