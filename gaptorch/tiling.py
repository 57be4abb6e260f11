"""Run a network over an image in overlapping tiles and blend the logits without seams.

The image is padded exactly as the network pads a whole image, tiles start on the
network's pooling grid (so a convolution network sees the same pixels at the same phase
as untiled), and overlapping logits are blended with ramps that ignore the outer quarter of each
overlap. Normalisation (the
softmax) happens afterwards over the whole image, so tiling changes logits only near
tile borders, where the ramps give them little weight.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import torch

from gaptorch.models.blocks import pad_to_multiple

Predict = Callable[[torch.Tensor], torch.Tensor]


def as_tuple(value: int | Sequence[int] | None, ndim: int, name: str) -> tuple[int, ...] | None:
    """Expand an int (or None) to one value per spatial dim.

    Raises:
        ValueError: a sequence of the wrong length, or negative values.
    """
    if value is None:
        return None
    values = (int(value),) * ndim if isinstance(value, int) else tuple(int(v) for v in value)
    if len(values) != ndim or any(v < 0 for v in values):
        raise ValueError(f"{name} must be a non-negative int or {ndim} of them, got {value}")
    return values


def tile_starts(size: int, tile: int, overlap: int, align: int) -> list[int]:
    """Aligned starts of tiles of length `tile` (multiple of `align`) covering `size`."""
    if tile >= size:
        return [0]
    stride = max(align, (tile - overlap) // align * align)
    starts = list(range(0, size - tile, stride))
    return starts + [size - tile]


def _ramp(length: int, width: int, rise: bool, fall: bool) -> torch.Tensor:
    """1D blending weights for a tile side that borders another tile.

    The outer quarter of the overlap gets no weight (logits there see the tile's edge),
    the middle half ramps linearly; in any overlap of `width` some tile has full weight.
    """
    position = torch.arange(length, dtype=torch.float32) + 0.5
    weights = torch.ones(length)
    if width > 0:
        margin, span = width / 4, width / 2
        if rise:
            weights = torch.minimum(weights, ((position - margin) / span).clamp(0, 1))
        if fall:
            weights = torch.minimum(weights, ((position.flip(0) - margin) / span).clamp(0, 1))
    return weights


def predict_tiled(
    predict: Predict,
    counts: torch.Tensor,
    *,
    tile: Sequence[int],
    overlap: Sequence[int],
    multiples: Sequence[int],
    batch_size: int = 4,
) -> torch.Tensor:
    """Logits of `counts` (N, C, *spatial) computed tile by tile.

    Args:
        predict: the network; (B, C, *tile) -> (B, C, *tile) logits.
        counts: images; tiles go to `predict` on the device of `counts`.
        tile: tile size per spatial dim (rounded up to `multiples`).
        overlap: blending width per spatial dim.
        multiples: the network's pooling grid per spatial dim.
        batch_size: tiles per forward pass.

    Returns:
        Logits of the same shape as `counts` (float32, on the device of `counts`).
    """
    padded, crop = pad_to_multiple(counts, tuple(multiples))
    spatial = padded.shape[2:]
    tiles = [min(size, -(-t // m) * m) for size, t, m in zip(spatial, tile, multiples, strict=True)]
    starts = [
        tile_starts(s, t, o, m)
        for s, t, o, m in zip(spatial, tiles, overlap, multiples, strict=True)
    ]
    weights = [
        [_ramp(t, o, start > 0, start + t < s) for start in dim_starts]
        for s, t, o, dim_starts in zip(spatial, tiles, overlap, starts, strict=True)
    ]
    total = torch.zeros(padded.shape, dtype=torch.float32, device=counts.device)
    norm = torch.zeros(spatial, dtype=torch.float32, device=counts.device)
    corners = list(itertools.product(*[range(len(s)) for s in starts]))
    for first in range(0, len(corners), max(1, batch_size // max(1, padded.shape[0]))):
        chunk = corners[first : first + max(1, batch_size // max(1, padded.shape[0]))]
        regions = [
            tuple(slice(starts[d][i], starts[d][i] + tiles[d]) for d, i in enumerate(corner))
            for corner in chunk
        ]
        inputs = torch.cat([padded[(slice(None), slice(None), *region)] for region in regions])
        logits = predict(inputs).float().split(padded.shape[0])
        for corner, region, tile_logits in zip(chunk, regions, logits, strict=True):
            weight = _outer([weights[d][i] for d, i in enumerate(corner)]).to(counts.device)
            total[(slice(None), slice(None), *region)] += tile_logits * weight
            norm[region] += weight
    return (total / norm)[crop]


def _outer(vectors: list[torch.Tensor]) -> torch.Tensor:
    """Outer product of 1D tensors: an nD weight map."""
    result = vectors[0]
    for vector in vectors[1:]:
        result = result.unsqueeze(-1) * vector
    return result
