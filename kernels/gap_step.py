"""One GAP sampling step: where the next photons land, drawn and added to the canvas.

For logits z (B, C, *spatial) the next-photon distribution of image b is the softmax of
z[b] over all its pixels and channels; `photons[b] += Poisson(softmax(z[b]) * budget[b])`
(Krull et al. 2023, arXiv 2307.06607, Sec. 3.3). The softmax itself is the MMSE estimate
of the clean image normalised to sum 1.

Triton, with no host sync: pass 1 reduces each image in chunks to (max, sum of exp)
partials (at most MAX_PARTIALS per image, so any image size works, 3D stacks too);
pass 2 combines its image's partials, writes the softmax, draws exact Poisson by
inversion (rate < 10), adds to the canvas in place and counts new photons into
`totals` with atomics; PTRS lanes (rate >= 10, exact for any rate, unlike cuRAND's
normal approximation above 4000) and the rare inversion redraws run in a third launch
over the blocks that have any.
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
        STEP_STREAM,
        block_elements,
        image_block,
        poisson_by_inversion,
        poisson_by_rejection,
        shared_uniforms,
    )

REDUCE_BLOCK = 4096  # logits per tile of the partial softmax
MAX_PARTIALS = 512  # partials per image: the sampling pass loads all of its image's


def gap_step_reference(
    logits: torch.Tensor,
    photons: torch.Tensor,
    budget: torch.Tensor,
    *,
    seed: int,
    totals: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain torch step: softmax, `torch.poisson`, add in place.

    On CUDA `torch.poisson` switches to a rounded normal approximation above a rate of
    4000 (cuRAND); on the CPU it is exact.

    Returns:
        `photons` (updated in place) and the per-image softmax (float32).
    """
    batch = logits.shape[0]
    probs = torch.softmax(logits.reshape(batch, -1).float(), dim=1).reshape(logits.shape)
    rates = probs * broadcast_shape(budget, probs.ndim)
    new = torch.poisson(rates, generator=seeded_generator(seed, logits.device))
    photons += new.to(photons.dtype)
    if totals is not None:
        totals += new.reshape(batch, -1).sum(dim=1).to(totals.dtype)
    return photons, probs


