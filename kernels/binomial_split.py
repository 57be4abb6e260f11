"""Binomial photon splitting: the self-supervised training pair of GAP.

For integer counts n (B, C, *spatial) and a per-image probability p, draw
`inp ~ Binomial(n, p)` and keep the remainder `n - inp`; the target is the remainder
scaled to mean 1 per image (all-zero remainders give zeros). Thinning a Poisson image
this way gives two independent Poisson images (Krull et al. 2023, arXiv 2307.06607, eq. 6).
"""

from __future__ import annotations

import torch

from gaptorch.kernels._triton import choose_backend, resolve_seed, seeded_generator
from gaptorch.kernels._validate import broadcast_shape, check_batched, per_image


def binomial_split_reference(
    counts: torch.Tensor, p: torch.Tensor, *, seed: int, dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain torch split: `torch.binomial` in float64 (exact counts below 2**53).

    Args:
        counts: (B, C, *spatial) integer photon counts.
        p: (B,) float split probabilities.
        seed: seeds a torch.Generator on the counts' device.
        dtype: dtype of `inp`.

    Returns:
        `inp` (dtype) and `target` (float32, mean 1 per image or all zero).
    """
    n = counts.to(torch.float64)
    probs = broadcast_shape(p.to(torch.float64), n.ndim).expand_as(n).contiguous()
    inp = torch.binomial(n, probs, generator=seeded_generator(seed, counts.device))
    return inp.to(dtype), _normalised_remainder(n - inp)


def _normalised_remainder(remainder: torch.Tensor) -> torch.Tensor:
    """Scale each image of `remainder` to mean 1; all-zero images stay zero."""
    dims = tuple(range(1, remainder.ndim))
    total = remainder.sum(dim=dims, keepdim=True)
    pixels = remainder[0].numel()
    scale = torch.where(total > 0, pixels / total.clamp_min(1), torch.zeros_like(total))
    return (remainder * scale).to(torch.float32)


def binomial_split(
    counts: torch.Tensor,
    p: float | torch.Tensor,
    *,
    seed: int | None = None,
    backend: str | None = None,
    dtype: torch.dtype = torch.float32,
    validate: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Split photon counts into a network input and a held-out target.

    Args:
        counts: (B, C, *spatial) integer photon counts, any device.
        p: probability of keeping a photon in `inp`: a float, or a (B,) tensor per image.
        seed: the same seed gives the same split; None draws one from torch's default
            generator (so `torch.manual_seed` makes runs reproducible).
        backend: "triton", "torch" or "auto"/None (Triton on CUDA, torch elsewhere).
        dtype: dtype of `inp`. float32 holds integers exactly up to 2**24; pass
            torch.int32 or torch.int64 for exact larger counts.
        validate: check counts >= 0 and 0 <= p <= 1 (syncs with the device).

    Returns:
        `inp` ~ Binomial(counts, p) and `target` = (counts - inp) scaled to mean 1 per
        image (float32; all-zero images give zeros, never NaN).

    Raises:
        TypeError: counts not an integer tensor, p of a wrong type.
        ValueError: bad shapes, p outside [0, 1] (checked for floats always, for tensors
            with validate=True), negative counts (validate=True).
        RuntimeError: backend="triton" where Triton cannot run.
    """
    check_batched("counts", counts, integer=True)
    probs = per_image("p", p, counts.shape[0], counts)
    if not isinstance(p, torch.Tensor) and not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    if validate:
        if bool((counts < 0).any()):
            raise ValueError("counts must be non-negative, got negative values")
        if bool(((probs < 0) | (probs > 1) | probs.isnan()).any()):
            raise ValueError("p must be in [0, 1] for every image")
    seed = resolve_seed(seed)
    chosen = choose_backend(backend, counts.device, "binomial_split")
    if chosen == "triton":
        return _launch_binomial_split(counts, probs, seed=seed, dtype=dtype)
    return binomial_split_reference(counts, probs, seed=seed, dtype=dtype)
