"""Every registered U-Net variant: shapes, gradients, save/load, locality, deep supervision."""

import inspect

import numpy as np
import pytest
import torch
from conftest import TINY_NETWORK

from gaptorch import Denoiser, pseudo_psnr
from gaptorch.methods.auxiliary import AuxiliaryObjective
from gaptorch.methods.gap import photon_loss
from gaptorch.model_folder import ModelSpec, load_model_folder, save_model_folder
from gaptorch.models import ARCHITECTURES, architecture_config, build, list_architectures
from gaptorch.models.conditioning import PsnrEmbedding, pseudo_psnr_db

TINY = {"start_filters": 4, "depth": 3, "levels": 4}
# The cascade has tests/test_cascade.py; ddpm_unet takes (x_t, t): tests/test_ddpm.py.
NETWORKS = [name for name in list_architectures() if name not in ("cascade", "ddpm_unet")]
# Variants without global pooling, attention or level conditioning: their output pixel
# depends only on inputs within `receptive_field`.
LOCAL = [
    "unet",
    "unet_deep_supervision",
    "unet_dense",
    "unet_dilated",
    "unet_gated",
    "unet_hierarchical",
]


def tiny_config(name: str, dims: int, channels: int) -> dict:
    accepted = inspect.signature(ARCHITECTURES[name]).parameters
    kwargs = {k: v for k, v in TINY.items() if k in accepted}
    return architecture_config(name, dims=dims, in_channels=channels, **kwargs)


def every_output(network: torch.nn.Module, logits: torch.Tensor) -> torch.Tensor:
    """The main logits plus any auxiliary ones, summed into one scalar to differentiate."""
    return logits.sum() + sum(a.sum() for a in getattr(network, "auxiliary_logits", []))


@pytest.mark.parametrize("name", NETWORKS)
@pytest.mark.parametrize(
    ("dims", "shape"), [(2, (2, 1, 17, 23)), (2, (1, 3, 9, 5)), (3, (1, 1, 5, 9, 7))]
)
def test_architecture_keeps_odd_shapes_and_gets_finite_gradients(name, dims, shape):
    torch.manual_seed(0)
    network = build(name, **tiny_config(name, dims, shape[1]))
    for attribute in ("dims", "in_channels", "multiples", "receptive_field"):
        assert hasattr(network, attribute), attribute
    assert network.dims == dims and network.in_channels == shape[1]
    assert len(network.multiples) == len(network.receptive_field) == dims
    counts = torch.poisson(torch.full(shape, 3.0))
    logits = network(counts)
    assert logits.shape == counts.shape
    every_output(network, logits).backward()
    for parameter_name, parameter in network.named_parameters():
        assert parameter.grad is not None, parameter_name
        assert torch.isfinite(parameter.grad).all(), parameter_name


@pytest.mark.parametrize("name", NETWORKS)
def test_architecture_round_trips_through_a_model_folder(name, tmp_path):
    torch.manual_seed(1)
    config = tiny_config(name, 2, 1)
    network = build(name, **config).eval()
    spec = ModelSpec(kind="denoiser", method="gap", architecture=name, network=config)
    save_model_folder(tmp_path, network, spec, "card")
    loaded, loaded_spec = load_model_folder(tmp_path, torch.device("cpu"))
    assert loaded_spec.architecture == name and type(loaded) is type(network)
    counts = torch.poisson(torch.full((2, 1, 17, 23), 4.0))
    with torch.no_grad():
        torch.testing.assert_close(loaded(counts), network(counts), rtol=0, atol=0)


@pytest.mark.parametrize("name", LOCAL)
def test_local_variants_see_no_further_than_their_receptive_field(name):
    torch.manual_seed(2)
    network = build(name, **{**tiny_config(name, 2, 1), "depth": 2}).eval()
    radius = network.receptive_field[0]
    size = 2 * radius + 24
    image = torch.poisson(torch.full((1, 1, size, size), 2.0))
    changed = image.clone()
    changed[..., : size // 2 - radius - 1, :] += 50
    centre = size // 2
    with torch.no_grad():
        before, after = network(image), network(changed)
    assert torch.equal(before[..., centre, centre], after[..., centre, centre])
    assert not torch.equal(before, after)


def test_deep_supervision_adds_auxiliary_losses_in_training_only():
    torch.manual_seed(3)
    network = build("unet_deep_supervision", **tiny_config("unet_deep_supervision", 2, 1))
    objective = AuxiliaryObjective(
        type("Photon", (), {"loss": staticmethod(photon_loss)})(), network
    )
    counts = torch.poisson(torch.full((2, 1, 17, 23), 3.0))
    target = torch.rand(2, 1, 17, 23)
    logits = network(counts)
    assert len(network.auxiliary_logits) == network.depth - 1
    assert all(a.shape == logits.shape for a in network.auxiliary_logits)
    expected = (
        photon_loss(logits, target)
        + network.auxiliary_weight
        * torch.stack([photon_loss(a, target) for a in network.auxiliary_logits]).mean()
    )
    torch.testing.assert_close(objective.loss(logits, target), expected)
    network.eval()
    logits = network(counts)
    assert network.auxiliary_logits == []
    torch.testing.assert_close(objective.loss(logits, target), photon_loss(logits, target))


def test_gap_training_trains_the_auxiliary_heads(camera_counts):
    noisy, _ = camera_counts
    torch.manual_seed(0)
    untrained = build(
        "unet_deep_supervision",
        **architecture_config("unet_deep_supervision", **TINY_NETWORK, dims=2, in_channels=1),
    )
    denoiser = Denoiser.train(
        noisy,
        steps=4,
        seed=0,
        architecture="unet_deep_supervision",
        network=TINY_NETWORK,
        batch_size=2,
        patch_size=16,
    )
    heads = denoiser.network.auxiliary_heads
    assert not torch.equal(heads[0].weight.cpu(), untrained.auxiliary_heads[0].weight)
    assert denoiser.denoise(noisy[:19, :21]).shape == (19, 21)
    assert np.isfinite(denoiser.denoise(noisy[:19, :21])).all()


def test_psnr_embedding_reads_each_images_level_including_an_empty_canvas():
    torch.manual_seed(4)
    counts = torch.stack(
        [torch.zeros(1, 8, 8), torch.full((1, 8, 8), 0.5), torch.full((1, 8, 8), 40.0)]
    )
    levels = pseudo_psnr_db(counts)
    assert levels[0] == -float("inf")
    assert levels[1:].tolist() == pytest.approx([pseudo_psnr(c) for c in counts[1:]], abs=1e-5)
    embedding = PsnrEmbedding(8)(counts)
    assert embedding.shape == (3, 8) and torch.isfinite(embedding).all()
    assert not torch.allclose(embedding[1], embedding[2])
    layer = PsnrEmbedding(8)
    image = torch.poisson(torch.full((1, 1, 8, 8), 3.0))
    shuffled = image.flatten()[torch.randperm(64)].view(1, 1, 8, 8)
    torch.testing.assert_close(layer(shuffled), layer(image))
