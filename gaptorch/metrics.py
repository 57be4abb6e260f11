"""Image quality numbers used by tests, benchmarks and the CLI."""

from __future__ import annotations

import math

import numpy as np
import torch
from skimage.metrics import structural_similarity


def pseudo_psnr(counts: torch.Tensor | np.ndarray) -> float:
    """GAP's pseudo-PSNR of a count image: 10 * log10(mean photons per pixel)."""
    mean = float(counts.float().mean() if isinstance(counts, torch.Tensor) else np.mean(counts))
    return 10.0 * math.log10(mean) if mean > 0 else -math.inf


def psnr(estimate: np.ndarray, clean: np.ndarray, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB; the peak is the clean image's range by default."""
    estimate, clean = np.asarray(estimate, np.float64), np.asarray(clean, np.float64)
    if estimate.shape != clean.shape:
        raise ValueError(f"shapes differ: {estimate.shape} vs {clean.shape}")
    peak = float(clean.max() - clean.min()) if data_range is None else data_range
    mse = float(np.mean((estimate - clean) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(peak**2 / mse)


def ssim(
    estimate: np.ndarray,
    clean: np.ndarray,
    data_range: float | None = None,
    channel_axis: int | None = None,
) -> float:
    """Structural similarity (scikit-image), with the clean image's range as data range."""
    clean = np.asarray(clean, np.float64)
    peak = float(clean.max() - clean.min()) if data_range is None else data_range
    return float(
        structural_similarity(
            np.asarray(estimate, np.float64), clean, data_range=peak, channel_axis=channel_axis
        )
    )
