"""Fréchet distance between two sets of images, through the statistics of their features.

Each set's features are summarised by a Gaussian (mean `mu`, covariance `S`); the squared
2-Wasserstein ("Fréchet") distance between the Gaussians is (Dowson & Landau 1982)
`|mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1^1/2 S2 S1^1/2)^1/2)`. The matrix square
roots are taken by eigendecomposition of symmetric positive semi-definite matrices
(eigenvalues below zero, from rounding, are set to zero), which is stable where a
general `sqrtm(S1 S2)` of the non-symmetric product can return complex values.

With Inception features this is the FID (Heusel et al. 2017). gaptorch ships no
Inception weights: its default features come from a small Fashion-MNIST classifier
(`gaptorch.fashion_features`), so the number is "FD (Fashion-MNIST classifier features)",
comparable only with numbers computed with the same features.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gaptorch.fashion_features import FashionFeatures

Features = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class FeatureStatistics:
    """Mean (D,) and covariance (D, D) of N feature vectors (float64)."""

    mean: np.ndarray
    covariance: np.ndarray
    count: int


def feature_statistics(features: np.ndarray) -> FeatureStatistics:
    """Statistics of (N, D) features (the covariance with N - 1 in the denominator).

    Raises:
        ValueError: not a 2D array, fewer than 2 vectors, or non-finite values.
    """
    features = np.asarray(features, np.float64)
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"features must be (N, D) with N >= 2, got shape {features.shape}")
    if not np.isfinite(features).all():
        raise ValueError("features contain NaN or infinite values")
    return FeatureStatistics(
        features.mean(axis=0),
        np.cov(features, rowvar=False).reshape(features.shape[1], features.shape[1]),
        features.shape[0],
    )


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix (negative eigenvalues -> 0)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(first: FeatureStatistics, second: FeatureStatistics) -> float:
    """Squared Fréchet distance between the Gaussians of two feature statistics.

    Raises:
        ValueError: statistics of different feature dimensions.
    """
    if first.mean.shape != second.mean.shape:
        raise ValueError(
            f"feature dimensions differ: {first.mean.shape[0]} and {second.mean.shape[0]}"
        )
    root = _psd_sqrt(first.covariance)
    middle = root @ second.covariance @ root
    cross = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    difference = first.mean - second.mean
    value = (
        difference @ difference
        + np.trace(first.covariance)
        + np.trace(second.covariance)
        - 2 * cross
    )
    return float(max(value, 0.0))


def image_frechet_distance(
    images: np.ndarray, reference: np.ndarray, features: Features | None = None
) -> float:
    """Fréchet distance between two image sets through `features` (images -> (N, D)).

    The default features are the bundled Fashion-MNIST classifier's (images in
    Fashion-MNIST units, 0-255, any square size): "FD (Fashion-MNIST classifier features)".
    """
    features = features or FashionFeatures.bundled()
    return frechet_distance(
        feature_statistics(features(images)), feature_statistics(features(reference))
    )
