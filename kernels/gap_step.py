"""One GAP sampling step: where the next photons land, drawn and added to the canvas.

For logits z (B, C, *spatial) the next-photon distribution of image b is the softmax of
z[b] over all its pixels and channels; `photons[b] += Poisson(softmax(z[b]) * budget[b])`
(Krull et al. 2023, arXiv 2307.06607, Sec. 3.3). The softmax itself is the MMSE estimate
of the clean image normalised to sum 1.
"""

from __future__ import annotations

import torch

from gaptorch.kernels._triton import choose_backend, resolve_seed, seeded_generator
from gaptorch.kernels._validate import broadcast_shape, check_batched, per_image


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
        totals: optional (B,) tensor to which each image's new photon count is added in
            place, so the next budget is computed on the device with no host sync.

    Returns:
        `photons` and the MMSE estimate: the per-image softmax (float32, sums to 1).

    Raises:
        TypeError: logits not floating point, budget of a wrong type.
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
    seed = resolve_seed(seed)
    if choose_backend(backend, logits.device, "gap_step") == "triton":
        return _launch_gap_step(logits, photons, rates, seed=seed, totals=totals)
    return gap_step_reference(logits, photons, rates, seed=seed, totals=totals)
