"""Axes strings (`STCZYX` letters) and the move between any image layout and (N, C, *spatial).

S is a sample (batch) index, T time, C channel, Z/Y/X space. A model with `dims` spatial
dimensions and `channels` input channels sees (N, C, *spatial): spatial is ZYX for 3D
models and YX for 2D ones, C is the model's channels, and every other axis (including Z
for 2D models, and C for one-channel models) is folded into N.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ALPHABET = "STCZYX"


def validate_axes(axes: str, ndim: int) -> str:
    """Upper-cased `axes` after checking it describes an `ndim` array.

    Raises:
        TypeError: axes not a string.
        ValueError: unknown or repeated letters, wrong length, no Y and X.
    """
    if not isinstance(axes, str):
        raise TypeError(f"axes must be a string such as 'ZYX', got {type(axes).__name__}")
    axes = axes.upper()
    unknown = sorted(set(axes) - set(ALPHABET))
    if unknown:
        raise ValueError(
            f"axes {axes!r} has unknown letter(s) {''.join(unknown)}; use letters of {ALPHABET}"
        )
    if len(set(axes)) != len(axes):
        raise ValueError(f"axes {axes!r} repeats a letter")
    if len(axes) != ndim:
        raise ValueError(
            f"axes {axes!r} has {len(axes)} letters for an image with {ndim} dimensions"
        )
    if "Y" not in axes or "X" not in axes:
        raise ValueError(f"axes {axes!r} must contain Y and X")
    return axes


def default_axes(shape: tuple[int, ...], dims: int, channels: int) -> str:
    """Guess axes for an array without metadata, for a model of `dims` and `channels`.

    2D arrays are YX; 3D arrays are YXC/CYX for three-channel models when a 3 fits,
    ZYX for 3D models, TYX otherwise; 4D arrays are TZYX for 3D models, SYXC for RGB.

    Raises:
        ValueError: when the layout cannot be guessed (pass `axes`).
    """
    ndim = len(shape)
    if ndim == 2:
        return "YX"
    if ndim == 3:
        if channels == 3 and shape[-1] == 3:
            return "YXC"
        if channels == 3 and shape[0] == 3:
            return "CYX"
        return "ZYX" if dims == 3 else "TYX"
    if ndim == 4:
        if channels == 3 and shape[-1] == 3:
            return "SYXC"
        if dims == 3:
            return "TZYX"
    raise ValueError(
        f"cannot guess the axes of an image of shape {shape}; pass axes (letters of {ALPHABET})"
    )


@dataclass(frozen=True)
class Layout:
    """How an image with `axes` maps to (N, C, *spatial) for a model, and back."""

    axes: str
    shape: tuple[int, ...]
    dims: int
    channels: int

    @classmethod
    def of(cls, shape: tuple[int, ...], axes: str | None, dims: int, channels: int) -> Layout:
        """Validate `axes` (or guess it) for an image of `shape`.

        Raises:
            ValueError: bad axes, a 3D model without Z, or a channel count that does not
                match the model.
        """
        shape = tuple(int(s) for s in shape)
        axes = (
            validate_axes(axes, len(shape))
            if axes is not None
            else default_axes(shape, dims, channels)
        )
        if dims == 3 and "Z" not in axes:
            raise ValueError(f"a 3D model needs a Z axis, got axes {axes!r}")
        if channels > 1:
            if "C" not in axes:
                raise ValueError(f"the model takes {channels} channels but axes {axes!r} have no C")
            if shape[axes.index("C")] != channels:
                raise ValueError(
                    f"the model takes {channels} channels, the image has {shape[axes.index('C')]} "
                    f"along C (shape {shape}, axes {axes!r})"
                )
        return cls(axes, shape, dims, channels)

    @property
    def spatial_axes(self) -> str:
        """The model's spatial axes, in order."""
        return "ZYX" if self.dims == 3 else "YX"

    @property
    def batch_axes(self) -> str:
        """Axes folded into N, in their image order."""
        model_axes = self.spatial_axes + ("C" if self.channels > 1 else "")
        return "".join(a for a in self.axes if a not in model_axes)

    @property
    def order(self) -> tuple[int, ...]:
        """Permutation from the image's axes to batch axes + [C] + spatial axes."""
        channel = "C" if self.channels > 1 else ""
        return tuple(self.axes.index(a) for a in self.batch_axes + channel + self.spatial_axes)

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        """Size of each spatial axis."""
        return tuple(self.shape[self.axes.index(a)] for a in self.spatial_axes)

    @property
    def batch_size(self) -> int:
        """Number of (C, *spatial) images in N."""
        return int(
            np.prod([self.shape[self.axes.index(a)] for a in self.batch_axes], dtype=np.int64)
        )

    def to_model(self, image: np.ndarray) -> np.ndarray:
        """(N, C, *spatial) view or copy of `image`."""
        moved = np.transpose(image, self.order)
        return moved.reshape(self.batch_size, self.channels, *self.spatial_shape)

    def from_model(self, batch: np.ndarray) -> np.ndarray:
        """Inverse of `to_model`: an array with the original shape and axes."""
        moved_shape = tuple(self.shape[i] for i in self.order)
        return np.transpose(batch.reshape(moved_shape), np.argsort(self.order))
