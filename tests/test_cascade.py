"""The cascade: routing by pseudo-PSNR, hand-over during generation, save/load, training."""

import json
import math

import numpy as np
import pytest
import tifffile
import torch
from click.testing import CliRunner
from conftest import TINY_NETWORK

from gaptorch import Denoiser, Generator, pseudo_psnr
from gaptorch.cascade import DEFAULT_SLICES, train_cascade
from gaptorch.cli.main import main
from gaptorch.model_folder import ModelSpec
from gaptorch.models import architecture_config, build
from gaptorch.models.cascade import Cascade

BOUNDS = [0.0, 10.0]


def cascade_config(bounds=BOUNDS, architecture="unet") -> dict:
    members = [
        {"architecture": architecture, "network": dict(TINY_NETWORK)}
        for _ in range(len(bounds) + 1)
    ]
    return architecture_config("cascade", members=members, bounds=bounds)


def marked_cascade() -> Cascade:
    """Member k answers every pixel with the logit 100 * k (zero weights, bias 100 k)."""
    cascade = build("cascade", **cascade_config())
    for index, member in enumerate(cascade.members):
        for parameter in member.parameters():
            torch.nn.init.zeros_(parameter)
        torch.nn.init.constant_(member.head.bias, 100.0 * index)
    return cascade.eval()


def test_each_image_goes_to_the_member_of_its_slice():
    cascade = marked_cascade()
    means = [
        0.0,
        0.1,
        1.0,
        1.5,
        10.0,
        10.5,
        1000.0,
    ]  # -inf, -10, 0 (bound), 1.8, 10 (bound), 10.2, 30 dB
    expected = [0, 0, 0, 1, 1, 2, 2]
    counts = torch.stack([torch.full((1, 9, 13), m) for m in means])
    assert cascade.route(counts).tolist() == expected
    with torch.no_grad():
        logits = cascade(counts)
    assert logits.shape == counts.shape
    assert [float(v) for v in logits[:, 0, 4, 6]] == [100.0 * k for k in expected]
    assert torch.equal(logits.amin(dim=(1, 2, 3)), logits.amax(dim=(1, 2, 3)))


def test_cascade_checks_its_members_and_bounds():
    member = {"architecture": "unet", "network": dict(TINY_NETWORK)}
    with pytest.raises(ValueError, match="bounds needs 1 values"):
        Cascade([member, member], [])
    with pytest.raises(ValueError, match="strictly ascending"):
        Cascade([member] * 3, [5.0, 5.0])
    with pytest.raises(ValueError, match="dims=3, the cascade 2"):
        Cascade([member, {"architecture": "unet", "network": {**TINY_NETWORK, "dims": 3}}], [0.0])
    with pytest.raises(ValueError, match="cannot itself be a cascade"):
        Cascade([{"architecture": "cascade", "network": {}}], [])
    with pytest.raises(ValueError, match="unknown architecture"):
        Cascade([{"architecture": "nope", "network": {}}], [])


def test_cascade_exposes_what_tiling_needs():
    config = architecture_config(
        "cascade",
        bounds=[0.0],
        members=[
            {"architecture": "unet", "network": {**TINY_NETWORK, "depth": 2}},
            {"architecture": "unet_dilated", "network": {**TINY_NETWORK, "depth": 3}},
        ],
    )
    cascade = build("cascade", **config)
    assert cascade.multiples == (4, 4)
    assert cascade.receptive_field == tuple(cascade.members[1].receptive_field)
    assert cascade.dims == 2 and cascade.in_channels == 1


def test_generation_hands_the_canvas_up_the_cascade_to_max_psnr():
    torch.manual_seed(0)
    cascade = build("cascade", **cascade_config())
    seen: dict[int, list[float]] = {0: [], 1: [], 2: []}
    for index, member in enumerate(cascade.members):
        member.register_forward_hook(
            lambda module, inputs, output, index=index: seen[index].extend(
                pseudo_psnr(image) for image in inputs[0]
            )
        )
    spec = ModelSpec(
        kind="generator",
        method="gap",
        architecture="cascade",
        network=cascade_config(),
        training={"patch": [16, 16]},
    )
    generator = Generator(cascade, spec, device="cpu")
    images, trajectory = generator.generate(
        2, (16, 16), seed=0, max_psnr=14.0, beta=0.5, trajectory_every=10_000
    )
    assert images.shape == (2, 16, 16) and np.isfinite(images).all()
    assert all(seen[k] for k in seen), "every member took part"
    assert max(seen[0]) <= BOUNDS[0] < min(seen[1])
    assert max(seen[1]) <= BOUNDS[1] < min(seen[2])
    assert all(pseudo_psnr(canvas) > 14.0 for canvas in trajectory[-1])


