"""Run a network over many images of any size: batched when small, tiled when large."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from gaptorch.tiling import as_tuple, predict_tiled

# Pixels (voxels) one forward pass may hold: larger images are tiled.
PIXELS_PER_PASS = {"cpu": 2**20, "cuda": 2**22}
DEFAULT_TILE = {2: (512, 512), 3: (32, 128, 128)}
DEFAULT_OVERLAP = {2: (64, 64), 3: (8, 32, 32)}


@dataclass(frozen=True)
class TilePlan:
    """How to cut images for the network: `tile` None means whole images, `chunk` at a time."""

    tile: tuple[int, ...] | None
    overlap: tuple[int, ...]
    chunk: int


def plan_tiles(
    spatial: tuple[int, ...],
    device: torch.device,
    tile: int | tuple[int, ...] | None = None,
    overlap: int | tuple[int, ...] | None = None,
) -> TilePlan:
    """Choose tiling for images of `spatial` shape; explicit `tile`/`overlap` win.

    Raises:
        ValueError: tile or overlap of the wrong length or negative.
    """
    dims = len(spatial)
    budget = PIXELS_PER_PASS.get(device.type, PIXELS_PER_PASS["cpu"])
    pixels = 1
    for size in spatial:
        pixels *= size
    tiles = as_tuple(tile, dims, "tile")
    overlaps = as_tuple(overlap, dims, "overlap")
    if tiles is None and pixels > budget:
        tiles = DEFAULT_TILE[dims]
    if tiles is not None and all(t >= s for t, s in zip(tiles, spatial)):
        tiles = None
    if tiles is not None and any(t < 1 for t in tiles):
        raise ValueError(f"tile sizes must be >= 1, got {tiles}")
    overlaps = overlaps if overlaps is not None else DEFAULT_OVERLAP[dims]
    if tiles is not None:
        overlaps = tuple(min(o, t // 2) for o, t in zip(overlaps, tiles))
        return TilePlan(tiles, overlaps, chunk=max(1, budget // _product(tiles)))
    return TilePlan(None, overlaps, chunk=max(1, budget // pixels))


def _product(values: tuple[int, ...]) -> int:
    result = 1
    for value in values:
        result *= value
    return result


def network_predictor(network: nn.Module, device: torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
    """Inference call of `network`: no grad, bf16 autocast on CUDA, float32 out."""

    @torch.no_grad()
    def predict(x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            return network(x.to(device)).float()

    return predict


def predict_all(
    predict: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    plan: TilePlan,
    multiples: tuple[int, ...],
) -> torch.Tensor:
    """Network outputs for (N, C, *spatial) `images`, in chunks or tiles, on their device."""
    if plan.tile is None:
        return torch.cat([predict(chunk).to(images.device) for chunk in images.split(plan.chunk)])
    return predict_tiled(
        lambda x: predict(x).to(images.device), images, tile=plan.tile, overlap=plan.overlap,
        multiples=multiples, batch_size=plan.chunk,
    )
