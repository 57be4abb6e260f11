"""Open an image file without reading its pixels, then read it whole or block by block.

TIFF files (plain, ImageJ hyperstacks, OME-TIFF, BigTIFF) go through tifffile: the shape,
axes and metadata come from the header, and blocks (the trailing axes of the image, e.g.
one YX plane or one ZYX volume) are read one at a time, uncompressed data through a
memory map of just that block, so a stack larger than memory streams. Photos (PNG, JPEG,
8- or 16-bit, grey or RGB) go through scikit-image and are read whole.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import tifffile

from gaptorch.axes import validate_axes
from gaptorch.io.metadata import TiffMetadata, read_tiff_metadata

TIFF_SUFFIXES = {".tif", ".tiff", ".btf", ".tf8", ".tf2"}
PHOTO_SUFFIXES = {".png", ".jpg", ".jpeg"}
# tifffile's axis letters to ours: S (RGB samples) is a channel, Q/I/R/... are samples.
_TIFF_AXES = {"S": "C", "C": "C", "T": "T", "Z": "Z", "Y": "Y", "X": "X"}


def tiff_axes(axes: str) -> str:
    """Map tifffile axes (TZCYXS, Q, I, ...) to ours (STCZYX); "" when they do not map."""
    mapped = [_TIFF_AXES.get(letter, "S") for letter in axes.upper()]
    if mapped.count("S") > 1 or mapped.count("C") > 1:
        return ""
    return "".join(mapped)


def is_tiff(path: str | os.PathLike) -> bool:
    """True when the file name says TIFF."""
    return Path(path).suffix.lower() in TIFF_SUFFIXES


class ImageReader:
    """An image file opened for reading: shape, dtype, axes and metadata, pixels on demand.

    Use as a context manager. `axes` are ours (letters of STCZYX): the file's unless
    overridden; None when the file does not say and none was given.

    Raises (on opening):
        FileNotFoundError: no such file.
        ValueError: not a readable image, truncated, several image series, an empty
            image, or `axes` that do not fit.
    """

    def __init__(self, path: str | os.PathLike, axes: str | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: no such file")
        self._tiff: tifffile.TiffFile | None = None
        self._photo: np.ndarray | None = None
        self._page: tuple[int, np.ndarray] | None = None
        self.metadata: TiffMetadata | None = None
        try:
            if is_tiff(self.path):
                self._open_tiff()
            else:
                self._open_photo()
        except (OSError, ValueError, KeyError, IndexError, tifffile.TiffFileError) as error:
            self.close()
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise ValueError(f"{self.path}: cannot read image ({reason})") from None
        if any(size == 0 for size in self.shape):
            self.close()
            raise ValueError(f"{self.path}: image is empty (shape {self.shape})")
        self.axes = (
            validate_axes(axes, len(self.shape)) if axes is not None else self.file_axes_ours
        )

    def _open_tiff(self) -> None:
        tiff = tifffile.TiffFile(self.path)
        self._tiff = tiff
        series = tiff.series
        if not series:
            raise ValueError("no image data")
        if len(series) > 1:
            raise ValueError(
                f"the file holds {len(series)} image series of different shapes; split it first"
            )
        self._series = series[0]
        self.metadata = read_tiff_metadata(tiff, self._series)
        self.shape = tuple(int(s) for s in self._series.shape)
        self.dtype = np.dtype(self._series.dtype).newbyteorder("=")
        self.file_axes = self._series.axes
        keyframe = self._series.keyframe
        self._page_shape = tuple(int(s) for s in keyframe.shape)
        if keyframe.photometric == tifffile.PHOTOMETRIC.PALETTE:
            raise ValueError("palette (indexed colour) images hold colour indices, not intensities")
        self._offset = self._series.dataoffset if keyframe.is_memmappable else None
        self._check_extent()

    def _check_extent(self) -> None:
        """Refuse truncated files before any work: all pixel data must lie inside the file."""
        size = self.path.stat().st_size
        if 0 in self.shape:
            return  # refused as empty by the caller
        if self._offset is not None:
            end = self._offset + math.prod(self.shape) * self.dtype.itemsize
        else:
            end = 0
            for page in self._series.pages:
                if page is None:
                    raise ValueError("the file misses image pages (truncated)")
                if page.dataoffsets:
                    end = max(
                        end,
                        max(
                            o + c
                            for o, c in zip(page.dataoffsets, page.databytecounts, strict=True)
                        ),
                    )
        if end > size:
            raise ValueError(
                f"the file is truncated: pixel data end at byte {end}, the file has {size} bytes"
            )

    def _open_photo(self) -> None:
        from skimage import io as skio

        self._photo = np.asarray(skio.imread(self.path))
        if self._photo.ndim not in (2, 3):
            raise ValueError(f"unexpected photo shape {self._photo.shape}")
        self.shape = tuple(int(s) for s in self._photo.shape)
        self.dtype = self._photo.dtype
        self.file_axes = "YX" if self._photo.ndim == 2 else "YXS"
        self._page_shape = self.shape

    @property
    def file_axes_ours(self) -> str | None:
        """The file's axes in our letters, or None when they do not map."""
        return tiff_axes(self.file_axes) or None

    @property
    def kind(self) -> str:
        """The format: "imagej", "ome", "tiff" or "photo"."""
        return self.metadata.kind if self.metadata is not None else "photo"

    @property
    def nbytes(self) -> int:
        """Size of the pixel data in memory."""
        return math.prod(self.shape) * self.dtype.itemsize

    @property
    def memory_mapped(self) -> bool:
        """True when blocks are read through a memory map (uncompressed, contiguous data)."""
        return self._offset is not None

    def block_count(self, ndim: int) -> int:
        """Number of blocks made of the trailing `ndim` axes."""
        return math.prod(self.shape[: len(self.shape) - ndim])

    def blocks(self, ndim: int, indices: list[int] | None = None) -> Iterator[np.ndarray]:
        """The blocks of the trailing `ndim` axes, in order (or those at `indices`), as arrays.

        Each block is read when asked for; at most one page group is held at a time.
        """
        count = self.block_count(ndim)
        for index in range(count) if indices is None else indices:
            if not 0 <= index < count:
                raise IndexError(f"block {index} out of range ({count} blocks)")
            yield self._read_block(index, ndim)

    def planes(self, axes: str, count: int = 16) -> np.ndarray:
        """The YX planes (n, Y, X) of up to `count` evenly spaced blocks, for statistics.

        `axes` are the image's (ours). A block is the trailing axes from Y or X on, so
        an RGB photo gives its three colour planes.
        """
        first = min(axes.index("Y"), axes.index("X"))
        block_axes = axes[first:]
        total = self.block_count(len(block_axes))
        chosen = min(count, total)
        indices = sorted({round(i * (total - 1) / max(1, chosen - 1)) for i in range(chosen)})
        order = [i for i, a in enumerate(block_axes) if a not in "YX"] + [
            block_axes.index("Y"),
            block_axes.index("X"),
        ]
        planes = []
        for block in self.blocks(len(block_axes), indices):
            moved = np.transpose(block, order)
            planes.append(moved.reshape(-1, *moved.shape[-2:]))
        return np.concatenate(planes)

    def read(self) -> np.ndarray:
        """The whole image (native byte order)."""
        return self._read_block(0, len(self.shape))

    def _read_block(self, index: int, ndim: int) -> np.ndarray:
        block_shape = self.shape[len(self.shape) - ndim :]
        if self._photo is not None:
            return self._photo.reshape(-1, *block_shape)[index]
        if self._offset is not None:
            stride = math.prod(block_shape) * self.dtype.itemsize
            stored = (
                np.dtype(self._tiff.byteorder + self.dtype.char)
                if self.dtype.itemsize > 1
                else self.dtype
            )
            mapped = np.memmap(
                self.path,
                dtype=stored,
                mode="r",
                offset=self._offset + index * stride,
                shape=block_shape,
            )
            try:
                return np.array(mapped, dtype=self.dtype.newbyteorder("="))
            finally:
                del mapped
        return self._read_pages(index, ndim, block_shape)

    def _asarray(self, key: int | range) -> np.ndarray:
        """Pages `key` of the series, with decoding errors as ValueError naming the file."""
        try:
            return self._tiff.asarray(key=key, series=0, maxworkers=1)
        except (OSError, ValueError, IndexError, KeyError, tifffile.TiffFileError) as error:
            pages = f"{key.start}..{key.stop - 1}" if isinstance(key, range) else key
            reason = str(error).strip("'\"")
            raise ValueError(f"{self.path}: cannot read pages {pages} ({reason})") from None

    def _read_pages(self, index: int, ndim: int, block_shape: tuple[int, ...]) -> np.ndarray:
        page_size = math.prod(self._page_shape)
        block_size = math.prod(block_shape)
        if block_size >= page_size:
            per_block = block_size // page_size
            data = self._asarray(range(index * per_block, (index + 1) * per_block))
            return data.reshape(block_shape).astype(self.dtype.newbyteorder("="), copy=False)
        blocks_per_page = page_size // block_size
        number = index // blocks_per_page
        if self._page is None or self._page[0] != number:  # blocks of one page come in a row
            page = self._asarray(number)
            self._page = (number, page.astype(self.dtype.newbyteorder("="), copy=False))
        return self._page[1].reshape(-1, *block_shape)[index % blocks_per_page]

    def close(self) -> None:
        """Close the file."""
        if self._tiff is not None:
            self._tiff.close()
            self._tiff = None

    def __enter__(self) -> ImageReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_image(path: str | os.PathLike) -> tuple[np.ndarray, str | None]:
    """Read `path`; return the array and its axes (None when the file does not say).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file cannot be read as an image.
    """
    with ImageReader(path) as image:
        return image.read(), image.axes
