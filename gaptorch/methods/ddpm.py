"""DDPM: train a network to remove Gaussian noise at every level, then sample by denoising.

Training (Ho et al. 2020, algorithm 1): x0 from the data scaled to [-1, 1], a uniform
step t, x_t = `add_noise(x0, noise, t)`, and the loss is the MSE between the network
output at (x_t, t) and the noise (or v). Sampling starts from pure noise and runs the
scheduler's reverse steps: DDPM ancestral steps, or DDIM steps (fewer, `eta` for noise).

Images of any size are centre-cropped to a square (the largest central one) and resized
(bilinear, antialiased) to `image_size`; the data's (low, high) range maps to [-1, 1]
and is stored so generated images come back in data units.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from gaptorch.methods.ddpm_scheduler import DDPMScheduler

Sampler = Literal["ddpm", "ddim"]


@dataclass(frozen=True)
class DDPMOptions:
    """DDPM settings (training; the schedule is also used for sampling).

    Args:
        image_size: square size images are cropped and resized to (a multiple of the
            network's pooling grid).
        timesteps: training steps T of the noise schedule.
        schedule: "linear" or "cosine" betas.
        prediction: the network predicts "epsilon" (the noise) or "v".
        beta_start, beta_end: range of the linear schedule.
    """

    image_size: int = 32
    timesteps: int = 1000
    schedule: Literal["linear", "cosine"] = "linear"
    prediction: Literal["epsilon", "v"] = "epsilon"
    beta_start: float = 1e-4
    beta_end: float = 0.02
    version: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.image_size, int) or self.image_size < 2:
            raise ValueError(f"image_size must be an int >= 2, got {self.image_size!r}")
        self.scheduler()  # validates the schedule settings

    def scheduler(self) -> DDPMScheduler:
        """The noise schedule these settings describe."""
        return DDPMScheduler(
            self.timesteps,
            self.schedule,
            beta_start=self.beta_start,
            beta_end=self.beta_end,
            prediction=self.prediction,
        )


def square_images(images: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, size, size): the largest central square, resized (antialiased)."""
    height, width = images.shape[-2:]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = images[..., top : top + side, left : left + side].float()
    if side == size:
        return square
    return F.interpolate(
        square, size=(size, size), mode="bilinear", antialias=side > size, align_corners=False
    )


def to_unit_range(images: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """Data units -> [-1, 1] (low -> -1, high -> 1)."""
    return (images - low) / max(high - low, 1e-12) * 2 - 1


def from_unit_range(images: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """[-1, 1] -> data units; the inverse of `to_unit_range`."""
    return (images + 1) / 2 * (high - low) + low


class DDPMObjective:
    """DDPM for the shared loop: the input is (x_t, t), the target the noise or v."""

    def __init__(self, scheduler: DDPMScheduler) -> None:
        self.scheduler = scheduler

    def pair(
        self, batch: torch.Tensor, step: int, total_steps: int, generator: torch.Generator
    ) -> tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor]:
        """((x_t, t), target) for a batch of images in [-1, 1]."""
        x0 = batch.float()
        t = torch.randint(0, self.scheduler.steps, (x0.shape[0],), generator=generator)
        noise = torch.randn(x0.shape, generator=generator).to(x0.device)
        t = t.to(x0.device)
        return (self.scheduler.add_noise(x0, noise, t), t), self.scheduler.target(x0, noise, t)

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """MSE (Ho et al. eq. 14, the "simple" loss)."""
        return F.mse_loss(output, target)

    def describe(self, step: int, total_steps: int) -> dict[str, float]:
        """Nothing extra to log."""
        return {}


@torch.no_grad()
def sample(
    network: nn.Module,
    scheduler: DDPMScheduler,
    shape: tuple[int, ...],
    *,
    generator: torch.Generator,
    device: torch.device,
    sampler: Sampler = "ddim",
    steps: int | None = None,
    eta: float = 0.0,
) -> torch.Tensor:
    """Images in [-1, 1] of (B, C, H, W) `shape`, denoised from pure noise.

    "ddpm" runs ancestral steps: all T of them by default (`step`), or, with fewer
    `steps`, DDPM's posterior on the respaced chain (`ddim_step` with eta = 1).
    "ddim" runs `steps` (default 50, or T if fewer) DDIM steps with `eta`. Noise comes
    from the CPU `generator`, so a seed gives the same images on any device.

    Raises:
        ValueError: an unknown sampler, steps outside [1, T], eta < 0.
    """
    if sampler not in ("ddpm", "ddim"):
        raise ValueError(f"sampler must be 'ddpm' or 'ddim', got {sampler!r}")
    if eta < 0:
        raise ValueError(f"eta must be >= 0, got {eta}")
    default = scheduler.steps if sampler == "ddpm" else min(50, scheduler.steps)
    count = steps or default
    times = scheduler.timesteps(count)
    x = torch.randn(shape, generator=generator).to(device)
    for i, t in enumerate(times):
        output = network(x, torch.full((shape[0],), t, device=device, dtype=torch.long)).float()
        noise = torch.randn(shape, generator=generator).to(device)
        if sampler == "ddpm" and count == scheduler.steps:
            x = scheduler.step(output, t, x, noise)
        else:
            t_prev = times[i + 1] if i + 1 < len(times) else -1
            x = scheduler.ddim_step(
                output, t, t_prev, x, noise, eta=1.0 if sampler == "ddpm" else eta
            )
    return x.clamp(-1, 1)
