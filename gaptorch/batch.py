"""Denoise or sample many image files: stream each, keep its metadata, never lose data.

For each input file: an output that already exists is skipped (unless `overwrite`), so
an interrupted batch resumes when rerun; the image is read block by block (one YX plane,
or one ZYX volume for 3D models; YXC for colour models) and the result written block by
block to a temporary file that is renamed into place only when complete; a failing file
is recorded and the batch goes on. `gaptorch.io.files` finds the files and plans the
output paths (mirrored folders, never an input).
"""

from __future__ import annotations

import json
import math
import os
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import tifffile

from gaptorch._version import __version__
from gaptorch.acceleration import prefetched
from gaptorch.axes import Layout
from gaptorch.calibration import Calibration, estimate_calibration, is_counts
from gaptorch.denoiser import Denoiser
from gaptorch.distributed import World, barrier, gather
from gaptorch.inference import plan_tiles
from gaptorch.io.convert import OUTPUT_DTYPES, Conversion
from gaptorch.io.files import FileJob, count_pixels
from gaptorch.io.read import ImageReader
from gaptorch.io.write import BIGTIFF_THRESHOLD, partial_path, plain_page_shape, write_tiff
from gaptorch.kernels._triton import resolve_seed
from gaptorch.symmetry import check_symmetries

Progress = Callable[[int, int], None]
# Images stacked into one `denoise` call when they are small (more would only delay progress).
MAX_GROUP = 16


class NotCountsError(ValueError):
    """Data that are not photon counts were given without a calibration."""

    def __init__(self, kind: str) -> None:
        super().__init__(
            f"image is not photon counts ({kind} values); give a gain and offset, or 'auto'"
        )
        self.kind = kind


@dataclass(frozen=True)
class DenoiseSettings:
    """How each file is denoised.

    Args:
        axes: axes of every input (letters of STCZYX); None: each file's own.
        gain, offset: calibration (numbers or "auto"); both None: the model's, else the
            data must be photon counts.
        tile, overlap, batch_size: tiling (None: chosen from free memory).
        output_dtype: "float32", "uint16" or "same" (see `gaptorch.io.convert`).
        overwrite: replace existing outputs instead of skipping them.
        model_name: how the model is named in the output metadata.
        symmetries: flips/rotations the estimate is averaged over (1, 2, 4, 8; see
            `gaptorch.symmetry`).
    """

    axes: str | None = None
    gain: float | str | None = None
    offset: float | str | None = None
    tile: int | tuple[int, ...] | None = None
    overlap: int | tuple[int, ...] | None = None
    batch_size: int | None = None
    output_dtype: Literal["float32", "uint16", "same"] = "float32"
    overwrite: bool = False
    model_name: str = ""
    symmetries: int = 1
    version: int = 1

    def __post_init__(self) -> None:
        check_symmetries(self.symmetries)
        if self.output_dtype not in OUTPUT_DTYPES:
            raise ValueError(
                f"output_dtype must be one of {', '.join(OUTPUT_DTYPES)}, got {self.output_dtype!r}"
            )
        for name, value in (("gain", self.gain), ("offset", self.offset)):
            if isinstance(value, str) and value != "auto":
                raise ValueError(f"{name} must be a number or 'auto', got {value!r}")
        if isinstance(self.gain, (int, float)) and not (math.isfinite(self.gain) and self.gain > 0):
            raise ValueError(f"gain must be a positive number, got {self.gain}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")


@dataclass(frozen=True)
class SampleSettings(DenoiseSettings):
    """Posterior sampling of each file: `n` samples until `max_psnr` (see `Denoiser.sample`)."""

    n: int = 8
    max_psnr: float = 30.0
    beta: float = 0.1
    seed: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n < 1:
            raise ValueError(f"n must be >= 1, got {self.n}")


@dataclass
class FileResult:
    """What happened to one input file."""

    source: Path
    outputs: tuple[Path, ...]
    status: Literal["done", "skipped", "failed"]
    seconds: float = 0.0
    pixels: int = 0
    calibration: str = ""
    error: BaseException | None = None

    @property
    def message(self) -> str:
        """The error as one line starting with the file name."""
        if self.error is None:
            return ""
        text = str(self.error).splitlines()[0] if str(self.error) else type(self.error).__name__
        if not isinstance(self.error, (ValueError, TypeError, OSError, MemoryError, RuntimeError)):
            text = f"{type(self.error).__name__}: {text}"
        return text if text.startswith(str(self.source)) else f"{self.source}: {text}"

    @property
    def traceback(self) -> str:
        """The error's traceback (for --debug)."""
        return "".join(traceback.format_exception(self.error)) if self.error is not None else ""


