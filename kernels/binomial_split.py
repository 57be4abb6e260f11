"""Binomial photon splitting: the self-supervised training pair of GAP.

For integer counts n (B, C, *spatial) and a per-image probability p, draw
`inp ~ Binomial(n, p)` and keep the remainder `n - inp`; the target is the remainder
scaled to mean 1 per image (all-zero remainders give zeros). Thinning a Poisson image
this way gives two independent Poisson images (Krull et al. 2023, arXiv 2307.06607, eq. 6).

Triton: one pass reads the counts, draws by inversion where n * min(p, 1 - p) < 10,
writes `inp` and the raw remainder, and sums each image's remainder exactly (int64
atomics); BTRS lanes (and the rare inversion redraw) run in a second launch over the
blocks that have any, so the common pass stays light on registers; a light
third pass scales the remainder to mean 1. Draws are exact for counts up to 2**31 - 1
(see `_samplers.py` for the samplers and the Philox counter scheme).
"""

from __future__ import annotations

import torch

from gaptorch.kernels._samplers import philox_key
from gaptorch.kernels._triton import (
    HAS_TRITON,
    choose_backend,
    launch_block,
    persistent_programs,
    resolve_seed,
    seeded_generator,
    warps,
)
from gaptorch.kernels._validate import broadcast_shape, check_batched, per_image

if HAS_TRITON:
    import triton
    import triton.language as tl

    from gaptorch.kernels._samplers import (
        SPLIT_STREAM,
        binomial_by_inversion,
        binomial_by_rejection,
        block_elements,
        image_block,
        shared_uniforms,
    )


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


if HAS_TRITON:

    @triton.jit
    def _store_split(inp_ptr, target_ptr, totals_ptr, image, offsets, n, k, mask):
        """Write `inp` and the raw remainder of the `mask` lanes; add their remainder sum."""
        tl.store(inp_ptr + offsets, k, mask=mask)
        remainder = tl.where(mask, n - k, 0)
        tl.store(target_ptr + offsets, remainder.to(tl.float32), mask=mask)
        tl.atomic_add(totals_ptr + image, tl.sum(remainder, axis=0))

    @triton.jit(do_not_specialize=["key", "call"])
    def _binomial_split_kernel(
        counts_ptr,
        probs_ptr,
        inp_ptr,
        target_ptr,
        totals_ptr,
        flags_ptr,
        numel,
        chunks,
        key,
        call,
        BLOCK: tl.constexpr,
    ):
        """Pass 1: the inversion lanes (n * q < 10); flags blocks with deferred lanes."""
        pid, image, start, elem, inside = image_block(chunks, numel, BLOCK)
        offsets = image * numel + elem
        n = tl.load(counts_ptr + offsets, mask=inside, other=0).to(tl.int64)
        p = tl.load(probs_ptr + image)
        u = shared_uniforms(key, call, image, start, BLOCK, SPLIT_STREAM)
        k, deferred = binomial_by_inversion(n, p, u)
        _store_split(inp_ptr, target_ptr, totals_ptr, image, offsets, n, k, inside & ~deferred)
        tl.store(flags_ptr + pid, tl.max((inside & deferred).to(tl.int32), axis=0))

    @triton.jit(do_not_specialize=["key", "call"])
    def _binomial_split_rejection_kernel(
        counts_ptr,
        probs_ptr,
        inp_ptr,
        target_ptr,
        totals_ptr,
        flags_ptr,
        numel,
        chunks,
        key,
        call,
        blocks,
        BLOCK: tl.constexpr,
    ):
        """Pass 1b: BTRS and redraws in flagged blocks (own launch: float64 needs registers).

        A few programs stride over all blocks and work on the flagged ones.
        """
        block = tl.program_id(0).to(tl.int64)
        while block < blocks:
            if tl.load(flags_ptr + block) != 0:
                image, start, elem, inside = block_elements(block, chunks, numel, BLOCK)
                offsets = image * numel + elem
                n = tl.load(counts_ptr + offsets, mask=inside, other=0).to(tl.int64)
                p = tl.load(probs_ptr + image)
                u = shared_uniforms(key, call, image, start, BLOCK, SPLIT_STREAM)
                k, deferred = binomial_by_rejection(n, p, u, key, call, image, elem, SPLIT_STREAM)
                mask = inside & deferred
                _store_split(inp_ptr, target_ptr, totals_ptr, image, offsets, n, k, mask)
            block += tl.num_programs(0)

    @triton.jit
    def _mean_one_kernel(target_ptr, totals_ptr, numel, chunks, BLOCK: tl.constexpr):
        """Pass 2: scale each image's remainder by numel / total (0 for an empty image)."""
        pid, image, start, elem, inside = image_block(chunks, numel, BLOCK)
        total = tl.load(totals_ptr + image)
        scale = tl.where(total > 0, numel / tl.maximum(total, 1).to(tl.float64), 0.0)
        offsets = image * numel + elem
        remainder = tl.load(target_ptr + offsets, mask=inside, other=0.0)
        tl.store(target_ptr + offsets, remainder * scale.to(tl.float32), mask=inside)


