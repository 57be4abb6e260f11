import json

import numpy as np
import pytest
from conftest import TINY_NETWORK

from gaptorch import Denoiser, Generator, psnr


def test_denoise_keeps_shape_and_photon_count(tiny_denoiser, camera_counts):
    noisy, _ = camera_counts
    estimate = tiny_denoiser.denoise(noisy)
    assert estimate.shape == noisy.shape and estimate.dtype == np.float32
    assert estimate.sum() == pytest.approx(float(noisy.sum()), rel=1e-4)


def test_short_training_already_beats_the_noisy_input(tiny_denoiser, camera_counts):
    noisy, clean = camera_counts
    assert psnr(tiny_denoiser.denoise(noisy), clean) > psnr(noisy, clean) + 2


def test_save_load_round_trip_gives_identical_output(tiny_denoiser, camera_counts, tmp_path):
    noisy, _ = camera_counts
    tiny_denoiser.save_pretrained(tmp_path / "model")
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == [
        "README.md",
        "config.json",
        "model.safetensors",
    ]
    loaded = Denoiser.from_pretrained(tmp_path / "model")
    np.testing.assert_array_equal(loaded.denoise(noisy), tiny_denoiser.denoise(noisy))
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["method"] == "gap" and config["architecture"] == "unet"


def test_weights_that_do_not_fit_are_refused(tiny_denoiser, tmp_path):
    tiny_denoiser.save_pretrained(tmp_path / "model")
    config_path = tmp_path / "model" / "config.json"
    config = json.loads(config_path.read_text())
    config["network"]["start_filters"] = 8
    config_path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match="does not fit"):
        Denoiser.from_pretrained(tmp_path / "model")


def test_unknown_model_name_lists_what_exists(tmp_path):
    with pytest.raises(ValueError, match="neither a model folder nor a bundled model"):
        Denoiser.from_pretrained("no-such-model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="config.json is missing"):
        Denoiser.from_pretrained(tmp_path / "empty")


def test_stack_axes_are_denoised_per_frame(tiny_denoiser, camera_counts):
    noisy, _ = camera_counts
    stack = np.stack([noisy, noisy[::-1]])
    estimate = tiny_denoiser.denoise(stack, axes="TYX")
    np.testing.assert_allclose(estimate[0], tiny_denoiser.denoise(noisy), rtol=1e-5, atol=1e-6)
    assert tiny_denoiser.denoise(stack[:, :51, :37], axes="ZYX").shape == (2, 51, 37)


def test_tiled_output_matches_whole_image(tiny_denoiser, camera_counts):
    noisy, _ = camera_counts
    whole = tiny_denoiser.denoise(noisy)
    tiled = tiny_denoiser.denoise(noisy, tile=64, overlap=32)
    assert np.abs(tiled - whole).max() / np.abs(whole).max() < 1e-4


def test_calibrated_data_come_back_in_camera_units(tiny_denoiser, camera_counts):
    noisy, _ = camera_counts
    camera = noisy.astype(np.float32) * 2.0 + 100.0
    estimate = tiny_denoiser.denoise(camera, gain=2.0, offset=100.0)
    np.testing.assert_allclose(estimate, tiny_denoiser.denoise(noisy) * 2.0 + 100.0, rtol=1e-5)
    with pytest.raises(ValueError, match="not photon counts"):
        tiny_denoiser.denoise(camera + 0.5)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros(5), "at least 2 dims"),
        (np.array([[np.nan, 1.0]]), "NaN"),
        (np.zeros((3, 4, 5, 6, 7)), "pass axes"),
    ],
)
def test_bad_images_get_clear_errors(tiny_denoiser, image, message):
    with pytest.raises(ValueError, match=message):
        tiny_denoiser.denoise(image)


def test_posterior_samples_are_reproducible_and_centred(tiny_denoiser, camera_counts):
    noisy, _ = camera_counts
    crop = noisy[:24, :24]
    a = tiny_denoiser.sample(crop, 3, max_psnr=15, seed=1)
    b = tiny_denoiser.sample(crop, 3, max_psnr=15, seed=1)
    assert a.shape == (3, 24, 24)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a.sum(axis=(1, 2)), float(crop.sum()), rtol=1e-4)
    assert not np.array_equal(a[0], a[1])


def test_sample_trajectory_grows(tiny_denoiser, camera_counts):
    noisy, _ = camera_counts
    samples, trajectory = tiny_denoiser.sample(
        noisy[:16, :16], 2, max_psnr=10, seed=0, trajectory_every=5
    )
    totals = [t.sum() for t in trajectory]
    assert len(trajectory) >= 2 and totals == sorted(totals)
    assert trajectory[0].shape == (2, 16, 16)


def test_3d_model_trains_and_denoises_a_stack():
    rng = np.random.default_rng(0)
    clean = np.ones((10, 24, 26)) * 3.0
    clean[:, 8:16, 8:16] = 12.0
    stack = rng.poisson(clean).astype(np.uint16)
    denoiser = Denoiser.train(
        stack, axes="ZYX", steps=10, seed=0, network=TINY_NETWORK, patch_size=8, batch_size=2
    )
    assert denoiser.dims == 3
    estimate = denoiser.denoise(stack, axes="ZYX")
    assert estimate.shape == stack.shape
    assert estimate.sum() == pytest.approx(float(stack.sum()), rel=1e-4)


def test_rgb_model_for_photos_keeps_the_counted_colour_balance():
    rng = np.random.default_rng(0)
    photo = rng.poisson(np.full((20, 22, 3), 5.0)).astype(np.uint8)
    denoiser = Denoiser.train(
        photo, steps=5, seed=0, network=TINY_NETWORK, patch_size=16, batch_size=2
    )
    assert denoiser.channels == 3
    assert denoiser.denoise(photo).shape == photo.shape
    # A colour the training never showed: 40 times the prior's photons decide the balance.
    tinted = rng.poisson(np.full((20, 22, 3), 5.0) * [2.0, 0.5, 1.0]).astype(np.uint8)
    counted = tinted.sum(axis=(0, 1))
    for estimate in (denoiser.denoise(tinted), *denoiser.sample(tinted, 2, max_psnr=12, seed=0)):
        np.testing.assert_allclose(estimate.sum(axis=(0, 1)), counted, rtol=0.02)


def test_unknown_training_option_is_named():
    with pytest.raises(TypeError, match="unknown training option.*stepz"):
        Denoiser.train(np.ones((8, 8), np.uint8), steps=1, stepz=3)


def test_auto_calibration_is_stored_and_used(camera_counts):
    noisy, _ = camera_counts
    camera = (noisy * 3.0 + 50.0).astype(np.float32)
    denoiser = Denoiser.train(
        camera, steps=3, seed=0, gain=3.0, offset=50.0, network=TINY_NETWORK, patch_size=16
    )
    assert denoiser.calibration.gain == 3.0
    assert denoiser.denoise(camera).mean() == pytest.approx(float(camera.mean()), rel=1e-3)


def test_generator_from_clean_images_makes_images_in_data_units():
    rng = np.random.default_rng(0)
    images = rng.random((8, 12, 12)).astype(np.float32) + 0.5
    generator = Generator.train(
        images, axes="SYX", steps=5, seed=0, network=TINY_NETWORK, batch_size=4
    )
    out = generator.generate(3, seed=0, max_psnr=5)
    assert out.shape == (3, 12, 12)
    assert out.mean() == pytest.approx(float(images.mean()), rel=1e-3)
    np.testing.assert_array_equal(out, generator.generate(3, seed=0, max_psnr=5))
