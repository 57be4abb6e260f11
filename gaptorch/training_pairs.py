"""Noise2Noise training data: pairs of images of one scene, stacked on the channel axis.

A pair becomes one (2C, *spatial) image, first member in channels [0, C), second in
[C, 2C), so the ordinary `PatchSampler` crops and transforms both members alike.
Values stay in data units (float32): Noise2Noise needs no photon counts.
"""

from __future__ import annotations

import numpy as np
import torch

from gaptorch.axes import Layout
from gaptorch.training_data import Data, read_items


def _to_model(
    array: np.ndarray,
    file_axes: str | None,
    source: str,
    axes: str | None,
    dims: int,
    channels: int,
) -> tuple[np.ndarray, str]:
    """(N, C, *spatial) float32 images of one item, and its source name.

    Raises:
        ValueError: a non-finite image.
    """
    images = Layout.of(array.shape, axes or file_axes, dims, channels).to_model(
        np.asarray(array, np.float32)
    )
    if not np.isfinite(images).all():
        raise ValueError(f"training image {source} contains NaN or infinite values")
    return images, source


def load_training_pairs(
    data: Data, *, pairs: str, axes: str | None, dims: int, channels: int
) -> tuple[list[torch.Tensor], list[str]]:
    """Load `data` as pairs (see `N2NOptions.pairs`): (2C, *spatial) stacked images, sources.

    Raises:
        ValueError: an odd number of items ("files"), a stack with fewer than two frames
            ("frames"), or pair members of different shapes.
    """
    read = [_to_model(*item, axes, dims, channels) for item in read_items(data)]
    stacked: list[np.ndarray] = []
    sources: list[str] = []
    if pairs == "files":
        if len(read) % 2:
            raise ValueError(
                f"pairs='files' needs an even number of items in data (a, b, ...), got {len(read)}"
            )
        for (first, first_source), (second, second_source) in zip(
            read[::2], read[1::2], strict=True
        ):
            if first.shape != second.shape:
                raise ValueError(
                    f"pair members differ in shape: {first_source} has {first.shape[0]} images "
                    f"of {first.shape[2:]}, {second_source} {second.shape[0]} of {second.shape[2:]}"
                )
            stacked.extend(np.concatenate((first, second), axis=1))
            sources.append(f"{first_source} + {second_source}")
    elif pairs == "frames":
        for frames, source in read:
            if len(frames) < 2:
                raise ValueError(
                    f"pairs='frames' needs stacks of at least 2 frames, {source} has {len(frames)}"
                )
            even = len(frames) // 2 * 2
            stacked.extend(np.concatenate((frames[0:even:2], frames[1:even:2]), axis=1))
            sources.append(f"{source} (frames 2k, 2k+1)")
    else:
        raise ValueError(f"pairs must be 'files' or 'frames', got {pairs!r}")
    return [torch.from_numpy(np.ascontiguousarray(image)) for image in stacked], sources