def _launch_binomial_split(
    counts: torch.Tensor,
    probs: torch.Tensor,
    *,
    seed: int,
    dtype: torch.dtype = torch.float32,
    block: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the Triton passes; `block` overrides the block size (results do not change)."""
    counts = counts.contiguous()
    batch, numel = counts.shape[0], counts[0].numel()
    device = counts.device
    inp = torch.empty(counts.shape, dtype=dtype, device=device)
    target = torch.empty(counts.shape, dtype=torch.float32, device=device)
    totals = torch.zeros(batch, dtype=torch.int64, device=device)
    block = block or launch_block(numel)
    chunks = triton.cdiv(numel, block)
    flags = torch.empty(batch * chunks, dtype=torch.int32, device=device)
    key, call = philox_key(seed)
    args = (counts, probs.contiguous(), inp, target, totals, flags, numel, chunks, key, call)
    grid = (batch * chunks,)
    _binomial_split_kernel[grid](*args, BLOCK=block, num_warps=warps(block, 4))
    _binomial_split_rejection_kernel[(persistent_programs(device, grid[0]),)](
        *args, grid[0], BLOCK=block, num_warps=warps(block, 1)
    )
    _mean_one_kernel[grid](target, totals, numel, chunks, BLOCK=block, num_warps=warps(block, 4))
    return inp, target


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
        validate: check 0 <= counts < 2**31 and 0 <= p <= 1 (syncs with the device).

    Returns:
        `inp` ~ Binomial(counts, p) and `target` = (counts - inp) scaled to mean 1 per
        image (float32; all-zero images give zeros, never NaN).

    Raises:
        TypeError: counts not an integer tensor, p of a wrong type.
        ValueError: bad shapes, p outside [0, 1] (checked for floats always, for tensors
            with validate=True), counts outside [0, 2**31) (validate=True).
        RuntimeError: backend="triton" where Triton cannot run.
    """
    check_batched("counts", counts, integer=True)
    probs = per_image("p", p, counts.shape[0], counts)
    if not isinstance(p, torch.Tensor) and not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    if validate:
        if bool((counts < 0).any()):
            raise ValueError("counts must be non-negative, got negative values")
        if counts.dtype == torch.int64 and bool((counts >= 2**31).any()):
            raise ValueError("counts must be below 2**31, got larger values")
        if bool(((probs < 0) | (probs > 1) | probs.isnan()).any()):
            raise ValueError("p must be in [0, 1] for every image")
    seed = resolve_seed(seed)
    chosen = choose_backend(backend, counts.device, "binomial_split")
    if chosen == "triton":
        return _launch_binomial_split(counts, probs, seed=seed, dtype=dtype)
    return binomial_split_reference(counts, probs, seed=seed, dtype=dtype)