def test_cascade_denoiser_saves_loads_and_runs_from_the_cli(tmp_path, camera_counts):
    noisy, _ = camera_counts
    torch.manual_seed(1)
    spec = ModelSpec(
        kind="denoiser", method="gap", architecture="cascade", network=cascade_config()
    )
    denoiser = Denoiser(build("cascade", **cascade_config()), spec, device="cpu")
    denoiser.save_pretrained(tmp_path / "cascade")
    assert sorted(p.name for p in (tmp_path / "cascade").iterdir()) == [
        "README.md",
        "config.json",
        "model.safetensors",
    ]
    config = json.loads((tmp_path / "cascade" / "config.json").read_text())
    assert config["architecture"] == "cascade" and len(config["network"]["members"]) == 3
    loaded = Denoiser.from_pretrained(tmp_path / "cascade")
    image = noisy[:40, :52]
    np.testing.assert_array_equal(loaded.denoise(image), denoiser.denoise(image))
    np.testing.assert_array_equal(loaded.denoise(image * 20), denoiser.denoise(image * 20))
    samples = loaded.sample(image, 2, max_psnr=12.0, beta=0.5, seed=0)
    assert samples.shape == (2, *image.shape) and np.isfinite(samples).all()
    tifffile.imwrite(tmp_path / "noisy.tif", image)
    result = CliRunner().invoke(
        main,
        [
            "denoise",
            str(tmp_path / "noisy.tif"),
            "-o",
            str(tmp_path / "out"),
            "--model",
            str(tmp_path / "cascade"),
        ],
    )
    assert result.exit_code == 0, result.output
    (written,) = (tmp_path / "out").glob("noisy*.tif")
    np.testing.assert_allclose(
        tifffile.imread(written), denoiser.denoise(image), rtol=1e-5, atol=1e-5
    )


def test_default_slices_are_the_seed_studys():
    assert len(DEFAULT_SLICES) == 9
    assert DEFAULT_SLICES[0] == (-40.0, -32.0) and DEFAULT_SLICES[-1] == (24.0, 32.0)
    assert all(a[1] == b[0] for a, b in zip(DEFAULT_SLICES, DEFAULT_SLICES[1:], strict=False))


def test_train_cascade_trains_each_member_on_its_slice(camera_counts):
    noisy, _ = camera_counts
    slices = [(-10.0, 0.0), (0.0, 10.0)]
    curriculum = {"start_low": 5.0, "start_high": 10.0, "step_db": 5.0, "min_psnr": 0.0}
    denoiser = train_cascade(
        noisy,
        slices=slices,
        steps_per_member=3,
        seed=0,
        network=TINY_NETWORK,
        batch_size=2,
        patch_size=16,
        member_options=[{}, {"curriculum": curriculum}],
    )
    assert isinstance(denoiser, Denoiser) and isinstance(denoiser.network, Cascade)
    assert denoiser.spec.architecture == "cascade"
    assert denoiser.network.bounds.tolist() == [0.0]
    assert denoiser.spec.training["slices"] == [[-10.0, 0.0], [0.0, 10.0]]
    first, second = denoiser.spec.method_config["members"]
    assert first["schedule"] == [-10.0, 0.0]
    assert second["schedule"]["start_low"] == 5.0 and second["psnr_range"] is None
    estimate = denoiser.denoise(noisy[:33, :35])
    assert estimate.shape == (33, 35) and math.isfinite(float(estimate.sum()))


def test_train_cascade_rejects_shared_ranges_and_bad_slices(camera_counts):
    noisy, _ = camera_counts
    with pytest.raises(ValueError, match="psnr_range cannot be shared"):
        train_cascade(noisy, steps_per_member=1, psnr_range=(0, 1))
    with pytest.raises(ValueError, match="must ascend"):
        train_cascade(noisy, slices=[(0, 8), (-8, 0)], steps_per_member=1)
    with pytest.raises(ValueError, match="member_options needs 2"):
        train_cascade(noisy, slices=[(0, 8), (8, 16)], steps_per_member=1, member_options=[{}])
