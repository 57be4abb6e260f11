import math

import numpy as np
import pytest
import tifffile
import torch
from click.testing import CliRunner

from gaptorch import Generator, training
from gaptorch.cli.main import main
from gaptorch.methods.ddpm import square_images
from gaptorch.methods.ddpm_scheduler import MAX_BETA, DDPMScheduler
from gaptorch.models import build
from gaptorch.pretrained import HERE

TINY = {"start_filters": 8, "channel_mults": [1, 2], "attention_levels": [1]}
TRAIN = {"image_size": 16, "timesteps": 40, "batch_size": 4, "network": TINY}


def test_linear_schedule_matches_its_closed_form():
    scheduler = DDPMScheduler(1000, "linear")
    betas = 1e-4 + (0.02 - 1e-4) * torch.arange(1000, dtype=torch.float64) / 999
    torch.testing.assert_close(scheduler.betas, betas)
    torch.testing.assert_close(scheduler.alpha_bar, torch.cumprod(1 - betas, 0))
    assert scheduler.alpha_bar[-1] < 1e-4


def test_cosine_schedule_matches_its_closed_form_until_betas_are_clipped():
    scheduler = DDPMScheduler(1000, "cosine")
    t = torch.arange(1, 1001, dtype=torch.float64)
    f = lambda t: torch.cos((t / 1000 + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    closed = f(t) / f(torch.zeros(1, dtype=torch.float64))
    unclipped = scheduler.betas < MAX_BETA
    assert unclipped[:-1].all() and not unclipped[-1]  # only the last beta (f(T) = 0) is clipped
    torch.testing.assert_close(scheduler.alpha_bar[unclipped], closed[unclipped])
    assert scheduler.betas.max() <= MAX_BETA and scheduler.alpha_bar[-1] > 0


def test_forward_noising_has_the_stated_mean_and_variance():
    scheduler = DDPMScheduler(1000, "linear")
    generator = torch.Generator().manual_seed(0)
    x0 = torch.linspace(-1, 1, 16).view(1, 1, 4, 4).repeat(20_000, 1, 1, 1)
    t = torch.full((20_000,), 300)
    x_t = scheduler.add_noise(x0, torch.randn(x0.shape, generator=generator), t)
    alpha_bar = float(scheduler.alpha_bar[300])
    torch.testing.assert_close(x_t.mean(0), math.sqrt(alpha_bar) * x0[0], atol=0.03, rtol=0)
    torch.testing.assert_close(x_t.var(0), torch.full((1, 4, 4), 1 - alpha_bar), atol=0.03, rtol=0)


@pytest.mark.parametrize("prediction", ["epsilon", "v"])
def test_ddim_with_eta_1_over_every_step_is_the_ddpm_posterior(prediction):
    scheduler = DDPMScheduler(100, "cosine", prediction=prediction)
    generator = torch.Generator().manual_seed(1)
    x_t, output, z = (torch.randn(3, 1, 8, 8, generator=generator) for _ in range(3))
    for t in (99, 50, 1):
        x0 = scheduler.predict_x0(output, x_t, torch.full((3,), t)).clamp(-1, 1)
        ab, ab_prev, beta = (
            float(v[t]) for v in (scheduler.alpha_bar, scheduler.alpha_bar_prev, scheduler.betas)
        )
        mean = (
            math.sqrt(ab_prev) * beta / (1 - ab) * x0
            + math.sqrt(1 - beta) * (1 - ab_prev) / (1 - ab) * x_t
        )
        variance = (1 - ab_prev) / (1 - ab) * beta
        zero = torch.zeros_like(z)
        for stepped in (
            scheduler.step,
            lambda o, t, x, n: scheduler.ddim_step(o, t, t - 1, x, n, eta=1.0),
        ):
            torch.testing.assert_close(stepped(output, t, x_t, zero), mean, atol=1e-5, rtol=1e-5)
            spread = stepped(output, t, x_t, z) - stepped(output, t, x_t, zero)
            torch.testing.assert_close(spread, math.sqrt(variance) * z, atol=1e-5, rtol=1e-5)


def test_ddim_with_eta_0_is_deterministic_given_the_start_noise():
    scheduler = DDPMScheduler(50)
    network = build("ddpm_unet", **TINY).eval()
    start = torch.randn(2, 1, 16, 16, generator=torch.Generator().manual_seed(2))
    runs = []
    for seed in (3, 4):
        generator, x = torch.Generator().manual_seed(seed), start
        times = scheduler.timesteps(10)
        with torch.no_grad():
            for i, t in enumerate(times):
                output = network(x, torch.full((2,), t))
                noise = torch.randn(x.shape, generator=generator)
                x = scheduler.ddim_step(
                    output, t, times[i + 1] if i + 1 < 10 else -1, x, noise, eta=0.0
                )
        runs.append(x)
    torch.testing.assert_close(runs[0], runs[1], atol=0, rtol=0)


@pytest.mark.parametrize("prediction", ["epsilon", "v"])
def test_the_prediction_targets_convert_back_to_x0(prediction):
    scheduler = DDPMScheduler(1000, "linear", prediction=prediction)
    generator = torch.Generator().manual_seed(5)
    x0, noise = (
        torch.rand(4, 1, 8, 8, generator=generator) * 2 - 1,
        torch.randn(4, 1, 8, 8, generator=generator),
    )
    t = torch.tensor([0, 10, 500, 999])
    x_t = scheduler.add_noise(x0, noise, t)
    torch.testing.assert_close(
        scheduler.predict_x0(scheduler.target(x0, noise, t), x_t, t), x0, atol=1e-4, rtol=0
    )


def test_timesteps_and_bad_settings():
    scheduler = DDPMScheduler(1000)
    assert scheduler.timesteps(1000) == list(range(999, -1, -1))
    steps = scheduler.timesteps(50)
    assert (
        len(steps) == 50
        and steps[0] == 999
        and steps[-1] == 0
        and steps == sorted(steps, reverse=True)
    )
    with pytest.raises(ValueError, match="sampling steps"):
        scheduler.timesteps(1001)
    with pytest.raises(ValueError, match="schedule"):
        DDPMScheduler(10, "quadratic")
    with pytest.raises(ValueError, match="prediction"):
        DDPMScheduler(10, prediction="x0")


def test_images_are_centre_cropped_to_a_square_then_resized():
    image = torch.arange(20 * 30, dtype=torch.float32).view(1, 1, 20, 30)
    torch.testing.assert_close(square_images(image, 20), image[..., 5:25])
    assert square_images(image, 8).shape == (1, 1, 8, 8)


def test_the_ddpm_unet_keeps_shapes_in_grayscale_and_rgb():
    for channels in (1, 3):
        network = build("ddpm_unet", in_channels=channels, **TINY)
        x = torch.randn(2, channels, 16, 24)
        assert network(x, torch.tensor([0, 7])).shape == x.shape
    with pytest.raises(ValueError, match="2D only"):
        build("ddpm_unet", dims=3)


@pytest.fixture(scope="module")
def tiny_ddpm():
    images = np.random.default_rng(0).random((8, 20, 24)).astype(np.float32) * 100 + 10
    return Generator.train(
        images, method="ddpm", steps=4, seed=0, schedule="cosine", prediction="v", **TRAIN
    )


def test_a_tiny_ddpm_trains_and_generates_in_data_units(tiny_ddpm):
    assert tiny_ddpm.spec.method == "ddpm" and tiny_ddpm.default_shape == (16, 16)
    low, high = tiny_ddpm.spec.intensity["low"], tiny_ddpm.spec.intensity["high"]
    assert 10 <= low < high <= 110
    images = tiny_ddpm.generate(3, seed=1, steps=5)
    assert images.shape == (3, 16, 16) and images.dtype == np.float32
    assert images.min() >= low - 1e-3 and images.max() <= high + 1e-3
    assert tiny_ddpm.generate(2, seed=1, sampler="ddpm").shape == (2, 16, 16)  # all 40 steps


def test_seeds_reproduce_and_save_load_keeps_the_samples(tiny_ddpm, tmp_path):
    first = tiny_ddpm.generate(2, seed=7, steps=4, eta=0.5)
    np.testing.assert_array_equal(first, tiny_ddpm.generate(2, seed=7, steps=4, eta=0.5))
    assert not np.array_equal(first, tiny_ddpm.generate(2, seed=8, steps=4, eta=0.5))
    tiny_ddpm.save_pretrained(tmp_path / "ddpm")
    loaded = Generator.from_pretrained(tmp_path / "ddpm")
    assert loaded.spec.method_config["schedule"] == "cosine"
    np.testing.assert_array_equal(loaded.generate(2, seed=7, steps=4, eta=0.5), first)


def test_rgb_ddpm_and_options_it_refuses():
    photos = np.random.default_rng(1).random((4, 16, 16, 3)).astype(np.float32)
    model = Generator.train(photos, method="ddpm", steps=2, seed=0, axes="SYXC", **TRAIN)
    assert model.generate(1, seed=0, steps=2).shape == (1, 16, 16, 3)
    with pytest.raises(ValueError, match="patch_size does not apply"):
        Generator.train(photos, method="ddpm", steps=1, axes="SYXC", patch_size=8, **TRAIN)
    with pytest.raises(ValueError, match="sampler"):
        model.generate(1, seed=0, sampler="euler")


def test_gap_generators_refuse_ddpm_sampling_options():
    images = np.random.default_rng(3).random((4, 16, 16)).astype(np.float32) + 0.5
    gap = Generator.train(
        images,
        axes="SYX",
        steps=1,
        seed=0,
        patch_size=16,
        batch_size=2,
        network={"depth": 2, "start_filters": 4, "levels": 4},
    )
    with pytest.raises(ValueError, match="apply to DDPM"):
        gap.generate(1, seed=0, steps=10)


def test_gap_train_and_generate_with_a_ddpm_model(tmp_path):
    images = np.random.default_rng(2).random((6, 16, 16)).astype(np.float32)
    tifffile.imwrite(tmp_path / "images.tif", images)
    runner = CliRunner()
    options = ["--config", str(tmp_path / "run.json")]
    (tmp_path / "run.json").write_text(
        '{"image_size": 16, "timesteps": 20, "batch_size": 2, '
        '"network": {"start_filters": 8, "channel_mults": [1, 2]}}'
    )
    trained = runner.invoke(
        main,
        [
            "train",
            str(tmp_path / "images.tif"),
            "-o",
            str(tmp_path / "m"),
            "--method",
            "ddpm",
            "--steps",
            "2",
            "-q",
            *options,
        ],
    )
    assert trained.exit_code == 0, trained.output
    generated = runner.invoke(
        main,
        [
            "generate",
            "-n",
            "2",
            "-o",
            str(tmp_path / "g.tif"),
            "--model",
            str(tmp_path / "m"),
            "--seed",
            "0",
            "--steps",
            "3",
            "--eta",
            "1",
        ],
    )
    assert generated.exit_code == 0, generated.output
    assert tifffile.imread(tmp_path / "g.tif").shape == (2, 16, 16)


@pytest.mark.parametrize("name", ["ddpm-fashion", "gap-gen-fashion"])
def test_the_bundled_fashion_generators_load_offline_and_generate(name):
    generator = Generator.from_pretrained(name, device="cpu")
    options = {"steps": 2} if generator.spec.method == "ddpm" else {"max_psnr": 5.0}
    images = generator.generate(2, seed=0, **options)
    assert images.shape == (2, *generator.default_shape) and np.isfinite(images).all()
    assert "## Quality" in (HERE / name / "README.md").read_text()


def test_a_resumed_ddpm_run_ends_with_the_weights_of_an_uninterrupted_one(tmp_path, monkeypatch):
    images = np.random.default_rng(6).random((6, 16, 16)).astype(np.float32)
    options = {**TRAIN, "steps": 4, "seed": 0, "checkpoint_every": 2}
    whole = Generator.train(images, method="ddpm", **options)
    step_seed = training.step_seed

    def crash_at_step_three(seed, rank, step):
        if step == 3:
            raise KeyboardInterrupt("simulated crash")
        return step_seed(seed, rank, step)

    monkeypatch.setattr(training, "step_seed", crash_at_step_three)
    with pytest.raises(KeyboardInterrupt):
        Generator.train(images, method="ddpm", checkpoint_dir=str(tmp_path), **options)
    monkeypatch.setattr(training, "step_seed", step_seed)
    resumed = Generator.train(
        images, method="ddpm", checkpoint_dir=str(tmp_path), resume=True, **options
    )
    assert resumed.spec.training["steps"] == 4
    for name, value in whole.network.state_dict().items():
        torch.testing.assert_close(resumed.network.state_dict()[name], value, atol=0, rtol=0)
