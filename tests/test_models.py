import math

import pytest
import torch

from gaptorch.models import architecture_config, build, list_architectures

# The cascade is built from member configs: tests/test_cascade.py. ddpm_unet takes
# (x_t, t) and is 2D only: tests/test_ddpm.py.
SHAPE_AGNOSTIC = [n for n in list_architectures() if n not in ("cascade", "ddpm_unet")]


@pytest.mark.parametrize("name", SHAPE_AGNOSTIC)
@pytest.mark.parametrize(
    ("dims", "shape"),
    [(2, (2, 1, 37, 50)), (2, (1, 3, 5, 9)), (3, (1, 1, 9, 20, 17)), (2, (1, 1, 1, 1))],
)
def test_every_architecture_keeps_any_shape(name, dims, shape):
    channels = shape[1]
    encoding = {"levels": 3} if "levels" in architecture_config(name) else {}
    network = build(name, dims=dims, in_channels=channels, depth=3, start_filters=4, **encoding)
    counts = torch.poisson(torch.full(shape, 2.0))
    logits = network(counts)
    assert logits.shape == counts.shape
    auxiliary = getattr(network, "auxiliary_logits", [])  # deep supervision's extra heads
    (logits.sum() + sum(a.sum() for a in auxiliary)).backward()
    assert all(p.grad is not None for p in network.parameters() if p.requires_grad)


@pytest.mark.parametrize("up_mode", ["transpose", "upsample"])
@pytest.mark.parametrize("merge_mode", ["add", "concat"])
def test_unet_variants_build_and_run(up_mode, merge_mode):
    network = build("unet", depth=3, start_filters=4, up_mode=up_mode, merge_mode=merge_mode)
    assert network(torch.zeros(1, 1, 19, 23)).shape == (1, 1, 19, 23)


def test_3d_unet_can_keep_z_resolution():
    network = build("unet", dims=3, depth=3, start_filters=4, pool_z=False)
    assert network.multiples == (1, 4, 4)
    assert network(torch.zeros(1, 1, 3, 16, 16)).shape == (1, 1, 3, 16, 16)


def test_unet_is_translation_equivariant_on_its_pooling_grid():
    torch.manual_seed(0)
    network = build("unet", depth=3, start_filters=4).eval()
    image = torch.poisson(torch.full((1, 1, 64, 64), 3.0))
    with torch.no_grad():
        whole = network(image)
        shifted = network(image[..., 4:, 8:])
    torch.testing.assert_close(
        whole[..., 24:40, 24:40], shifted[..., 20:36, 16:32], atol=1e-4, rtol=1e-4
    )


def test_unknown_architecture_and_keywords_are_named():
    with pytest.raises(ValueError, match="unknown architecture 'nope'"):
        build("nope")
    with pytest.raises(ValueError, match="colour"):
        build("unet", colour=3)
    with pytest.raises(ValueError, match="dims"):
        build("unet", dims=4)


@pytest.mark.parametrize("dims", [2, 3])
def test_log_skip_adds_gated_log_counts_to_the_logits(dims):
    network = build("unet", dims=dims, depth=2, start_filters=4, log_skip=True)
    torch.nn.init.zeros_(network.head.weight)
    torch.nn.init.zeros_(network.head.bias)
    size = (*([3] * (dims - 2)), 11, 13)
    bright = torch.full((1, 1, *size), 50.0)  # local mean 50, gate 50**2 / (50**2 + 30**2)
    torch.testing.assert_close(network(bright), torch.full_like(bright, 2500 / 3400 * math.log(51)))
    dark = torch.zeros(1, 1, *size)
    dark[..., 5, 6] = 1.0  # one photon: a gate of 1e-8, no spike for the network to undo
    with torch.no_grad():
        assert float(network(dark).max()) < 1e-6
    assert architecture_config("unet")["log_skip"] is False  # older model folders load as before


@pytest.mark.parametrize("dims", [2, 3])
def test_contrast_input_reads_deviations_in_shot_noise_units(dims):
    from gaptorch.models.unet import LocalContrast

    contrast = LocalContrast(dims, radius=1)
    size = (*([5] * (dims - 2)), 7, 9)
    flat = torch.full((2, 1, *size), 99.0)
    deviation, log_mean = contrast(flat).split(1, dim=1)
    torch.testing.assert_close(deviation, torch.zeros_like(flat))
    torch.testing.assert_close(log_mean, torch.full_like(flat, math.log(100.0) / 8))
    for level in (3.0, 3000.0):  # the same relative bump reads alike at any brightness
        image = torch.full((1, 1, *size), level)
        pixel = (0, 0, *([2] * (dims - 2)), 3, 4)
        image[pixel] += 2 * math.sqrt(level)
        local = level + 2 * math.sqrt(level) / 3**dims
        z = (level + 2 * math.sqrt(level) - local) / math.sqrt(local + 1)
        expected = math.tanh(z / 4)
        assert float(contrast(image)[pixel]) == pytest.approx(expected, rel=1e-4)
        assert 0.35 < expected < 0.5
    edge = torch.zeros((1, 1, *size))
    edge[..., :4] = 1e6  # z in the thousands: bounded
    assert float(contrast(edge)[:, 0].abs().max()) <= 1.0


def test_contrast_input_adds_two_channels_and_is_off_for_older_models():
    plain = build("unet", depth=2, start_filters=4, levels=3)
    network = build("unet", depth=2, start_filters=4, levels=3, contrast_input=True)
    first = [m for m in network.down[0].modules() if isinstance(m, torch.nn.Conv2d)][0]
    plain_first = [m for m in plain.down[0].modules() if isinstance(m, torch.nn.Conv2d)][0]
    assert first.in_channels == plain_first.in_channels + 2
    assert network(torch.poisson(torch.full((1, 1, 12, 10), 4.0))).shape == (1, 1, 12, 10)
    assert architecture_config("unet")["contrast_input"] is False