if HAS_TRITON:

    @triton.jit
    def _softmax_partials_kernel(
        logits_ptr, max_ptr, sum_ptr, numel, tiles, parts, BLOCK: tl.constexpr
    ):
        """Pass 1: (max, sum of exp(z - max)) of `tiles` consecutive tiles of one image."""
        pid, image, start, elem, inside = image_block(parts, numel, BLOCK)
        base = start * tiles
        top = tl.full([], float("-inf"), tl.float32)
        total = tl.full([], 0.0, tl.float32)
        tile = 0
        while tile < tiles:  # not `for ... in range(tiles)`: Triton 3.6's interpreter fails it
            elem = base + tile * BLOCK + tl.arange(0, BLOCK)
            z = tl.load(logits_ptr + image * numel + elem, mask=elem < numel, other=float("-inf"))
            z = z.to(tl.float32)
            new_top = tl.maximum(top, tl.max(z, axis=0))
            total = total * tl.exp(top - new_top) + tl.sum(tl.exp(z - new_top), axis=0)
            top = new_top
            tile += 1
        tl.store(max_ptr + pid, top)
        tl.store(sum_ptr + pid, total)

    @triton.jit
    def _image_softmax(
        logits_ptr, max_ptr, sum_ptr, image, offsets, inside, parts, PARTS: tl.constexpr
    ):
        """Softmax of the block's logits: the image's partials combined (Milakov 2018)."""
        index = tl.arange(0, PARTS)
        tops = tl.load(max_ptr + image * parts + index, mask=index < parts, other=float("-inf"))
        sums = tl.load(sum_ptr + image * parts + index, mask=index < parts, other=0.0)
        top = tl.max(tops, axis=0)
        scale = 1.0 / tl.sum(sums * tl.exp(tops - top), axis=0)
        z = tl.load(logits_ptr + offsets, mask=inside, other=float("-inf")).to(tl.float32)
        return tl.exp(z - top) * scale

    @triton.jit
    def _add_photons(
        photons_ptr, totals_ptr, totals_stride, image, offsets, k, mask, HAS_TOTALS: tl.constexpr
    ):
        """Add `k` to the canvas in place on the `mask` lanes; count them into totals."""
        canvas = tl.load(photons_ptr + offsets, mask=mask, other=0)
        tl.store(photons_ptr + offsets, canvas + k.to(canvas.dtype), mask=mask)
        if HAS_TOTALS:
            added = tl.sum(tl.where(mask, k, 0), axis=0)
            tl.atomic_add(totals_ptr + image * totals_stride, added.to(totals_ptr.dtype.element_ty))

    @triton.jit(do_not_specialize=["key", "call"])
    def _gap_step_kernel(
        logits_ptr,
        photons_ptr,
        mmse_ptr,
        budget_ptr,
        max_ptr,
        sum_ptr,
        totals_ptr,
        flags_ptr,
        totals_stride,
        numel,
        chunks,
        parts,
        key,
        call,
        BLOCK: tl.constexpr,
        PARTS: tl.constexpr,
        HAS_TOTALS: tl.constexpr,
    ):
        """Pass 2: softmax, MMSE, Poisson by inversion (rate < 10) added to the canvas."""
        pid, image, start, elem, inside = image_block(chunks, numel, BLOCK)
        offsets = image * numel + elem
        probs = _image_softmax(logits_ptr, max_ptr, sum_ptr, image, offsets, inside, parts, PARTS)
        tl.store(mmse_ptr + offsets, probs, mask=inside)
        rates = probs * tl.load(budget_ptr + image)
        u = shared_uniforms(key, call, image, start, BLOCK, STEP_STREAM)
        k, deferred = poisson_by_inversion(rates, u)
        _add_photons(
            photons_ptr,
            totals_ptr,
            totals_stride,
            image,
            offsets,
            k,
            inside & ~deferred,
            HAS_TOTALS,
        )
        tl.store(flags_ptr + pid, tl.max((inside & deferred).to(tl.int32), axis=0))

    @triton.jit(do_not_specialize=["key", "call"])
    def _gap_step_rejection_kernel(
        logits_ptr,
        photons_ptr,
        mmse_ptr,
        budget_ptr,
        max_ptr,
        sum_ptr,
        totals_ptr,
        flags_ptr,
        totals_stride,
        numel,
        chunks,
        parts,
        key,
        call,
        blocks,
        BLOCK: tl.constexpr,
        PARTS: tl.constexpr,
        HAS_TOTALS: tl.constexpr,
    ):
        """Pass 2b: PTRS (rate >= 10) and redraws in flagged blocks (float64: own launch).

        A few programs stride over all blocks and work on the flagged ones.
        """
        block = tl.program_id(0).to(tl.int64)
        while block < blocks:
            if tl.load(flags_ptr + block) != 0:
                image, start, elem, inside = block_elements(block, chunks, numel, BLOCK)
                offsets = image * numel + elem
                probs = _image_softmax(
                    logits_ptr, max_ptr, sum_ptr, image, offsets, inside, parts, PARTS
                )
                rates = probs * tl.load(budget_ptr + image)
                u = shared_uniforms(key, call, image, start, BLOCK, STEP_STREAM)
                k, deferred = poisson_by_rejection(rates, u, key, call, image, elem, STEP_STREAM)
                _add_photons(
                    photons_ptr,
                    totals_ptr,
                    totals_stride,
                    image,
                    offsets,
                    k,
                    inside & deferred,
                    HAS_TOTALS,
                )
            block += tl.num_programs(0)


def _partial_layout(numel: int) -> tuple[int, int]:
    """Tiles per partial and partials per image: at most MAX_PARTIALS, fixed by `numel` only.

    The softmax (so every draw) then depends on the image size alone, not on the GPU.
    """
    tiles = triton.cdiv(numel, REDUCE_BLOCK * MAX_PARTIALS)
    return tiles, triton.cdiv(numel, REDUCE_BLOCK * tiles)


