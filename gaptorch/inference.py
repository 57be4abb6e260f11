"""Run a network over many images of any size: batched when small, tiled when large.

How images are cut (`plan_tiles`) follows from three numbers: the memory free for a
forward pass (`available_memory`: CUDA's free memory, or on the CPU the smallest of
MemAvailable, the cgroup's headroom and the address-space limit), the bytes the network
needs per pixel, and its receptive field (`network_profile`). Tiles overlap by 2.5 times
the receptive-field radius R (rounded up). Measured as max|tiled - whole| / max|whole| of
the MMSE output after 40 training steps, with tiles at least twice the overlap: depth-2
U-Net (R = 15) 2.2e-4 at 2R, 1.1e-5 at 2.5R, 1e-6 at 3R; depth 3 (R = 39) 1.3e-5 at
2R, 8e-6 at 2.5R; depth 4 (R = 87, 16 or 32 filters) 7e-7 at 2R, 5e-7 at 2.5R (float
rounding). Smaller tiles cap the overlap at half a tile and lose that agreement. An
out-of-memory error during a pass halves the batch, then the tiles, and tries again
(`predict_all`), down to `min_tile`.
"""

from __future__ import annotations

import logging
import math
import os
import weakref
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch import nn

from gaptorch.acceleration import FastPaths, compiled, prepare
from gaptorch.tiling import as_tuple, predict_tiled, tile_starts

logger = logging.getLogger("gaptorch")

# Share of the free memory one forward pass may take; the rest is for the image-sized
# buffers counted by IMAGE_BYTES_PER_PIXEL, the allocator and everything else.
MEMORY_FRACTION = 0.5
# Whole-image buffers per pixel and channel around a pass: float64 calibration
# temporaries, float32 counts, padded copy, blended logits, weights, softmax, output.
IMAGE_BYTES_PER_PIXEL = 48
# Pixels per pass never exceed this: bigger passes are no faster, only hungrier.
PIXEL_CAP = {"cpu": 2**20, "cuda": 2**25}
# Several images (or tiles) share a pass only up to this many pixels. On the CPU bigger
# passes cost more per pixel (activations past glibc's 32 MB mmap threshold are mapped
# and page-faulted afresh each pass): measured CPU time per pixel, one thread, U-Net
# depth 4 with 16 / 32 filters: 1.2 / 3.4 us at 256x256, 1.3 / 4.1 us at 512x512, 2.1 /
# 5.0 us for four 512x512 images in one pass, 2.0 / 5.0 us at 1024x1024. Large images
# still get tiles up to PIXEL_CAP: a smaller tile would cost more in overlap.
BATCH_PIXEL_CAP = {"cpu": 2**18, "cuda": 2**25}
# Without /proc (not Linux), assume this much is free.
FALLBACK_MEMORY = 4 * 2**30
# Measured peak activation memory of the U-Nets on the CPU was 0.5-1.2x the sum of all
# layer outputs; this per-pixel margin (per channel) covers the small-network end.
PROFILE_MARGIN = 64


@dataclass(frozen=True)
class NetworkProfile:
    """What tiling needs to know about a network.

    Args:
        bytes_per_pixel: memory of one forward pass per input pixel (one channel).
        receptive_field: radius per spatial dim of the input one output pixel sees.
        multiples: the pooling grid; tiles start and end on it.
    """

    bytes_per_pixel: float
    receptive_field: tuple[int, ...]
    multiples: tuple[int, ...]


