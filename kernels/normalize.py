"""Per-image normalisation: divide by the mean, or map two percentiles to 0 and 1.

For images x (B, C, *spatial) with N elements per image: `normalize_mean` gives
x * N / sum(x[b]) (an image summing to 0 gives zeros) and `normalize_percentile` gives
(x - P_low[b]) / (P_high[b] - P_low[b]) (a zero range divides by 1). Percentiles follow
numpy's default "linear" method (Hyndman & Fan 1996, type 7): for an image's sorted
values v, h = (N - 1) * q / 100 and P = lerp(v[floor h], v[min(floor h + 1, N - 1)],
h - floor h), in float64 as numpy does it. Integer images get their order statistics
exactly from a per-image histogram (Triton, int32 atomics); float images from a sort of
each image in turn (no 2**24 limit, unlike `torch.quantile`). Outputs are float32.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from gaptorch.kernels._triton import HAS_TRITON, choose_backend, launch_block, warps
from gaptorch.kernels._validate import check_batched

if HAS_TRITON:
    import triton
    import triton.language as tl

    from gaptorch.kernels._samplers import image_block

HISTOGRAM_LIMIT = 2**26  # histogram bins over the batch (256 MiB of int32); beyond: sort
WIDE_UNSIGNED = (torch.uint16, torch.uint32, torch.uint64)


def _ranks(numel: int, q: Sequence[float]) -> tuple[list[int], list[int], torch.Tensor]:
    """Numpy's linear method: the two order statistics and the weight for each q."""
    virtual = [(numel - 1) * (float(value) / 100.0) for value in q]
    below = [math.floor(v) for v in virtual]
    above = [min(b + 1, numel - 1) for b in below]
    gamma = torch.tensor([v - b for v, b in zip(virtual, below, strict=True)], dtype=torch.float64)
    return below, above, gamma


def _lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Numpy's `_lerp`: a + (b - a) t, from the upper end for t >= 1/2 (monotone, exact ends)."""
    diff = b - a
    return torch.where(t >= 0.5, b - diff * (1 - t), a + diff * t)


def _sorted_order_statistics(images: torch.Tensor, ranks: list[int]) -> torch.Tensor:
    """(B, len(ranks)) order statistics (0-based ranks) of each image, one sort at a time."""
    index = torch.tensor(ranks, device=images.device)
    rows = [torch.sort(image.flatten()).values[index] for image in images]
    return torch.stack(rows).to(torch.float64)


def percentiles_reference(images: torch.Tensor, q: Sequence[float]) -> torch.Tensor:
    """Per-image percentiles (numpy "linear") by sorting each image: (B, len(q)) float64."""
    below, above, gamma = _ranks(images[0].numel(), q)
    values = _sorted_order_statistics(images, below + above)
    return _lerp(values[:, : len(q)], values[:, len(q) :], gamma.to(images.device))


def _affine_reference(
    images: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor
) -> torch.Tensor:
    """float32 of (x - shift[b]) * scale[b], computed in float64."""
    view = (-1,) + (1,) * (images.ndim - 1)
    return ((images.to(torch.float64) - shift.view(view)) * scale.view(view)).to(torch.float32)


if HAS_TRITON:

    @triton.jit
    def _histogram_kernel(
        values_ptr, minima_ptr, hist_ptr, numel, chunks, bins, BLOCK: tl.constexpr
    ):
        """Count each image's values into its row of `hist`, offset by the image's minimum."""
        pid, image, start, elem, inside = image_block(chunks, numel, BLOCK)
        values = tl.load(values_ptr + image * numel + elem, mask=inside, other=0).to(tl.int64)
        key = values - tl.load(minima_ptr + image)
        tl.atomic_add(hist_ptr + image * bins + key, 1, mask=inside)

    @triton.jit
    def _affine_kernel(x_ptr, out_ptr, shift_ptr, scale_ptr, numel, chunks, BLOCK: tl.constexpr):
        """float32 of (x - shift[b]) * scale[b], computed in float64 like the reference."""
        pid, image, start, elem, inside = image_block(chunks, numel, BLOCK)
        offsets = image * numel + elem
        x = tl.load(x_ptr + offsets, mask=inside, other=0).to(tl.float64)
        y = (x - tl.load(shift_ptr + image)) * tl.load(scale_ptr + image)
        tl.store(out_ptr + offsets, y.to(tl.float32), mask=inside)


def _grid(images: torch.Tensor) -> tuple[int, int, int]:
    """(programs, chunks, block) for a kernel over every image's elements."""
    block = launch_block(images[0].numel())
    chunks = triton.cdiv(images[0].numel(), block)
    return images.shape[0] * chunks, chunks, block


