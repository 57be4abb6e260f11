"""The DDPM noise schedule: forward noising, and reverse steps for DDPM and DDIM.

Forward process (Ho et al. 2020, arXiv 2006.11239, eq. 4):
`x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) noise`, with `alpha_bar_t` the
product of `1 - beta_s` for s <= t. Betas are "linear" (Ho et al.: 1e-4 to 0.02 over
T = 1000 steps) or "cosine" (Nichol & Dhariwal 2021, arXiv 2102.09672, eq. 17):
`alpha_bar_t = f(t) / f(0)`, `f(t) = cos^2(((t / T) + s) / (1 + s) * pi / 2)`, s = 0.008,
with each beta clipped to at most 0.999 so the last steps stay finite (the clipping
changes alpha_bar only at the very end of the chain, where it is ~0 anyway).
Time steps are 0-based: t = 0 is the first noising step, `alpha_bar[t]` is the paper's
alpha_bar_{t+1}.

The network predicts the noise ("epsilon") or the velocity
`v = sqrt(alpha_bar) noise - sqrt(1 - alpha_bar) x0` (Salimans & Ho 2022,
arXiv 2202.00512, sec. 4).
"""

from __future__ import annotations

import math
from typing import Literal

import torch

Schedule = Literal["linear", "cosine"]
Prediction = Literal["epsilon", "v"]
MAX_BETA = 0.999


def linear_betas(steps: int, beta_start: float, beta_end: float) -> torch.Tensor:
    """Betas evenly spaced from `beta_start` to `beta_end` (float64, (steps,))."""
    return torch.linspace(beta_start, beta_end, steps, dtype=torch.float64)


def cosine_alpha_bar(steps: int, s: float = 0.008) -> torch.Tensor:
    """alpha_bar_t = f(t) / f(0) for t = 1..steps, f(t) = cos^2(((t/T) + s) / (1 + s) * pi/2)."""
    t = torch.arange(steps + 1, dtype=torch.float64) / steps
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    return f[1:] / f[0]