@dataclass(frozen=True)
class TilePlan:
    """How to cut images for the network: `tile` None means whole images, `chunk` at a time."""

    tile: tuple[int, ...] | None
    overlap: tuple[int, ...]
    chunk: int
    min_tile: tuple[int, ...] = ()

    def shrink(self, spatial: tuple[int, ...]) -> TilePlan | None:
        """Half the batch, else half the tiles (not below `min_tile`); None when at the floor."""
        if self.chunk > 1:
            return replace(self, chunk=self.chunk // 2)
        current = self.tile or spatial
        floor = self.min_tile or tuple(1 for _ in spatial)
        smaller = tuple(
            max(f, min(c, s) // 2) if min(c, s) > f else min(c, s)
            for c, s, f in zip(current, spatial, floor, strict=True)
        )
        if smaller == tuple(min(c, s) for c, s in zip(current, spatial, strict=True)):
            return None
        overlap = tuple(min(o, t // 2) for o, t in zip(self.overlap, smaller, strict=True))
        return replace(self, tile=smaller, overlap=overlap)


_PROFILES: weakref.WeakKeyDictionary[nn.Module, NetworkProfile] = weakref.WeakKeyDictionary()


def network_profile(network: nn.Module) -> NetworkProfile:
    """Memory per pixel (summed layer outputs of a small probe pass) and receptive field.

    The receptive field comes from the network's `receptive_field` attribute; networks
    without one get a conservative guess from their pooling grid. Cached per network.
    """
    if network in _PROFILES:
        return _PROFILES[network]
    multiples = tuple(getattr(network, "multiples", (1, 1)))
    channels = int(getattr(network, "in_channels", 1))
    probe_shape = tuple(
        max(m, 16 if len(multiples) == 3 and i == 0 else 64) for i, m in enumerate(multiples)
    )
    parameter = next(network.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    written = [0]

    def count(module: nn.Module, inputs: object, output: object) -> None:
        if isinstance(output, torch.Tensor):
            written[0] += output.numel() * output.element_size()

    leaves = [m for m in network.modules() if not list(m.children())]
    hooks = [m.register_forward_hook(count) for m in leaves]
    try:
        probe = torch.zeros(1, channels, *probe_shape, device=device)
        with (
            torch.no_grad(),
            torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"),
        ):
            network(probe)
    finally:
        for hook in hooks:
            hook.remove()
    pixels = math.prod(probe_shape)
    field = getattr(network, "receptive_field", None)
    field = tuple(field) if field is not None else tuple(max(32, 4 * m) for m in multiples)
    profile = NetworkProfile(written[0] / pixels / channels + PROFILE_MARGIN, field, multiples)
    _PROFILES[network] = profile
    return profile


def default_overlap(profile: NetworkProfile) -> tuple[int, ...]:
    """Tile overlap per spatial dim: 2.5 times the receptive-field radius, rounded up."""
    return tuple(math.ceil(2.5 * r) for r in profile.receptive_field)


def _read_number(path: str, key: str | None = None) -> int | None:
    """An integer from a /proc or /sys file (the value after `key` when given), or None."""
    try:
        with open(path) as handle:
            for line in handle:
                parts = line.split()
                if key is None:
                    return int(parts[0]) if parts and parts[0].isdigit() else None
                if parts and parts[0].rstrip(":") == key:
                    return int(parts[1]) * (1024 if line.rstrip().endswith("kB") else 1)
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_headroom() -> int | None:
    """Memory limit minus usage (plus reclaimable page cache) of this process's cgroup."""
    try:
        with open("/proc/self/cgroup") as handle:
            lines = [line.strip().split(":", 2) for line in handle]
    except OSError:
        return None
    for hierarchy, controllers, path in lines:
        if hierarchy == "0" and controllers == "":
            base = f"/sys/fs/cgroup{path.rstrip('/')}"
            limit, usage = (
                _read_number(f"{base}/memory.max"),
                _read_number(f"{base}/memory.current"),
            )
            cache = _read_number(f"{base}/memory.stat", "inactive_file") or 0
        elif "memory" in controllers.split(","):
            base = f"/sys/fs/cgroup/memory{path.rstrip('/')}"
            if not os.path.isdir(base):
                base = "/sys/fs/cgroup/memory"
            limit = _read_number(f"{base}/memory.limit_in_bytes")
            usage = _read_number(f"{base}/memory.usage_in_bytes")
            cache = _read_number(f"{base}/memory.stat", "total_inactive_file") or 0
        else:
            continue
        if limit is not None and usage is not None and limit < 2**60:
            return max(0, limit - usage + cache)
    return None


def _rlimit_headroom() -> int | None:
    """Address-space (RLIMIT_AS) and data (RLIMIT_DATA) limits minus what is in use."""
    try:
        import resource
    except ImportError:  # not on POSIX
        return None
    room = []
    for limit_name, status_key in (("RLIMIT_AS", "VmSize"), ("RLIMIT_DATA", "VmData")):
        soft, _ = resource.getrlimit(getattr(resource, limit_name))
        used = _read_number("/proc/self/status", status_key)
        if soft != resource.RLIM_INFINITY and used is not None:
            room.append(max(0, soft - used))
    return min(room) if room else None


def available_memory(device: torch.device) -> int:
    """Bytes a computation on `device` can still allocate."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))
    known = [
        v
        for v in (
            _read_number("/proc/meminfo", "MemAvailable"),
            _cgroup_headroom(),
            _rlimit_headroom(),
        )
        if v is not None
    ]
    return min(known) if known else FALLBACK_MEMORY


def _fit_tile(
    spatial: tuple[int, ...], pixels: float, multiples: tuple[int, ...]
) -> tuple[int, ...]:
    """A tile of about `pixels` pixels, as cubic as the image allows, on the pooling grid."""
    tile = [0] * len(spatial)
    free = list(range(len(spatial)))
    budget = max(pixels, 1.0)
    while free:
        side = budget ** (1 / len(free))
        small = [d for d in free if spatial[d] <= side]
        if not small:
            for d in free:
                tile[d] = max(multiples[d], int(side) // multiples[d] * multiples[d])
            break
        for d in small:
            tile[d] = spatial[d]
            budget /= spatial[d]
            free.remove(d)
    return tuple(tile)


def plan_tiles(
    spatial: tuple[int, ...],
    device: torch.device,
    tile: int | tuple[int, ...] | None = None,
    overlap: int | tuple[int, ...] | None = None,
    *,
    network: nn.Module | None = None,
    images: int = 1,
    channels: int = 1,
    batch_size: int | None = None,
) -> TilePlan:
    """Choose tiling for `images` images of `spatial` shape; explicit arguments win.

    Args:
        spatial: spatial shape of each image.
        device: where the network runs (its free memory sets the default tile).
        tile: tile size per spatial dim (default: from free memory).
        overlap: blending width per spatial dim (default: `default_overlap`).
        network: the network (its profile sizes tiles; None assumes a large U-Net).
        images: how many images one call holds.
        channels: channels per image.
        batch_size: images (untiled) or tiles per forward pass; default from memory.

    Raises:
        ValueError: tile, overlap or batch_size of the wrong length or out of range.
    """
    dims = len(spatial)
    profile = (
        network_profile(network)
        if network is not None
        else NetworkProfile(2048.0, (64,) * dims, (8,) * dims)
    )
    tiles = as_tuple(tile, dims, "tile")
    overlaps = as_tuple(overlap, dims, "overlap")
    if tiles is not None and any(t < 1 for t in tiles):
        raise ValueError(f"tile sizes must be >= 1, got {tiles}")
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    pixels = math.prod(spatial)
    image_bytes = images * channels * pixels * IMAGE_BYTES_PER_PIXEL
    pass_bytes = available_memory(device) * MEMORY_FRACTION - image_bytes
    per_pixel = profile.bytes_per_pixel * channels
    cap = PIXEL_CAP.get(device.type, PIXEL_CAP["cpu"])
    min_tile = tuple(
        min(s, max(2 * m, 16)) for s, m in zip(spatial, profile.multiples, strict=True)
    )
    pass_pixels = int(min(cap, max(math.prod(min_tile), pass_bytes / per_pixel)))
    overlaps = overlaps if overlaps is not None else default_overlap(profile)
    if tiles is None and pixels > pass_pixels:
        tiles = _fit_tile(spatial, pass_pixels, profile.multiples)
    if tiles is not None and all(t >= s for t, s in zip(tiles, spatial, strict=True)):
        tiles = None
    batch_pixels = min(pass_pixels, BATCH_PIXEL_CAP.get(device.type, BATCH_PIXEL_CAP["cpu"]))
    if tiles is not None:
        overlaps = tuple(min(o, t // 2) for o, t in zip(overlaps, tiles, strict=True))
        chunk = batch_size or max(1, batch_pixels // math.prod(tiles))
        return TilePlan(tiles, overlaps, chunk, min_tile)
    return TilePlan(None, overlaps, batch_size or max(1, batch_pixels // max(1, pixels)), min_tile)


def is_out_of_memory(error: BaseException) -> bool:
    """True for CUDA and CPU allocation failures."""
    if isinstance(error, (MemoryError, torch.cuda.OutOfMemoryError)):
        return True
    message = str(error).lower()
    # oneDNN reports a failed allocation for a convolution as "could not create a primitive".
    phrases = (
        "out of memory",
        "can't allocate memory",
        "not enough memory",
        "could not create a primitive",
    )
    return isinstance(error, RuntimeError) and any(phrase in message for phrase in phrases)


def network_predictor(
    network: nn.Module, device: torch.device, fast: FastPaths | None = None
) -> Callable[[torch.Tensor], torch.Tensor]:
    """Inference call of `network` on `device`: no grad, the fast paths, float32 out."""
    fast = fast or FastPaths()
    module = compiled(prepare(network, device, fast), device, fast, training=False)

    @torch.no_grad()
    def predict(x: torch.Tensor) -> torch.Tensor:
        with fast.autocast(device):
            return module(fast.format_input(x.to(device))).float()

    return predict


def _predict_once(
    predict: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    plan: TilePlan,
    multiples: tuple[int, ...],
) -> torch.Tensor:
    if plan.tile is None:
        return torch.cat([predict(chunk).to(images.device) for chunk in images.split(plan.chunk)])
    return predict_tiled(
        lambda x: predict(x).to(images.device),
        images,
        tile=plan.tile,
        overlap=plan.overlap,
        multiples=multiples,
        batch_size=plan.chunk,
    )


def predict_all(
    predict: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    plan: TilePlan,
    multiples: tuple[int, ...],
) -> torch.Tensor:
    """Network outputs for (N, C, *spatial) `images`, in chunks or tiles, on their device.

    On an out-of-memory error the pass is retried with half the batch, then half the
    tiles, down to the plan's `min_tile`.

    Raises:
        MemoryError: out of memory even with the smallest tiles, one at a time.
    """
    spatial = tuple(images.shape[2:])
    plan = replace(
        plan, chunk=min(plan.chunk, _passes_needed(plan, images.shape[0], spatial, multiples))
    )
    while True:
        try:
            return _predict_once(predict, images, plan, multiples)
        except (RuntimeError, MemoryError) as error:
            if not is_out_of_memory(error):
                raise
            smaller = plan.shrink(spatial)
            if smaller is None:
                raise MemoryError(
                    f"out of memory even with tiles of {_size(plan.tile or spatial)} pixels "
                    "one at a time; free memory, use the CPU, or a smaller model"
                ) from None
        logger.warning(
            "out of memory with %s; retrying with %s",
            _describe(plan, spatial),
            _describe(smaller, spatial),
        )
        plan = replace(
            smaller,
            chunk=min(smaller.chunk, _passes_needed(smaller, images.shape[0], spatial, multiples)),
        )
        if images.is_cuda:
            torch.cuda.empty_cache()


def _passes_needed(
    plan: TilePlan, images: int, spatial: tuple[int, ...], multiples: tuple[int, ...]
) -> int:
    """Images (untiled) or tiles (tiled) there are: a batch larger than this is pointless."""
    if plan.tile is None:
        return max(1, images)
    padded = [-(-s // m) * m for s, m in zip(spatial, multiples, strict=True)]
    tiles = [min(p, -(-t // m) * m) for p, t, m in zip(padded, plan.tile, multiples, strict=True)]
    positions = math.prod(
        len(tile_starts(p, t, o, m))
        for p, t, o, m in zip(padded, tiles, plan.overlap, multiples, strict=True)
    )
    return max(1, images * positions)


def _size(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def _describe(plan: TilePlan, spatial: tuple[int, ...]) -> str:
    size = _size(plan.tile or spatial)
    return f"{plan.chunk} {'tile' if plan.tile else 'image'}(s) of {size} per pass"
