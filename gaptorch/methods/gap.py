"""GAP: the photon loss, training pairs, MMSE denoising and photon accumulation.

A network that predicts where the next photon lands (a softmax over the image) is an
MMSE denoiser; adding photons drawn from it until the image is bright samples from the
posterior, and starting from an empty canvas generates (Krull et al. 2023,
arXiv 2307.06607).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch

from gaptorch.curriculum import Curriculum
from gaptorch.kernels import binomial_split, gap_step

MAX_SPLIT_PROBABILITY = 0.99
# Keeps log(MSE) finite for an exact estimate; far below any shot-noise error at 1000
# photons per pixel (1e-3 in mean-1 units).
LOG_MSE_FLOOR = 1e-8
# How many photons the network's colour balance is worth against the counted one
# (`rescale_to_counts`); measured on the training photos, see gap-photo-rgb's card.
CHANNEL_PRIOR_PHOTONS = 100.0
# Guards shares and scales of an all-zero channel or image against 0 / 0.
TINY = 1e-30
Predict = Callable[[torch.Tensor], torch.Tensor]


def photon_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of held-out photons under the per-image softmax of `logits`.

    Per image: `-mean(z * t) + mean(t) * log(mean(exp(z)))`, averaged over the batch;
    the log-mean-exp is computed stably in float32.
    """
    batch = logits.shape[0]
    z = logits.float().reshape(batch, -1)
    t = target.float().reshape(batch, -1)
    log_mean_exp = torch.logsumexp(z, dim=1) - math.log(z.shape[1])
    return (-(z * t).mean(dim=1) + t.mean(dim=1) * log_mean_exp).mean()