@dataclass
class BatchSummary:
    """All file results and the wall time."""

    results: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        """Files with `status` ("done", "skipped" or "failed")."""
        return sum(r.status == status for r in self.results)

    @property
    def megapixels(self) -> float:
        """Megapixels processed (channels not counted)."""
        return sum(r.pixels for r in self.results if r.status == "done") / 1e6

    @property
    def megapixels_per_second(self) -> float:
        """Throughput over the processing time of the files done."""
        busy = sum(r.seconds for r in self.results if r.status == "done")
        return self.megapixels / busy if busy > 0 else 0.0


def merge_summaries(summary: BatchSummary, world: World) -> BatchSummary:
    """All ranks' file results in one summary (errors reduced to their one-line message)."""
    if not world.distributed:
        return summary
    portable = [
        FileResult(
            r.source,
            r.outputs,
            r.status,
            r.seconds,
            r.pixels,
            r.calibration,
            RuntimeError(r.message) if r.error is not None else None,
        )
        for r in summary.results
    ]
    parts = gather((portable, summary.seconds), world)
    merged = BatchSummary([r for results, _ in parts for r in results], max(s for _, s in parts))
    return merged


def run_batch(
    planned: Sequence[tuple[FileJob, tuple[Path, ...]]],
    work: Callable[[FileJob, tuple[Path, ...]], FileResult],
    on_start: Callable[[int, FileJob], None] | None = None,
    on_result: Callable[[int, FileResult], None] | None = None,
) -> BatchSummary:
    """Call `work` for each planned job; a failing file is recorded and the batch goes on.

    `on_start(index, job)` is called before and `on_result(index, result)` after each
    file. Interrupts (Ctrl-C) stop the batch; nothing partial is left behind (outputs are
    renamed into place when done).
    """
    began = time.perf_counter()
    summary = BatchSummary()
    for index, (job, outputs) in enumerate(planned):
        if on_start is not None:
            on_start(index, job)
        try:
            result = work(job, outputs)
        except Exception as error:  # one file's failure must not stop the others
            result = FileResult(job.source, outputs, "failed", error=error)
        summary.results.append(result)
        if on_result is not None:
            on_result(index, result)
    summary.seconds = time.perf_counter() - began
    return summary


def steps_for_epochs(
    paths: Sequence[str | Path],
    epochs: float,
    *,
    patch_size: int | Sequence[int],
    batch_size: int,
    dims: int,
) -> int:
    """Optimiser steps for `epochs` passes over the files at `paths`.

    One epoch is as many patches as the data hold without overlap: all pixels (channels
    not counted, read from the file headers) over the pixels of one patch.
    """
    patch = (patch_size,) * dims if isinstance(patch_size, int) else tuple(patch_size)
    return max(1, math.ceil(epochs * count_pixels(paths) / (math.prod(patch) * batch_size)))


def _check_counts(block: np.ndarray) -> None:
    if block.dtype.kind == "f" and not np.isfinite(block).all():
        raise ValueError("image contains NaN or infinite values")
    if not is_counts(block):
        raise NotCountsError("negative" if block.min() < 0 else "non-integer")


def choose_calibration(
    denoiser: Denoiser, image: ImageReader, axes: str, settings: DenoiseSettings
) -> tuple[Calibration | None, dict[str, Any]]:
    """The calibration for a file and how it was chosen; None means "must be counts".

    "auto" estimates gain and offset from up to 16 planes of the file; a number given for
    the other one replaces its estimate.

    Raises:
        ValueError: the estimate is impossible (flat or non-finite data).
    """
    gain, offset = settings.gain, settings.offset
    if gain is None and offset is None:
        if denoiser.calibration is not None:
            model = denoiser.calibration
            return model, {"gain": model.gain, "offset": model.offset, "source": "model"}
        return None, {"gain": 1.0, "offset": 0.0, "source": "photon counts"}
    if "auto" in (gain, offset):
        fit = estimate_calibration(image.planes(axes)).calibration
        chosen = Calibration(
            fit.gain if gain in (None, "auto") else float(gain),
            fit.offset if offset in (None, "auto") else float(offset),
        )
        estimated = [n for n, v in (("gain", gain), ("offset", offset)) if v in (None, "auto")]
        return chosen, {
            "gain": chosen.gain,
            "offset": chosen.offset,
            "source": f"estimated {' and '.join(estimated)}",
        }
    chosen = Calibration(
        1.0 if gain is None else float(gain), 0.0 if offset is None else float(offset)
    )
    return chosen, {"gain": chosen.gain, "offset": chosen.offset, "source": "given"}