def _launch_gap_step(
    logits: torch.Tensor,
    photons: torch.Tensor,
    rates: torch.Tensor,
    *,
    seed: int,
    totals: torch.Tensor | None = None,
    block: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two launches for the softmax partials and the draw (three with PTRS lanes).

    `rates` is the (B,) budget; `block` overrides the sampling block (same result).
    """
    logits = logits.contiguous()
    canvas = photons if photons.is_contiguous() else photons.contiguous()
    batch, numel = logits.shape[0], logits[0].numel()
    device = logits.device
    tiles, parts = _partial_layout(numel)
    tops = torch.empty(batch * parts, dtype=torch.float32, device=device)
    sums = torch.empty_like(tops)
    _softmax_partials_kernel[(batch * parts,)](
        logits, tops, sums, numel, tiles, parts, BLOCK=REDUCE_BLOCK, num_warps=8
    )
    mmse = torch.empty(logits.shape, dtype=torch.float32, device=device)
    block = block or launch_block(numel)
    chunks = triton.cdiv(numel, block)
    flags = torch.empty(batch * chunks, dtype=torch.int32, device=device)
    counted = totals if totals is not None else flags
    args = (
        logits,
        canvas,
        mmse,
        rates.contiguous(),
        tops,
        sums,
        counted,
        flags,
        counted.stride(0),
        numel,
        chunks,
        parts,
        *philox_key(seed),
    )
    parts_pow2 = triton.next_power_of_2(parts)
    options = {"BLOCK": block, "PARTS": parts_pow2, "HAS_TOTALS": totals is not None}
    grid = (batch * chunks,)
    _gap_step_kernel[grid](*args, **options, num_warps=warps(block, 4))
    _gap_step_rejection_kernel[(persistent_programs(device, grid[0]),)](
        *args, grid[0], **options, num_warps=warps(block, 1)
    )
    if canvas is not photons:
        photons.copy_(canvas)
    return photons, mmse


def gap_step(
    logits: torch.Tensor,
    photons: torch.Tensor,
    budget: float | torch.Tensor,
    *,
    seed: int | None = None,
    backend: str | None = None,
    totals: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw the next photons from the network's logits and add them to `photons` in place.

    Args:
        logits: (B, C, *spatial) float network output.
        photons: photon canvas of the same shape (float or integer), updated in place.
        budget: expected number of new photons per image: a float or a (B,) tensor on
            the logits' device (0 leaves an image unchanged).
        seed: the same seed gives the same photons; None draws one from torch's default
            generator.
        backend: "triton", "torch" or "auto"/None (Triton on CUDA, torch elsewhere).
        totals: optional (B,) float64 or int64 tensor to which each image's new photon
            count is added in place, so the next budget is computed on the device with no
            host sync (exact: counts are summed as integers).

    Returns:
        `photons` and the MMSE estimate: the per-image softmax (float32, sums to 1).

    Raises:
        TypeError: logits not floating point, budget or totals of a wrong type.
        ValueError: shapes or devices that do not match.
        RuntimeError: backend="triton" where Triton cannot run.
    """
    check_batched("logits", logits, integer=False)
    check_batched("photons", photons)
    if photons.shape != logits.shape or photons.device != logits.device:
        raise ValueError(
            f"photons must match logits in shape and device, got {tuple(photons.shape)} on "
            f"{photons.device} for logits {tuple(logits.shape)} on {logits.device}"
        )
    batch = logits.shape[0]
    rates = per_image("budget", budget, batch, logits)
    if totals is not None and (totals.shape != (batch,) or totals.device != logits.device):
        raise ValueError(f"totals must be a ({batch},) tensor on {logits.device}")
    if totals is not None and totals.dtype not in (torch.float64, torch.int64):
        raise TypeError(f"totals must be a float64 or int64 tensor, got {totals.dtype}")
    seed = resolve_seed(seed)
    if choose_backend(backend, logits.device, "gap_step") == "triton":
        return _launch_gap_step(logits, photons, rates, seed=seed, totals=totals)
    return gap_step_reference(logits, photons, rates, seed=seed, totals=totals)