def _gathered(values: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """values[t] shaped (B, 1, ..., 1) to broadcast against `like`, in its dtype/device."""
    picked = values.to(like.device)[t.to(like.device).long()]
    return picked.to(like.dtype).view(-1, *([1] * (like.ndim - 1)))


class DDPMScheduler:
    """A noise schedule of `steps` steps; everything is precomputed in `__init__`.

    Args:
        steps: training steps T.
        schedule: "linear" or "cosine" betas.
        beta_start, beta_end: range of the linear schedule.
        prediction: what the network outputs, "epsilon" or "v".

    Raises:
        ValueError: steps < 1, an unknown schedule or prediction, betas outside (0, 1).
    """

    def __init__(
        self,
        steps: int = 1000,
        schedule: Schedule = "linear",
        *,
        beta_start: float = 1e-4,
        beta_end: float = 0.02,
        prediction: Prediction = "epsilon",
    ) -> None:
        if not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps must be a positive int, got {steps!r}")
        if prediction not in ("epsilon", "v"):
            raise ValueError(f"prediction must be 'epsilon' or 'v', got {prediction!r}")
        if schedule == "linear":
            if not 0 < beta_start <= beta_end < 1:
                raise ValueError(
                    f"need 0 < beta_start <= beta_end < 1, got {beta_start}, {beta_end}"
                )
            betas = linear_betas(steps, beta_start, beta_end)
        elif schedule == "cosine":
            alpha_bar = cosine_alpha_bar(steps)
            previous = torch.cat([torch.ones(1, dtype=torch.float64), alpha_bar[:-1]])
            betas = (1 - alpha_bar / previous).clamp(max=MAX_BETA)
        else:
            raise ValueError(f"schedule must be 'linear' or 'cosine', got {schedule!r}")
        self.steps, self.schedule, self.prediction = steps, schedule, prediction
        self.betas = betas
        self.alphas = 1 - betas
        self.alpha_bar = torch.cumprod(self.alphas, dim=0)
        self.alpha_bar_prev = torch.cat([torch.ones(1, dtype=torch.float64), self.alpha_bar[:-1]])
        # Posterior q(x_{t-1} | x_t, x0) (Ho et al. eq. 6-7): mean coefficients and variance.
        self.posterior_x0 = betas * self.alpha_bar_prev.sqrt() / (1 - self.alpha_bar)
        self.posterior_xt = (1 - self.alpha_bar_prev) * self.alphas.sqrt() / (1 - self.alpha_bar)
        self.posterior_variance = betas * (1 - self.alpha_bar_prev) / (1 - self.alpha_bar)

    def timesteps(self, n: int) -> list[int]:
        """`n` time steps from T - 1 down to 0, evenly spaced (n = T: every step).

        Raises:
            ValueError: n outside [1, T].
        """
        if not 1 <= n <= self.steps:
            raise ValueError(f"sampling steps must be in [1, {self.steps}], got {n}")
        spaced = torch.linspace(self.steps - 1, 0, n, dtype=torch.float64).round().long()
        return [int(t) for t in spaced]

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) noise (eq. 4), t a (B,) tensor."""
        alpha_bar = _gathered(self.alpha_bar, t, x0)
        return alpha_bar.sqrt() * x0 + (1 - alpha_bar).sqrt() * noise

    def target(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """What the network learns to output at x_t: the noise, or v."""
        if self.prediction == "epsilon":
            return noise
        alpha_bar = _gathered(self.alpha_bar, t, x0)
        return alpha_bar.sqrt() * noise - (1 - alpha_bar).sqrt() * x0

    def predict_x0(self, output: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The clean image implied by the network output at x_t.

        epsilon: x0 = (x_t - sqrt(1 - alpha_bar) eps) / sqrt(alpha_bar) (Ho et al. eq. 15);
        v: x0 = sqrt(alpha_bar) x_t - sqrt(1 - alpha_bar) v.
        """
        alpha_bar = _gathered(self.alpha_bar, t, x_t)
        if self.prediction == "epsilon":
            return (x_t - (1 - alpha_bar).sqrt() * output) / alpha_bar.sqrt()
        return alpha_bar.sqrt() * x_t - (1 - alpha_bar).sqrt() * output

    def step(
        self,
        output: torch.Tensor,
        t: int,
        x_t: torch.Tensor,
        noise: torch.Tensor,
        *,
        clip: bool = True,
    ) -> torch.Tensor:
        """One DDPM ancestral step x_t -> x_{t-1} (Ho et al. algorithm 2, posterior eq. 6-7).

        Args:
            output: network output at (x_t, t).
            t: the current step (0-based).
            x_t: the current images.
            noise: standard normal, the shape of x_t (unused at t = 0).
            clip: clip the predicted x0 to [-1, 1], the data range.
        """
        index = torch.full((x_t.shape[0],), t, dtype=torch.long)
        # 1. The clean image the output implies (eq. 15, or its v form).
        x0 = self.predict_x0(output, x_t, index)
        # 2. Keep it in the data range.
        if clip:
            x0 = x0.clamp(-1, 1)
        # 3. Posterior mean mu_t(x_t, x0) (eq. 7).
        mean = (
            _gathered(self.posterior_x0, index, x_t) * x0
            + _gathered(self.posterior_xt, index, x_t) * x_t
        )
        if t == 0:
            return mean
        # 4. Add noise with the posterior variance beta_tilde_t (eq. 7; sigma_t^2 = beta_tilde).
        return mean + _gathered(self.posterior_variance, index, x_t).sqrt() * noise

    def ddim_step(
        self,
        output: torch.Tensor,
        t: int,
        t_prev: int,
        x_t: torch.Tensor,
        noise: torch.Tensor | None,
        *,
        eta: float = 0.0,
        clip: bool = True,
    ) -> torch.Tensor:
        """One DDIM step x_t -> x_{t_prev} (Song et al. 2021, arXiv 2010.02502, eq. 12).

        eta = 0 is deterministic; eta = 1 with t_prev = t - 1 is DDPM's posterior step.

        Args:
            output: network output at (x_t, t).
            t: the current step.
            t_prev: the next step (-1 for the final, clean image).
            x_t: the current images.
            noise: standard normal, the shape of x_t (may be None when eta = 0).
            eta: scale of the added noise (sigma in eq. 16).
            clip: clip the predicted x0 to [-1, 1].

        Raises:
            ValueError: eta < 0, t_prev not below t, or noise missing when eta > 0.
        """
        if eta < 0 or not -1 <= t_prev < t:
            raise ValueError(
                f"need eta >= 0 and -1 <= t_prev < t, got eta={eta}, t={t}, t_prev={t_prev}"
            )
        if eta > 0 and noise is None:
            raise ValueError("noise is needed when eta > 0")
        index = torch.full((x_t.shape[0],), t, dtype=torch.long)
        alpha_bar = float(self.alpha_bar[t])
        alpha_bar_prev = float(self.alpha_bar[t_prev]) if t_prev >= 0 else 1.0
        # 1. Predicted x0, clipped to the data range, and the noise consistent with it.
        x0 = self.predict_x0(output, x_t, index)
        if clip:
            x0 = x0.clamp(-1, 1)
        epsilon = (x_t - math.sqrt(alpha_bar) * x0) / math.sqrt(1 - alpha_bar)
        # 2. sigma_t (eq. 16): eta times the DDPM posterior standard deviation.
        sigma = eta * math.sqrt(
            (1 - alpha_bar_prev) / (1 - alpha_bar) * (1 - alpha_bar / alpha_bar_prev)
        )
        # 3. x_{t_prev} = sqrt(a_prev) x0 + sqrt(1 - a_prev - sigma^2) eps + sigma z (eq. 12).
        x_prev = (
            math.sqrt(alpha_bar_prev) * x0
            + math.sqrt(max(0.0, 1 - alpha_bar_prev - sigma**2)) * epsilon
        )
        return x_prev + sigma * noise if sigma > 0 else x_prev