def _launch_histogram_order_statistics(
    images: torch.Tensor, ranks: list[int]
) -> torch.Tensor | None:
    """Exact order statistics of integer images from per-image histograms.

    Syncs once with the device for the value range; None when the histograms would
    pass HISTOGRAM_LIMIT bins (the caller sorts instead).
    """
    if images.dtype in WIDE_UNSIGNED:
        images = images.to(torch.int64)  # torch has no CPU min/max for these
    batch = images.shape[0]
    flat = images.reshape(batch, -1)
    minima = flat.amin(dim=1).to(torch.int64)
    bins = int((flat.amax(dim=1).to(torch.int64) - minima).max()) + 1
    if batch * bins > HISTOGRAM_LIMIT:
        return None
    hist = torch.zeros((batch, bins), dtype=torch.int32, device=images.device)
    programs, chunks, block = _grid(images)
    _histogram_kernel[(programs,)](
        images, minima, hist, flat.shape[1], chunks, bins, BLOCK=block, num_warps=warps(block, 4)
    )
    cumulative = hist.cumsum(dim=1)
    wanted = torch.tensor(ranks, device=images.device).expand(batch, -1).contiguous()
    index = torch.searchsorted(cumulative, wanted, right=True)
    return (minima[:, None] + index).to(torch.float64)


def _launch_percentiles(images: torch.Tensor, q: Sequence[float]) -> torch.Tensor:
    """Percentiles with Triton histograms for integer images (sorting where they cannot)."""
    below, above, gamma = _ranks(images[0].numel(), q)
    values = None
    if not images.dtype.is_floating_point:
        values = _launch_histogram_order_statistics(images, below + above)
    if values is None:
        values = _sorted_order_statistics(images, below + above)
    return _lerp(values[:, : len(q)], values[:, len(q) :], gamma.to(images.device))


def _launch_affine(images: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """float32 of (x - shift[b]) * scale[b] in one Triton pass."""
    out = torch.empty(images.shape, dtype=torch.float32, device=images.device)
    programs, chunks, block = _grid(images)
    _affine_kernel[(programs,)](
        images,
        out,
        shift.contiguous(),
        scale.contiguous(),
        images[0].numel(),
        chunks,
        BLOCK=block,
        num_warps=warps(block, 4),
    )
    return out


def _check_images(images: torch.Tensor) -> torch.Tensor:
    """Validate (B, C, *spatial) integer or float images; return them contiguous."""
    check_batched("images", images)
    if images.dtype == torch.bool or images.dtype.is_complex:
        raise TypeError(f"images must be an integer or float tensor, got {images.dtype}")
    return images.contiguous()


def percentiles(
    images: torch.Tensor, q: Sequence[float], *, backend: str | None = None
) -> torch.Tensor:
    """Per-image percentiles, numpy's default "linear" definition.

    Args:
        images: (B, C, *spatial) integer or float images.
        q: percentiles in [0, 100].
        backend: "triton", "torch" or "auto"/None (Triton on CUDA, torch elsewhere).

    Returns:
        (B, len(q)) float64; exact order statistics for integer images.

    Raises:
        TypeError: images of a wrong type.
        ValueError: bad shape, or q empty or outside [0, 100].
        RuntimeError: backend="triton" where Triton cannot run.
    """
    images = _check_images(images)
    q = [float(value) for value in q]
    if not q or not all(0.0 <= value <= 100.0 for value in q):
        raise ValueError(f"q must be percentiles in [0, 100], got {q}")
    if choose_backend(backend, images.device, "percentiles") == "triton":
        return _launch_percentiles(images, q)
    return percentiles_reference(images, q)


def normalize_percentile(
    images: torch.Tensor, low: float = 1.0, high: float = 99.8, *, backend: str | None = None
) -> torch.Tensor:
    """Map each image's `low` and `high` percentiles to 0 and 1 (float32).

    Raises:
        ValueError: unless 0 <= low < high <= 100; see `percentiles` for the rest.
    """
    if not 0.0 <= low < high <= 100.0:
        raise ValueError(f"need 0 <= low < high <= 100, got low={low}, high={high}")
    levels = percentiles(images, [low, high], backend=backend)
    shift, width = levels[:, 0], levels[:, 1] - levels[:, 0]
    scale = 1.0 / torch.where(width > 0, width, torch.ones_like(width))
    if choose_backend(backend, images.device, "normalize_percentile") == "triton":
        return _launch_affine(images.contiguous(), shift, scale)
    return _affine_reference(images, shift, scale)


def normalize_mean(images: torch.Tensor, *, backend: str | None = None) -> torch.Tensor:
    """Scale each image to mean 1 (float32); an image summing to 0 gives zeros.

    The sum is taken in float64 (exact for integer images below 2**53).

    Raises:
        TypeError, ValueError: see `percentiles`.
        RuntimeError: backend="triton" where Triton cannot run.
    """
    images = _check_images(images)
    batch, numel = images.shape[0], images[0].numel()
    total = images.reshape(batch, -1).sum(dim=1, dtype=torch.float64)
    scale = torch.where(total != 0, numel / torch.where(total != 0, total, 1.0), 0.0)
    shift = torch.zeros_like(scale)
    if choose_backend(backend, images.device, "normalize_mean") == "triton":
        return _launch_affine(images, shift, scale)
    return _affine_reference(images, shift, scale)
