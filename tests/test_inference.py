import logging

import numpy as np
import pytest
import torch

from gaptorch import inference
from gaptorch.inference import (
    TilePlan,
    available_memory,
    default_overlap,
    is_out_of_memory,
    network_profile,
    plan_tiles,
    predict_all,
)
from gaptorch.models import build

CPU = torch.device("cpu")


@pytest.mark.parametrize(
    "config",
    [
        {"depth": 2},
        {"depth": 3},
        {"depth": 3, "up_mode": "upsample"},
        {"depth": 2, "dims": 3, "pool_z": False},
        {"depth": 2, "log_skip": True},
        {"depth": 2, "contrast_input": True},
        {"depth": 2, "dims": 3, "contrast_input": True},
    ],
)
def test_receptive_field_bounds_the_impulse_response(config):
    # With positive weights nothing is cut off by a ReLU, so the impulse response shows the
    # structural receptive field; the formula must bound it and not overshoot by much.
    network = build("unet", start_filters=2, levels=2, **config).double().eval()
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.copy_(parameter.abs() + 0.01)
    dims = config.get("dims", 2)
    size = 96 if dims == 2 else 48
    zero = torch.zeros((1, 1) + (size,) * dims, dtype=torch.float64)
    impulse = zero.clone()
    impulse[(0, 0) + (size // 2 + 1,) * dims] = 1.0
    with torch.no_grad():
        changed = (network(impulse) - network(zero)).abs()[0, 0].nonzero()
    reach = [int((changed[:, d] - (size // 2 + 1)).abs().max()) for d in range(dims)]
    for measured, bound in zip(reach, network.receptive_field, strict=True):
        assert measured <= bound <= 1.3 * measured + 2


def test_profile_counts_bytes_per_pixel_and_is_cached():
    small = build("unet", depth=2, start_filters=4, levels=4)
    large = build("unet", depth=4, start_filters=32)
    assert network_profile(small) is network_profile(small)
    assert network_profile(large).bytes_per_pixel > 5 * network_profile(small).bytes_per_pixel
    assert default_overlap(network_profile(large)) == (218, 218)


def test_tiles_come_from_free_memory(monkeypatch):
    network = build("unet", depth=2, start_filters=4, levels=4)
    monkeypatch.setattr(inference, "available_memory", lambda device: 8 * 2**30)
    roomy = plan_tiles((512, 512), CPU, network=network)
    assert roomy.tile is None and roomy.chunk >= 1
    monkeypatch.setattr(inference, "available_memory", lambda device: 40 * 2**20)
    tight = plan_tiles((512, 512), CPU, network=network)
    assert tight.tile is not None and all(t % 2 == 0 and t < 512 for t in tight.tile)
    assert tight.overlap == (38, 38)
    assert plan_tiles((512, 512), CPU, tile=128, overlap=8, network=network).tile == (128, 128)
    thin = plan_tiles((4, 100_000), CPU, network=network)
    assert thin.tile[0] == 4 and thin.tile[1] < 100_000


def test_available_memory_honours_an_address_space_limit(monkeypatch):
    resource = pytest.importorskip("resource")
    used = inference._read_number("/proc/self/status", "VmSize")
    if used is None:
        pytest.skip("no /proc")
    real = resource.getrlimit
    monkeypatch.setattr(
        resource,
        "getrlimit",
        lambda which: (used + 50 * 2**20, -1) if which == resource.RLIMIT_AS else real(which),
    )
    assert available_memory(CPU) <= 51 * 2**20


def test_default_tiling_matches_untiled_output(tiny_denoiser, camera_counts, monkeypatch):
    noisy, _ = camera_counts
    image = np.tile(noisy, (2, 3))
    whole = tiny_denoiser.denoise(image)
    # Enough memory for tiles a few overlaps wide, too little for the whole image.
    monkeypatch.setattr(inference, "available_memory", lambda device: 16 * 2**20)
    plan = plan_tiles(image.shape, CPU, network=tiny_denoiser.network)
    assert plan.tile is not None and min(plan.tile) >= 3 * max(plan.overlap)
    tiled = tiny_denoiser.denoise(image)
    assert np.abs(tiled - whole).max() / np.abs(whole).max() < 1e-4


def test_out_of_memory_halves_tiles_and_still_matches(
    tiny_denoiser, camera_counts, monkeypatch, caplog
):
    noisy, _ = camera_counts
    image = np.tile(noisy, (3, 3))
    whole = tiny_denoiser.denoise(image)
    real = tiny_denoiser._predict

    def fails_on_big_inputs(x):
        if x.numel() > 150 * 150:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(x)

    monkeypatch.setattr(tiny_denoiser, "_predict", fails_on_big_inputs)
    # Plenty of (pretend) memory: the first plan is the whole 384x384 image.
    monkeypatch.setattr(inference, "available_memory", lambda device: 2**30)
    with caplog.at_level(logging.WARNING, logger="gaptorch"):
        retried = tiny_denoiser.denoise(image)
    assert "out of memory with 1 image(s) of 384x384" in caplog.text
    assert "retrying with 1 tile(s) of 96x96" in caplog.text
    assert np.abs(retried - whole).max() / np.abs(whole).max() < 1e-4


def test_out_of_memory_at_the_floor_is_a_clear_memory_error():
    def always_fails(x):
        raise MemoryError("Unable to allocate 1.00 MiB")

    plan = TilePlan(None, (4, 4), 1, (16, 16))
    with pytest.raises(MemoryError, match="out of memory even with tiles of 16x16"):
        predict_all(always_fails, torch.zeros(1, 1, 64, 64), plan, (2, 2))


def test_only_allocation_failures_count_as_out_of_memory():
    assert is_out_of_memory(
        RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 8 bytes")
    )
    assert is_out_of_memory(MemoryError())
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    assert not is_out_of_memory(ValueError("out of memory"))
