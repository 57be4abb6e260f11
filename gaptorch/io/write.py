"""Write a TIFF block by block, atomically, with the input's metadata.

Blocks (any number of pages each) come from an iterator and are written as they come,
so the image is never held whole. The file is written under a temporary name in the
output folder and renamed over `path` only when complete; what the run did (the
`record`, e.g. how many pixels were clipped) is known only at the end and is written
into the description tags then. BigTIFF is used when the input was one, or when the
output passes 4 GB less 32 MB for metadata.
"""

from __future__ import annotations

import math
import os
import secrets
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from gaptorch._version import __version__
from gaptorch.io.metadata import TiffMetadata, output_description

BIGTIFF_THRESHOLD = 2**32 - 2**25
_KEPT_PHOTOMETRIC = {0, 1, 2}  # miniswhite, minisblack, rgb


def plain_page_shape(shape: tuple[int, ...], axes: str) -> tuple[int, ...]:
    """Page shape of an image without TIFF metadata: YX, or YXS for trailing samples."""
    return tuple(shape[-3:]) if axes.endswith("S") else tuple(shape[-2:])


def _pages(
    blocks: Iterable[np.ndarray], page_shape: tuple[int, ...], dtype: np.dtype
) -> Iterator[np.ndarray]:
    """Cut a stream of blocks into pages (blocks may be larger or smaller than a page)."""
    size = math.prod(page_shape)
    pending: list[np.ndarray] = []
    held = 0
    for block in blocks:
        flat = np.ascontiguousarray(block, dtype=dtype).reshape(-1)
        pending.append(flat)
        held += flat.size
        if held < size:
            continue
        joined = np.concatenate(pending) if len(pending) > 1 else pending[0]
        whole = held // size * size
        yield from joined[:whole].reshape(-1, *page_shape)
        pending = [joined[whole:]] if whole < held else []
        held -= whole
    if held:
        raise ValueError(f"blocks end inside a page ({held} values left over)")


def partial_path(path: Path) -> str:
    """Create an empty hidden temporary file beside `path` (permissions from the umask)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        partial = path.parent / f".{path.name}.{secrets.token_hex(4)}.partial"
        try:
            with open(partial, "xb"):
                return str(partial)
        except FileExistsError:
            continue


def write_atomically(path: str | os.PathLike, write: Callable[[str], Any]) -> Path:
    """Call `write(temporary_path)` beside `path`, then rename it into place.

    Readers never see a half-written file, and an existing file is replaced only by a
    complete one; the temporary file is removed if `write` fails.
    """
    path = Path(path)
    partial = partial_path(path)
    try:
        write(partial)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return path


def _rewrite_tags(path: str, description: bytes, extratags: list[tuple[Any, ...]]) -> None:
    """Overwrite the first page's description and ImageJ tags with their final values."""
    with tifffile.TiffFile(path, mode="r+b") as tiff:
        tags = tiff.pages.first.tags
        tags[270].overwrite(description)
        for code, _, _, value, _ in extratags:
            if code in (50838, 50839) and code in tags:
                tags[code].overwrite(value)


def write_tiff(
    path: str | os.PathLike,
    blocks: Iterable[np.ndarray],
    *,
    shape: tuple[int, ...],
    dtype: np.dtype,
    source: TiffMetadata | None = None,
    axes: str,
    record: Callable[[], dict[str, Any]],
    scale: float = 1.0,
) -> Path:
    """Write `blocks` (in order, together of `shape`) to `path` via a temporary file.

    Args:
        path: the final file; its folder is created.
        blocks: arrays whose values, in order, fill an array of `shape`.
        shape: the output's shape (the input's for denoising).
        dtype: the output's pixel type; blocks are cast to it.
        source: the input's TIFF metadata to keep (None for photos and arrays).
        axes: tifffile axes of the output (used when `source` is None or plain).
        record: called before and after writing: what gaptorch did, for the metadata.
        scale: factor applied to the values (scales ImageJ's display range).

    Raises:
        ValueError: blocks that do not fill `shape`; a pixel type the format cannot hold.
    """
    path = Path(path)
    dtype = np.dtype(dtype)
    if (
        source is not None
        and source.kind == "imagej"
        and dtype.name not in ("uint8", "uint16", "float32")
    ):
        raise ValueError(f"ImageJ hyperstacks hold uint8, uint16 or float32, not {dtype.name}")
    if (
        source is not None
        and source.kind == "imagej"
        and len(source.page_shape) == 3
        and dtype != np.uint8
    ):
        raise ValueError("ImageJ RGB images must be uint8; write them as 'same' (uint8)")
    page_shape = source.page_shape if source is not None else plain_page_shape(shape, axes)
    separate = source is not None and source.planarconfig == 2
    samples = page_shape[0] if separate else page_shape[-1] if len(page_shape) == 3 else 1
    photometric = source.photometric if source is not None else 1
    if photometric not in _KEPT_PHOTOMETRIC or (photometric == 2) != (samples in (3, 4)):
        photometric = 2 if samples in (3, 4) else 1
    nbytes = math.prod(shape) * dtype.itemsize
    bigtiff = bool(source is not None and source.bigtiff) or nbytes > BIGTIFF_THRESHOLD
    partial = partial_path(path)
    try:
        description, extratags = output_description(
            source, shape=shape, axes=axes, dtype=dtype, scale=scale, record=record()
        )
        options: dict[str, Any] = {
            "photometric": photometric,
            "software": f"gaptorch {__version__}",
        }
        if samples > 1:
            options["planarconfig"] = 2 if separate else 1
            extra = source.extrasamples if source is not None else ()
            if extra or samples in (2, 4):
                options["extrasamples"] = extra or (2,)
        if source is not None and source.resolution is not None:
            options["resolution"] = source.resolution
        if source is not None and source.resolution_unit is not None:
            options["resolutionunit"] = source.resolution_unit
        pages = math.prod(shape) // math.prod(page_shape)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # nonconformant BigTIFF ImageJ, said above
            with tifffile.TiffWriter(
                partial, bigtiff=bigtiff, byteorder="<", shaped=False, ome=False
            ) as writer:
                writer.write(
                    _pages(blocks, page_shape, dtype),
                    shape=(pages, *page_shape),
                    dtype=dtype,
                    description=description,
                    extratags=extratags,
                    metadata=None,
                    **options,
                )
        description, extratags = output_description(
            source, shape=shape, axes=axes, dtype=dtype, scale=scale, record=record()
        )
        _rewrite_tags(partial, description, extratags)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return path


def write_pngs(folder: str | os.PathLike, images: np.ndarray, stem: str = "image") -> list[Path]:
    """Each 2D image of `images` (N, Y, X) or (N, Y, X, 3) as an 8-bit PNG in `folder`.

    All images share one display range (0.1 to 99.9th percentile of the set), so their
    brightness is comparable.

    Raises:
        ValueError: images that are not 2D (grey or RGB).
    """
    from skimage import io as skio

    images = np.asarray(images, np.float32)
    if not (images.ndim == 3 or (images.ndim == 4 and images.shape[-1] == 3)):
        raise ValueError(f"PNG export takes 2D grey or RGB images, got shape {images.shape[1:]}")
    low, high = np.percentile(images, [0.1, 99.9])
    scaled = np.clip((images - low) / max(float(high - low), 1e-12), 0, 1)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    width = len(str(len(images) - 1))
    paths = []
    for index, image in enumerate(scaled):
        path = folder / f"{stem}{index:0{width}d}.png"
        skio.imsave(path, (image * 255).round().astype(np.uint8), check_contrast=False)
        paths.append(path)
    return paths