def log_mse_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over images of log(MSE) between the MMSE estimate and the target, both mean 1.

    The estimate is the softmax times the image's pixel count, so it has the target's
    mean. Per image, log(MSE) is minus the PSNR times ln(10) / 10 plus a constant, so this
    loss trains for the mean PSNR over images that the quality benchmark reports, where the
    photon loss weighs each pixel's error by its brightness's inverse. Against clean
    targets both losses are minimised by the same estimate, the conditional mean (against
    held-out photons nearly so, as an image's MSE varies little from draw to draw); they
    differ in how a network of limited capacity trades one image's, and one pixel's,
    errors against another's.
    """
    batch = logits.shape[0]
    z = logits.float().reshape(batch, -1)
    estimate = torch.softmax(z, dim=1) * z.shape[1]
    mse = (estimate - target.float().reshape(batch, -1)).pow(2).mean(dim=1)
    return torch.log(mse + LOG_MSE_FLOOR).mean()


LOSSES = {"photon": photon_loss, "log_mse": log_mse_loss}


def sample_psnr(
    batch: int,
    psnr_low: float,
    psnr_high: float,
    generator: torch.Generator,
    level_tilt: float = 0.0,
) -> torch.Tensor:
    """`batch` pseudo-PSNRs (dB) in [psnr_low, psnr_high], on `generator`'s device.

    Uniform in dB for `level_tilt` 0; otherwise the density is proportional to
    `level ** level_tilt` (level = 10**(u/10) photons per pixel), drawn by inverting its
    CDF. Why: a bright image's photon loss, and so its gradient, is small next to a dark
    one's, so at uniform sampling the dark levels steer training; tilting gives the
    bright levels the samples their (PSNR) errors ask for.
    """
    r = torch.rand(batch, generator=generator, device=generator.device)
    span = psnr_high - psnr_low
    rate = level_tilt * math.log(10.0) / 10.0 * span
    if abs(rate) < 1e-9:
        return psnr_low + span * r
    tilted = torch.log1p(r.double() * math.expm1(rate)) / rate
    return (psnr_low + span * tilted).float()


def split_probability(
    counts: torch.Tensor,
    psnr_low: float,
    psnr_high: float,
    generator: torch.Generator,
    level_tilt: float = 0.0,
) -> torch.Tensor:
    """Per-image keep probability that puts the input at a pseudo-PSNR in the range.

    `p = min(10**(u/10) / (mean(counts) + 1e-5), 0.99)` with u from `sample_psnr`.
    """
    batch = counts.shape[0]
    u = sample_psnr(batch, psnr_low, psnr_high, generator, level_tilt).to(counts.device)
    mean = counts.reshape(batch, -1).float().mean(dim=1)
    return (10.0 ** (u / 10.0) / (mean + 1e-5)).clamp(max=MAX_SPLIT_PROBABILITY)


def clean_training_pair(
    clean: torch.Tensor,
    psnr_low: float,
    psnr_high: float,
    generator: torch.Generator,
    level_tilt: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Simulated counts at a pseudo-PSNR in the range from clean images, and the clean target.

    Returns Poisson counts with mean `10**(u/10)` photons per pixel (u from
    `sample_psnr`), and the clean image scaled to mean 1 (all-zero images give zeros).
    """
    batch = clean.shape[0]
    dims = tuple(range(1, clean.ndim))
    clean = clean.float()
    u = sample_psnr(batch, psnr_low, psnr_high, generator, level_tilt)
    level = (10.0 ** (u / 10.0)).to(clean.device)
    mean = clean.mean(dim=dims, keepdim=True)
    target = torch.where(mean > 0, clean / mean.clamp_min(1e-12), torch.zeros_like(clean))
    rates = target * level.view(-1, *([1] * (clean.ndim - 1)))
    counts = torch.poisson(rates, generator=_generator_on(generator, clean.device))
    return counts, target


def _generator_on(generator: torch.Generator, device: torch.device) -> torch.Generator:
    """`generator` itself if it lives on `device`, else a new one seeded from it."""
    if generator.device == device:
        return generator
    seed = int(torch.randint(0, 2**62, (), generator=generator))
    return torch.Generator(device=device).manual_seed(seed)


@dataclass(frozen=True)
class GapTrainingPair:
    """How a batch becomes (input, target).

    The binomial split of noisy counts ("self"), or simulated counts from clean images
    with the clean image as target ("clean").
    """

    supervision: Literal["self", "clean"] = "self"
    level_tilt: float = 0.0

    def __call__(
        self,
        batch: torch.Tensor,
        psnr_range: tuple[float, float],
        generator: torch.Generator,
        backend: str | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the network input and the loss target for `batch`."""
        low, high = psnr_range
        if self.supervision == "clean":
            return clean_training_pair(batch, low, high, generator, self.level_tilt)
        counts = batch if not batch.dtype.is_floating_point else batch.round().to(torch.int64)
        p = split_probability(counts, low, high, generator, self.level_tilt)
        seed = int(torch.randint(0, 2**62, (), generator=generator))
        return binomial_split(counts, p, seed=seed, backend=backend)


def rescale_to_counts(
    image: torch.Tensor,
    counts: torch.Tensor,
    prior_photons: float = CHANNEL_PRIOR_PHOTONS,
) -> torch.Tensor:
    """`image` (B, C, *spatial) scaled to each image's photon total in `counts`, per channel.

    Each channel's share of the photons is the posterior mean under a Dirichlet prior
    worth `prior_photons` photons centred on `image`'s own shares: the counted photons
    per channel decide the colour balance once they outnumber the prior. A network's
    softmax over pixels and channels together guesses that balance from local texture
    (gap-photo-rgb: channel totals 10-20% off at 128 photons/pixel, where the counts
    fix them to 0.1%). One channel: plain scaling to the total.
    """
    batch, channels = counts.shape[:2]
    counted = counts.reshape(batch, channels, -1).float().sum(dim=2).to(image.device)
    totals = counted.sum(dim=1, keepdim=True)
    present = image.reshape(batch, channels, -1).float().sum(dim=2)
    prior = present / present.sum(dim=1, keepdim=True).clamp_min(TINY)
    shares = (counted + prior_photons * prior) / (totals + prior_photons)
    scale = totals * shares / present.clamp_min(TINY)
    return image.float() * scale.view(batch, channels, *([1] * (image.ndim - 2)))


def mmse_from_logits(logits: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """MMSE estimate in photon units: the per-image softmax scaled to the counted photons."""
    batch = counts.shape[0]
    probs = torch.softmax(logits.float().reshape(batch, -1), dim=1).reshape(counts.shape)
    return rescale_to_counts(probs, counts)


def mmse(predict: Predict, counts: torch.Tensor) -> torch.Tensor:
    """MMSE estimate of `counts` (B, C, *spatial) with one forward pass of `predict`."""
    return mmse_from_logits(predict(counts), counts)


@dataclass
class Accumulation:
    """Result of photon accumulation: final canvases, MMSE maps, steps and a trajectory."""

    photons: torch.Tensor
    mmse: torch.Tensor
    steps: torch.Tensor
    trajectory: list[torch.Tensor] = field(default_factory=list)


def _step_seed(seed: int, step: int) -> int:
    """A distinct, reproducible seed per sampling step."""
    return (seed + (step + 1) * 0x9E3779B97F4A7C15) % 2**63


def accumulate(
    predict: Predict,
    photons: torch.Tensor,
    *,
    max_psnr: float,
    beta: float = 0.1,
    max_photons: float | None = None,
    max_steps: int = 100_000,
    seed: int,
    check_every: int = 8,
    trajectory_every: int | None = None,
    backend: str | None = None,
) -> Accumulation:
    """Add photons drawn from the network until each image passes `max_psnr`.

    Each step adds Poisson photons with an expected total of `max(beta * photons, 1)` per
    image. Budgets and stopping are computed on the device; the host checks for finished
    images every `check_every` steps and drops them from the batch.

    Args:
        predict: counts (B, C, *spatial) -> logits of the same shape.
        photons: start canvas (zeros to generate, noisy counts for posterior samples).
        max_psnr: stop an image once its pseudo-PSNR exceeds this.
        beta: fraction of the current photons added per step.
        max_photons: optional cap on photons per image.
        max_steps: hard limit on steps.
        seed: reproducibility; step k uses a seed derived from (seed, k).
        check_every: steps between host-side checks.
        trajectory_every: keep a CPU copy of the canvases every n steps.
        backend: kernel backend for `gap_step`.
    """
    if beta <= 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    batch = photons.shape[0]
    result = photons.float().clone()
    pixels = result[0].numel()
    limit = pixels * 10.0 ** (max_psnr / 10.0)
    if max_photons is not None:
        limit = min(limit, float(max_photons))
    result_probs = torch.zeros_like(result)
    steps = torch.zeros(batch, dtype=torch.int64, device=result.device)
    rows = torch.arange(batch, device=result.device)
    canvas, probs = result.clone(), result_probs.clone()
    totals = canvas.reshape(batch, -1).sum(dim=1).double()
    trajectory: list[torch.Tensor] = []
    for step in range(max_steps):
        if step % check_every == 0:
            running = totals <= limit
            if not bool(running.all()):
                finished = rows[~running]
                result[finished], result_probs[finished] = canvas[~running], probs[~running]
                canvas, probs, totals, rows = (
                    canvas[running],
                    probs[running],
                    totals[running],
                    rows[running],
                )
            if rows.numel() == 0:
                break
        if trajectory_every and step % trajectory_every == 0:
            trajectory.append(_snapshot(result, canvas, rows))
        running = totals <= limit
        steps[rows] += running.long()
        budget = torch.where(running, (beta * totals).clamp_min(1.0), 0.0).float()
        canvas, probs = gap_step(
            predict(canvas),
            canvas,
            budget,
            seed=_step_seed(seed, step),
            totals=totals,
            backend=backend,
        )
    result[rows], result_probs[rows] = canvas, probs
    if trajectory_every:
        trajectory.append(result.cpu().clone())
    return Accumulation(photons=result, mmse=result_probs, steps=steps, trajectory=trajectory)


def _snapshot(result: torch.Tensor, canvas: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """A CPU copy of all canvases: finished ones from `result`, running ones from `canvas`."""
    snapshot = result.clone()
    snapshot[rows] = canvas
    return snapshot.cpu()


@dataclass(frozen=True)
class GapOptions:
    """GAP training settings.

    Args:
        psnr_range: (low, high) pseudo-PSNR of training inputs in dB. None: for
            "self", from `auto_width` below the dimmest images' level up to the
            brightest images' level (5th/95th percentiles), where the model will be
            used; for "clean", (-40, 32).
        curriculum: widen the range in phases instead (True for the default phases, or
            a `Curriculum`); the default for models meant for all photon levels.
        supervision: "self" splits noisy counts; "clean" simulates counts from clean
            images and uses the clean image as target.
        auto_width: dB below the data's level covered by the automatic "self" range
            (5 dB measured best on camera at 2 photons: +0.45 dB over 10, +0.9 over 20).
        level_tilt: sample training levels with density proportional to
            `level ** level_tilt` over the range (0: uniform in dB); see `sample_psnr`.
        loss: "photon" (the cross-entropy of held-out photons, `photon_loss`) or
            "log_mse" (`log_mse_loss`: the mean PSNR of the estimates, e.g. to fine-tune
            a denoiser for what it is scored on).
    """

    psnr_range: tuple[float, float] | None = None
    curriculum: Curriculum | bool | dict | None = None
    supervision: Literal["self", "clean"] = "self"
    auto_width: float = 5.0
    level_tilt: float = 0.0
    loss: Literal["photon", "log_mse"] = "photon"
    version: int = 1

    def __post_init__(self) -> None:
        if self.supervision not in ("self", "clean"):
            raise ValueError(f"supervision must be 'self' or 'clean', got {self.supervision!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if self.psnr_range is not None:
            low, high = self.psnr_range
            if not low < high:
                raise ValueError(
                    f"psnr_range must be (low, high) with low < high, got {self.psnr_range}"
                )
        if self.curriculum is not None and self.psnr_range is not None:
            raise ValueError("give psnr_range or curriculum, not both")
        if not math.isfinite(self.level_tilt):
            raise ValueError(f"level_tilt must be a finite number, got {self.level_tilt}")

    def schedule(self, data_span: tuple[float, float]) -> Curriculum | tuple[float, float]:
        """The curriculum or the fixed range to train with.

        For data whose images' pseudo-PSNR spans `data_span` dB.
        """
        if self.curriculum is True:
            return Curriculum()
        if isinstance(self.curriculum, dict):
            return Curriculum(**self.curriculum)
        if isinstance(self.curriculum, Curriculum):
            return self.curriculum
        if self.psnr_range is not None:
            return (float(self.psnr_range[0]), float(self.psnr_range[1]))
        if self.supervision == "clean":
            return (-40.0, 32.0)
        return (data_span[0] - self.auto_width, data_span[1])


class GapObjective:
    """GAP's training objective for the shared loop: split (or simulate), photon loss."""

    def __init__(
        self,
        schedule: Curriculum | tuple[float, float],
        supervision: str,
        backend: str | None = None,
        level_tilt: float = 0.0,
        loss: str = "photon",
    ) -> None:
        self.schedule = schedule
        self.make_pair = GapTrainingPair(supervision, level_tilt)  # type: ignore[arg-type]
        self.backend = backend
        self.loss_function = LOSSES[loss]

    def psnr_range(self, step: int, total_steps: int) -> tuple[float, float]:
        """Training range at `step`."""
        if isinstance(self.schedule, Curriculum):
            return self.schedule.range_at(step, total_steps)
        return self.schedule

    def pair(
        self, batch: torch.Tensor, step: int, total_steps: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Input and target for a batch of count (or clean) patches."""
        return self.make_pair(batch, self.psnr_range(step, total_steps), generator, self.backend)

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The chosen loss (`GapOptions.loss`) of the logits against the target."""
        return self.loss_function(output, target)

    def describe(self, step: int, total_steps: int) -> dict[str, float]:
        """The PSNR range, for the log."""
        low, high = self.psnr_range(step, total_steps)
        return {"psnr_low": low, "psnr_high": high}
