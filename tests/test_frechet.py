import numpy as np
import pytest
import scipy.linalg

from gaptorch.datasets import FASHION_MNIST, fashion_mnist
from gaptorch.fashion_features import FashionClassifier, FashionFeatures
from gaptorch.frechet import (
    FeatureStatistics,
    feature_statistics,
    frechet_distance,
    image_frechet_distance,
)


def _statistics(mean, covariance):
    return FeatureStatistics(np.asarray(mean, float), np.asarray(covariance, float), 100)


def _random_psd(rng, size, rank=None):
    factor = rng.normal(size=(size, rank or size))
    return factor @ factor.T / size


def test_matches_a_direct_computation_with_scipy_sqrtm():
    rng = np.random.default_rng(0)
    for size in (1, 3, 16):
        first = _statistics(rng.normal(size=size), _random_psd(rng, size))
        second = _statistics(rng.normal(size=size), _random_psd(rng, size))
        cross = scipy.linalg.sqrtm(first.covariance @ second.covariance).real
        direct = np.sum((first.mean - second.mean) ** 2) + np.trace(
            first.covariance + second.covariance - 2 * cross
        )
        assert frechet_distance(first, second) == pytest.approx(direct, rel=1e-7, abs=1e-9)


def test_diagonal_and_commuting_covariances_have_the_closed_form():
    rng = np.random.default_rng(1)
    a, b = rng.uniform(0.1, 4, 5), rng.uniform(0.1, 4, 5)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    closed = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    diagonal = frechet_distance(_statistics(mu1, np.diag(a)), _statistics(mu2, np.diag(b)))
    assert diagonal == pytest.approx(closed, rel=1e-10)
    rotation, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    commuting = frechet_distance(
        _statistics(mu1, rotation @ np.diag(a) @ rotation.T),
        _statistics(mu2, rotation @ np.diag(b) @ rotation.T),
    )
    assert commuting == pytest.approx(closed, rel=1e-8)


def test_identical_and_rank_deficient_statistics_stay_finite_and_non_negative():
    rng = np.random.default_rng(2)
    singular = _statistics(np.zeros(8), _random_psd(rng, 8, rank=2))
    assert frechet_distance(singular, singular) == pytest.approx(0.0, abs=1e-7)
    other = _statistics(np.ones(8), _random_psd(rng, 8, rank=3))
    assert np.isfinite(frechet_distance(singular, other)) and frechet_distance(singular, other) > 0


def test_feature_statistics_and_a_pluggable_extractor():
    rng = np.random.default_rng(3)
    features = rng.normal(size=(500, 4))
    stats = feature_statistics(features)
    np.testing.assert_allclose(stats.covariance, np.cov(features, rowvar=False))
    with pytest.raises(ValueError, match="N >= 2"):
        feature_statistics(features[:1])
    with pytest.raises(ValueError, match="dimensions differ"):
        frechet_distance(stats, feature_statistics(features[:, :3]))
    images = rng.normal(size=(300, 4, 4))

    def flat(x):
        return x.reshape(len(x), -1)[:, :3]

    assert image_frechet_distance(images, images + 2.0, flat) == pytest.approx(12.0, rel=0.05)


@pytest.mark.skipif(not FASHION_MNIST.exists(), reason="needs dataset-fashion-mnist")
def test_bundled_features_tell_fashion_from_noise():
    features = FashionFeatures.bundled()
    train, test = fashion_mnist("train")[:500], fashion_mnist("test")[:500]
    assert features(train).shape == (500, 128)
    rng = np.random.default_rng(4)
    noise = rng.uniform(0, 255, (500, 32, 32))  # resized to 28x28 by the extractor
    same = image_frechet_distance(train, test, features)
    assert same * 10 < image_frechet_distance(train, noise, features)


def test_the_classifier_round_trips_and_checks_its_hash(tmp_path):
    network = FashionClassifier(widths=(4, 4, 4), hidden=8)
    network.save_pretrained(tmp_path / "f", "card")
    loaded = FashionClassifier.from_pretrained(tmp_path / "f")
    images = np.random.default_rng(5).uniform(0, 255, (3, 28, 28))
    np.testing.assert_array_equal(FashionFeatures(loaded)(images), FashionFeatures(network)(images))
    with pytest.raises(ValueError, match="checksum"):
        FashionClassifier.from_pretrained(tmp_path / "f", sha256="0" * 64)
