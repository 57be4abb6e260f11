import numpy as np
import pytest
import skimage.data
import tifffile
import torch
from click.testing import CliRunner

from gaptorch import Denoiser, psnr
from gaptorch.cli.main import main
from gaptorch.data import PatchSampler
from gaptorch.methods import n2n
from gaptorch.methods.n2n import N2NObjective, N2NOptions
from gaptorch.models import build
from gaptorch.training_pairs import load_training_pairs

FAST = {"batch_size": 8, "patch_size": 32, "lr": 3e-3, "network": {"depth": 2, "start_filters": 8}}


@pytest.fixture(scope="module")
def camera_pairs():
    """Two independent Poisson draws of camera (128x128) at 5 photons per pixel, and the rate."""
    clean = skimage.data.camera()[160:288, 150:278].astype(np.float64)
    clean = clean / clean.mean() * 5.0
    rng = np.random.default_rng(0)
    return rng.poisson(clean).astype(np.uint16), rng.poisson(clean).astype(np.uint16), clean


@pytest.fixture(scope="module")
def camera_n2n(camera_pairs):
    noisy_a, noisy_b, _ = camera_pairs
    return Denoiser.train((noisy_a, noisy_b), method="n2n", steps=150, seed=0, **FAST)


def test_n2n_on_poisson_pairs_beats_the_noisy_input(camera_pairs, camera_n2n):
    noisy_a, _, clean = camera_pairs
    estimate = camera_n2n.denoise(noisy_a)
    assert estimate.shape == noisy_a.shape and estimate.dtype == np.float32
    assert psnr(estimate, clean) > psnr(noisy_a, clean) + 4.0


def test_stacked_pairs_get_the_same_crop_and_transform():
    first = torch.arange(2 * 20 * 24, dtype=torch.float32).reshape(2, 20, 24)
    images = load_training_pairs(
        [first.numpy(), first.numpy() + 1000], pairs="files", axes="SYX", dims=2, channels=1
    )[0]
    sampler = PatchSampler(images, (8, 8), augment=True)
    batch = sampler.sample(64, torch.Generator().manual_seed(0))
    assert batch.shape == (64, 2, 8, 8)
    assert torch.equal(batch[:, 1] - batch[:, 0], torch.full((64, 8, 8), 1000.0))
    originals = {tuple(batch[i, 0, 0, :2].tolist()) for i in range(64)}
    assert len(originals) > 8  # different crops and transforms, each shared by both members


def test_frames_pair_up_two_by_two_and_odd_frames_are_dropped():
    stack = np.arange(5 * 4 * 4, dtype=np.float32).reshape(5, 4, 4)
    loaded, _ = load_training_pairs(stack, pairs="frames", axes="TYX", dims=2, channels=1)
    assert len(loaded) == 2
    np.testing.assert_array_equal(loaded[1][0].numpy(), stack[2])
    np.testing.assert_array_equal(loaded[1][1].numpy(), stack[3])
    with pytest.raises(ValueError, match="at least 2 frames"):
        load_training_pairs(stack[0], pairs="frames", axes="YX", dims=2, channels=1)
    with pytest.raises(ValueError, match="even number"):
        load_training_pairs([stack], pairs="files", axes="TYX", dims=2, channels=1)
    with pytest.raises(ValueError, match="differ in shape"):
        load_training_pairs([stack, stack[:4]], pairs="files", axes="TYX", dims=2, channels=1)


def test_noisy_targets_go_either_way_and_clean_targets_one_way():
    batch = torch.stack([torch.zeros(1, 4, 4), torch.ones(1, 4, 4)], dim=1).repeat(32, 1, 1, 1)
    batch[:, 0, 0, 0], batch[:, 1, 0, 0] = 1.0, 0.0  # each member has some spread
    generator = torch.Generator().manual_seed(0)
    noisy, _ = N2NObjective(N2NOptions(), 1).pair(batch, 0, 1, generator)
    clean, _ = N2NObjective(N2NOptions(target="clean"), 1).pair(batch, 0, 1, generator)
    firsts = {float(x) for x in noisy[:, 0, 0, 0]}
    assert len(firsts) == 2 and len({float(x) for x in clean[:, 0, 0, 0]}) == 1


