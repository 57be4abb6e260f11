"""Sample grids written during generator training."""

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from gaptorch import Denoiser, Generator
from gaptorch.io.grid import grid_image

IMAGES = np.random.default_rng(0).uniform(10, 200, (24, 16, 16)).astype(np.float32)
METHODS = {
    "gap": {"patch_size": 16, "network": {"depth": 2, "start_filters": 4}, "keep_best": False},
    "ddpm": {
        "image_size": 16,
        "timesteps": 20,
        "network": {"start_filters": 8, "channel_mults": [1, 2], "attention_levels": [1]},
    },
}


@pytest.mark.parametrize("method", sorted(METHODS))
def test_grids_come_every_n_steps_and_at_the_end_from_the_returned_weights(tmp_path, method):
    options = {
        "axes": "SYX",
        "method": method,
        "steps": 5,
        "seed": 0,
        "batch_size": 4,
        **METHODS[method],
    }
    plain = Generator.train(IMAGES, **options)
    monitored = Generator.train(IMAGES, **options, sample_every=2, sample_dir=tmp_path / "s")
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == [
        "samples-2.png",
        "samples-4.png",
        "samples-5.png",
    ]
    for name, value in plain.network.state_dict().items():  # writing grids changes no training
        torch.testing.assert_close(monitored.network.state_dict()[name], value, rtol=0, atol=0)
    last = iio.imread(tmp_path / "s" / "samples-5.png")
    np.testing.assert_array_equal(last, grid_image(monitored.generate(16, seed=0)))


def test_grid_options_go_together_and_only_to_generators(tmp_path):
    with pytest.raises(ValueError, match="sample_every and sample_dir go together"):
        Generator.train(IMAGES, axes="SYX", steps=1, sample_every=1, **METHODS["gap"])
    with pytest.raises(ValueError, match="sample_every must be a positive int"):
        Generator.train(
            IMAGES, axes="SYX", steps=1, sample_every=0, sample_dir=tmp_path, **METHODS["gap"]
        )
    with pytest.raises(TypeError, match="sample_every"):
        Denoiser.train(
            IMAGES.astype(np.uint16),
            axes="SYX",
            steps=1,
            sample_every=1,
            sample_dir=tmp_path,
            **METHODS["gap"],
        )
