"""Inception features from a local TorchScript file (a stand-in with the same convention)."""

import numpy as np
import pytest
import torch
from torch import nn

from gaptorch.frechet import image_frechet_distance
from gaptorch.inception_features import InceptionFeatures


class StandIn(nn.Module):
    """Takes uint8 (N, 3, H, W) like inception-2015-12-05.pt; features: channel means and
    the dtype it was given, so a test sees exactly what reached it."""

    def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        means = x.float().mean(dim=(2, 3))
        if not return_features:
            return means.sum(dim=1, keepdim=True)
        uint8 = torch.full_like(means[:, :1], 1.0 if x.dtype == torch.uint8 else 0.0)
        return torch.cat([means, uint8], dim=1)


pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory):
    path = tmp_path_factory.mktemp("inception") / "inception.pt"
    torch.jit.save(torch.jit.script(StandIn()), str(path))
    return InceptionFeatures(path, device="cpu", batch_size=3)


def test_grayscale_goes_in_as_three_uint8_channels_clipped_and_rounded(stand_in):
    images = np.stack([np.full((5, 5), v, np.float32) for v in (-10.0, 100.4, 300.0, 7.6)])
    features = stand_in(images)
    assert features.shape == (4, 4) and features.dtype == np.float64
    expected = np.repeat([[0.0], [100.0], [255.0], [8.0]], 3, axis=1)
    np.testing.assert_array_equal(features[:, :3], expected)
    assert (features[:, 3] == 1).all()


def test_rgb_channels_keep_their_order_and_fd_runs_on_the_features(stand_in):
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (6, 4, 4, 3)) * np.array([0.2, 0.5, 1.0])
    expected = np.round(images).mean(axis=(1, 2))
    np.testing.assert_allclose(stand_in(images)[:, :3], expected, atol=1e-4)
    assert image_frechet_distance(images, images + 40.0, stand_in) > 100


def test_bad_files_and_shapes_are_refused(tmp_path, stand_in):
    with pytest.raises(FileNotFoundError, match="no Inception file"):
        InceptionFeatures(tmp_path / "missing.pt")
    (tmp_path / "weights.pth").write_bytes(b"not a torchscript archive")
    with pytest.raises(ValueError, match="is not a TorchScript module"):
        InceptionFeatures(tmp_path / "weights.pth")
    with pytest.raises(ValueError, match="images must be"):
        stand_in(np.zeros((2, 4, 4, 2)))