def describe_calibration(calibration: dict[str, Any]) -> str:
    """One phrase: "photon counts", "gain 2.1 offset 99.5 (estimated gain and offset)"."""
    if calibration["source"] == "photon counts":
        return "photon counts"
    gain, offset = calibration["gain"], calibration["offset"]
    return f"gain {gain:.4g} offset {offset:.4g} ({calibration['source']})"


@dataclass(frozen=True)
class _Blocks:
    """How a file is cut for the model: blocks of the trailing axes, `group` per call."""

    axes: str
    ndim: int
    count: int
    group: int
    stack_axis: str


def _plan_blocks(
    denoiser: Denoiser, image: ImageReader, axes: str, settings: DenoiseSettings
) -> _Blocks:
    layout = Layout.of(image.shape, axes, denoiser.dims, denoiser.channels)
    if math.prod(layout.spatial_shape) < 2:
        raise ValueError(f"image has a single pixel (shape {image.shape}); nothing to denoise")
    model_axes = layout.spatial_axes + ("C" if denoiser.channels > 1 else "")
    first = min(axes.index(a) for a in model_axes)
    block_axes = axes[first:]
    block = Layout.of(image.shape[first:], block_axes, denoiser.dims, denoiser.channels)
    count = image.block_count(len(block_axes))
    stack_axis = next((a for a in "STC" if a not in block_axes), "")
    plan = plan_tiles(
        block.spatial_shape,
        denoiser.device,
        settings.tile,
        settings.overlap,
        network=denoiser.network,
        images=block.batch_size,
        channels=denoiser.channels,
        batch_size=settings.batch_size,
    )
    group = (
        1
        if plan.tile is not None or not stack_axis
        else max(1, min(MAX_GROUP, count, plan.chunk // block.batch_size))
    )
    return _Blocks(block_axes, len(block_axes), count, group, stack_axis)


def _groups(
    image: ImageReader, blocks: _Blocks, world: World | None = None
) -> Iterator[tuple[int, np.ndarray, str]]:
    """(blocks before, data, axes) for each call: `group` blocks stacked on a new axis.

    With a `world`, only every world.size-th group (from world.rank on) is read.
    """
    for number, start in enumerate(range(0, blocks.count, blocks.group)):
        if world is not None and number % world.size != world.rank:
            continue
        indices = list(range(start, min(start + blocks.group, blocks.count)))
        read = list(image.blocks(blocks.ndim, indices))
        if blocks.group == 1:
            yield start, read[0], blocks.axes
        else:
            yield start, np.stack(read), blocks.stack_axis + blocks.axes


def _record(
    operation: str, settings: DenoiseSettings, image: ImageReader, calibration: dict[str, Any]
) -> dict[str, Any]:
    return {
        "version": __version__,
        "operation": operation,
        "model": settings.model_name,
        "source": image.path.name,
        "calibration": calibration,
        "date": datetime.now().isoformat(timespec="seconds"),
    }


def _pixels(image: ImageReader, axes: str) -> int:
    return math.prod(image.shape) // (image.shape[axes.index("C")] if "C" in axes else 1)


def denoise_file(
    denoiser: Denoiser,
    source: str | Path,
    output: str | Path,
    settings: DenoiseSettings,
    progress: Progress | None = None,
    world: World | None = None,
) -> FileResult:
    """Denoise one file into `output` (MMSE estimate in the input's units), streaming.

    With a distributed `world`, every rank calls this for the same file and denoises
    its share of the planes (see `_write_sharded`); rank 0 writes the output.

    Raises:
        FileNotFoundError, ValueError: unreadable input, bad axes or shape, data that are
            not counts without calibration (NotCountsError), non-finite values.
    """
    began = time.perf_counter()
    source, output = Path(source), Path(output)
    if output.exists() and not settings.overwrite:
        return FileResult(source, (output,), "skipped")
    with ImageReader(source, settings.axes) as image:
        axes = image.axes or Layout.of(image.shape, None, denoiser.dims, denoiser.channels).axes
        blocks = _plan_blocks(denoiser, image, axes, settings)
        calibration, how = choose_calibration(denoiser, image, axes, settings)
        conversion = Conversion.choose(settings.output_dtype, image.dtype)
        gain, offset = (
            (calibration.gain, calibration.offset) if calibration is not None else (None, None)
        )

        done = [0]

        def denoise_group(data: np.ndarray, data_axes: str) -> np.ndarray:
            if calibration is None and denoiser.reads_counts:
                _check_counts(data)
            estimate = denoiser.denoise(
                data,
                data_axes,
                gain=gain,
                offset=offset,
                tile=settings.tile,
                overlap=settings.overlap,
                batch_size=settings.batch_size,
                symmetries=settings.symmetries,
            )
            done[0] += len(data) if data_axes != blocks.axes else 1
            if progress is not None:
                progress(min(done[0], blocks.count), blocks.count)
            return conversion(estimate)

        def record() -> dict[str, Any]:
            return {
                **_record("denoise (MMSE estimate)", settings, image, how),
                "symmetries": settings.symmetries,
                "output": conversion.describe(),
            }

        def write(estimates: Iterable[np.ndarray]) -> None:
            write_tiff(
                output,
                estimates,
                shape=image.shape,
                dtype=conversion.dtype,
                source=image.metadata,
                axes=image.file_axes,
                record=record,
                scale=conversion.scale,
            )

        if world is not None and world.distributed:
            _write_sharded(
                output,
                image,
                blocks,
                conversion.dtype,
                denoise_group,
                write,
                world,
                denoiser.fast.prefetch,
            )
        else:
            groups = prefetched(_groups(image, blocks), denoiser.fast.prefetch)
            write(denoise_group(data, data_axes) for _, data, data_axes in groups)
        return FileResult(
            source,
            (output,),
            "done",
            time.perf_counter() - began,
            _pixels(image, axes),
            describe_calibration(how),
        )


def _write_sharded(
    output: Path,
    image: ImageReader,
    blocks: _Blocks,
    dtype: np.dtype,
    denoise_group: Callable[[np.ndarray, str], np.ndarray],
    write: Callable[[Iterable[np.ndarray]], None],
    world: World,
    denoiser_prefetch: bool = True,
) -> None:
    """Denoise this rank's plane groups into a shared scratch array; rank 0 writes the TIFF.

    The scratch file is a memory-mapped .npy of every block next to the output; ranks
    fill disjoint blocks, then rank 0 streams them in order through the usual (metadata
    keeping, atomic) writer. A failure on any rank fails the file on every rank, so no
    rank waits forever and nothing partial is left.
    """
    scratch = output.parent / f".{output.name}.blocks.npy"  # the same name on every rank
    block_shape = image.shape[len(image.shape) - blocks.ndim :] if blocks.ndim else ()
    error = None
    try:
        if world.is_main:
            output.parent.mkdir(parents=True, exist_ok=True)
            np.lib.format.open_memmap(
                scratch, mode="w+", dtype=dtype, shape=(blocks.count, *block_shape)
            )
    except Exception as failure:  # every rank must reach the barrier
        error = failure
    barrier(world)
    if error is None:
        try:
            shared = np.load(scratch, mmap_mode="r+")
            for start, data, data_axes in prefetched(
                _groups(image, blocks, world), denoiser_prefetch
            ):
                estimate = denoise_group(data, data_axes)
                shared[start : start + (len(data) if data_axes != blocks.axes else 1)] = (
                    estimate if data_axes != blocks.axes else estimate[None]
                )
            shared.flush()
            del shared
        except Exception as failure:
            error = failure
    messages = gather(None if error is None else str(error) or type(error).__name__, world)
    failed = next((m for m in messages if m is not None), None)
    try:
        if failed is None and world.is_main:
            shared = np.load(scratch, mmap_mode="r")
            write(shared[i] for i in range(blocks.count))
    finally:
        barrier(world)
        if world.is_main and scratch.exists():
            scratch.unlink()
    if error is not None:
        raise error
    if failed is not None:
        raise RuntimeError(f"another rank failed on this file: {failed}")


def sample_file(
    denoiser: Denoiser,
    source: str | Path,
    outputs: tuple[Path, Path, Path],
    settings: SampleSettings,
    progress: Progress | None = None,
) -> FileResult:
    """Posterior samples of one file: `outputs` = (samples, mean, standard deviation).

    The samples file holds `n` samples on an extra leading axis (tifffile axis "I", read
    back as S) with the input's resolution; mean and standard deviation keep all the
    input's metadata. All three are float32, in the input's units.

    Raises:
        As `denoise_file`; ValueError for a model that cannot sample.
    """
    began = time.perf_counter()
    source = Path(source)
    if all(out.exists() for out in outputs) and not settings.overwrite:
        return FileResult(source, outputs, "skipped")
    seed = resolve_seed(settings.seed)
    with ImageReader(source, settings.axes) as image:
        axes = image.axes or Layout.of(image.shape, None, denoiser.dims, denoiser.channels).axes
        blocks = _plan_blocks(denoiser, image, axes, settings)
        calibration, how = choose_calibration(denoiser, image, axes, settings)
        gain, offset = (
            (calibration.gain, calibration.offset) if calibration is not None else (None, None)
        )
        sampling = {
            "n": settings.n,
            "max_psnr": settings.max_psnr,
            "beta": settings.beta,
            "seed": seed,
        }
        record = {**_record("posterior samples", settings, image, how), "sampling": sampling}
        block_shape = image.shape[len(image.shape) - blocks.ndim :]
        letter = next(a for a in "IQ" if a not in image.file_axes)
        samples_path, mean_path, std_path = outputs
        samples = _MappedOutput(
            samples_path, (settings.n, *image.shape), letter + image.file_axes, image, record
        )
        try:
            view = samples.array.reshape(settings.n, blocks.count, *block_shape)
            for index, data in enumerate(image.blocks(blocks.ndim)):
                if calibration is None:
                    _check_counts(data)
                view[:, index] = denoiser.sample(
                    data,
                    settings.n,
                    axes=blocks.axes,
                    max_psnr=settings.max_psnr,
                    beta=settings.beta,
                    seed=(seed + index) % 2**63,
                    gain=gain,
                    offset=offset,
                    tile=settings.tile,
                    overlap=settings.overlap,
                    batch_size=settings.batch_size,
                )
                if progress is not None:
                    progress(index + 1, blocks.count)
            samples.array.flush()
            for path, statistic in ((mean_path, np.mean), (std_path, np.std)):
                write_tiff(
                    path,
                    (statistic(view[:, i], axis=0) for i in range(blocks.count)),
                    shape=image.shape,
                    dtype=np.dtype(np.float32),
                    source=image.metadata,
                    axes=image.file_axes,
                    record=lambda s=statistic: {
                        **record,
                        "statistic": f"{s.__name__} over {settings.n} samples",
                    },
                )
            samples.commit()
        finally:
            samples.discard()
        return FileResult(
            source,
            outputs,
            "done",
            time.perf_counter() - began,
            _pixels(image, axes),
            describe_calibration(how),
        )


class _MappedOutput:
    """A float32 TIFF created as a memory map under a temporary name, renamed by `commit`."""

    def __init__(
        self,
        path: Path,
        shape: tuple[int, ...],
        axes: str,
        image: ImageReader,
        record: dict[str, Any],
    ):
        self.path = path
        self.partial = partial_path(path)
        source = image.metadata
        options: dict[str, Any] = {}
        if source is not None and source.resolution is not None:
            options["resolution"] = source.resolution
            if source.resolution_unit is not None:
                options["resolutionunit"] = source.resolution_unit
        rgb = axes.endswith("S") and plain_page_shape(shape, axes)[-1] == 3
        self.array: np.memmap | None = tifffile.memmap(
            self.partial,
            shape=shape,
            dtype=np.float32,
            photometric="rgb" if rgb else "minisblack",
            description=json.dumps({"shape": list(shape), "axes": axes, "gaptorch": record}),
            metadata=None,
            shaped=False,
            bigtiff=math.prod(shape) * 4 > BIGTIFF_THRESHOLD,
            software=f"gaptorch {__version__}",
            **options,
        )

    def commit(self) -> None:
        """Flush and rename into place."""
        self.array.flush()
        self.array = None
        os.replace(self.partial, self.path)

    def discard(self) -> None:
        """Remove the temporary file if it is still there."""
        self.array = None
        if os.path.exists(self.partial):
            os.remove(self.partial)