def test_estimate_undoes_any_gain_and_offset_exactly():
    network = build("light_unet", start_filters=4, depth=2).eval()
    images = torch.rand(2, 1, 16, 16) * 10
    with torch.no_grad():
        plain = n2n.estimate(network, images)
        scaled = n2n.estimate(network, images * 3.0 - 7.0)
    torch.testing.assert_close(scaled, plain * 3.0 - 7.0, rtol=1e-4, atol=1e-4)
    flat = torch.full((1, 1, 8, 8), 2.5)
    assert torch.isfinite(n2n.estimate(network, flat)).all()


def test_save_and_load_give_identical_outputs(camera_pairs, camera_n2n, tmp_path):
    camera_n2n.save_pretrained(tmp_path / "n2n")
    loaded = Denoiser.from_pretrained(tmp_path / "n2n")
    assert loaded.spec.method == "n2n" and loaded.spec.architecture == "light_unet"
    image = camera_pairs[0][:64, :64]
    np.testing.assert_array_equal(loaded.denoise(image), camera_n2n.denoise(image))
    tiled = loaded.denoise(camera_pairs[0], tile=64)
    np.testing.assert_allclose(tiled, camera_n2n.denoise(camera_pairs[0]), rtol=1e-3, atol=1e-3)
    with pytest.raises(ValueError, match="GAP model"):
        loaded.sample(image, 1)


@pytest.mark.parametrize("loss", ["mse", "l1"])
def test_mse_and_l1_both_denoise(camera_pairs, loss):
    noisy_a, noisy_b, clean = camera_pairs
    model = Denoiser.train((noisy_a, noisy_b), method="n2n", steps=100, seed=0, loss=loss, **FAST)
    assert model.spec.method_config["loss"] == loss
    assert psnr(model.denoise(noisy_a), clean) > psnr(noisy_a, clean) + 4.0


def test_the_gap_unet_is_a_backbone_too(camera_pairs):
    noisy_a, noisy_b, clean = camera_pairs
    network = {"depth": 2, "start_filters": 8, "levels": 4}
    model = Denoiser.train(
        (noisy_a, noisy_b),
        method="n2n",
        steps=100,
        seed=0,
        architecture="unet",
        **{**FAST, "network": network},
    )
    assert model.spec.architecture == "unet"
    assert psnr(model.denoise(noisy_a), clean) > psnr(noisy_a, clean) + 3.0


def test_gaussian_float_pairs_with_negative_values():
    clean = skimage.data.camera()[160:288, 150:278].astype(np.float32) / 255.0 - 0.3
    rng = np.random.default_rng(1)
    noisy_a, noisy_b = (
        clean + rng.normal(0, 0.2, clean.shape).astype(np.float32) for _ in range(2)
    )
    model = Denoiser.train([noisy_a, noisy_b], method="n2n", steps=150, seed=0, **FAST)
    estimate = model.denoise(noisy_a)
    assert psnr(estimate, clean) > psnr(noisy_a, clean) + 3.0


def test_n2n_refuses_gain_and_offset(camera_pairs):
    with pytest.raises(ValueError, match="data units"):
        Denoiser.train(camera_pairs[:2], method="n2n", steps=1, gain=2.0)


def test_gap_train_and_denoise_an_n2n_model_from_the_command_line(tmp_path):
    rng = np.random.default_rng(2)
    frames = rng.normal(0.5, 0.1, (4, 32, 32)).astype(np.float32)
    tifffile.imwrite(tmp_path / "frames.tif", frames, metadata={"axes": "TYX"}, imagej=True)
    runner = CliRunner()
    trained = runner.invoke(
        main,
        [
            "train",
            str(tmp_path / "frames.tif"),
            "-o",
            str(tmp_path / "m"),
            "--method",
            "n2n",
            "--pairs",
            "frames",
            "--steps",
            "3",
            "--patch-size",
            "16",
            "--batch-size",
            "2",
            "--network-option",
            "depth=2",
            "--network-option",
            "start_filters=4",
            "-q",
        ],
    )
    assert trained.exit_code == 0, trained.output
    denoised = runner.invoke(
        main,
        [
            "denoise",
            str(tmp_path / "frames.tif"),
            "-o",
            str(tmp_path / "out"),
            "--model",
            str(tmp_path / "m"),
        ],
    )
    assert denoised.exit_code == 0, denoised.output
    assert tifffile.imread(tmp_path / "out" / "frames.tif").shape == (4, 32, 32)
