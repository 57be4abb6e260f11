import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from gaptorch.curriculum import Curriculum
from gaptorch.methods.gap import (
    CHANNEL_PRIOR_PHOTONS,
    GapOptions,
    accumulate,
    clean_training_pair,
    log_mse_loss,
    mmse,
    mmse_from_logits,
    photon_loss,
    rescale_to_counts,
    sample_psnr,
    split_probability,
)
from gaptorch.models import build


def test_photon_loss_matches_direct_formula():
    logits = torch.randn(3, 1, 6, 5, dtype=torch.float64)
    target = torch.rand(3, 1, 6, 5, dtype=torch.float64)
    direct = []
    for z, t in zip(logits, target, strict=True):
        direct.append(-(z * t).mean() + t.mean() * torch.log(torch.exp(z).mean()))
    assert photon_loss(logits, target).item() == pytest.approx(
        torch.stack(direct).mean().item(), rel=1e-6
    )


def test_photon_loss_is_stable_for_huge_logits():
    logits = torch.full((1, 1, 4, 4), 1000.0)
    assert torch.isfinite(photon_loss(logits, torch.ones_like(logits)))


def test_photon_loss_is_minimal_at_the_target_distribution():
    target = torch.rand(1, 1, 8, 8) + 0.1
    best = photon_loss(torch.log(target), target)
    assert best < photon_loss(torch.zeros_like(target), target)
    assert best < photon_loss(torch.log(target) + 0.3 * torch.randn_like(target), target)


def test_log_mse_loss_is_the_mean_log_mse_of_the_mmse_estimate_in_mean_one_units():
    logits = torch.randn(3, 1, 6, 5, dtype=torch.float64)
    target = torch.rand(3, 1, 6, 5, dtype=torch.float64) + 0.2
    target = target / target.mean(dim=(1, 2, 3), keepdim=True)
    pixels = torch.ones_like(target)  # one photon per pixel: the estimate in mean-1 units
    estimate = mmse_from_logits(logits, pixels)
    direct = torch.log((estimate - target).pow(2).mean(dim=(1, 2, 3))).mean()
    assert log_mse_loss(logits, target).item() == pytest.approx(direct.item(), rel=1e-5)


def test_log_mse_loss_is_minus_the_mean_psnr_up_to_a_constant():
    target = torch.rand(2, 1, 8, 8) + 0.1
    target = target / target.mean(dim=(1, 2, 3), keepdim=True)
    logits = torch.log(target) + 0.2 * torch.randn_like(target)
    better = logits.clone()
    better[1] = torch.log(target[1]) + 0.1 * torch.randn_like(target[1])
    estimates = [mmse_from_logits(z, torch.ones_like(z)) for z in (logits, better)]
    psnr_gain = (
        sum(
            10 * torch.log10(((estimates[0][i] - target[i]) ** 2).mean())
            - 10 * torch.log10(((estimates[1][i] - target[i]) ** 2).mean())
            for i in range(2)
        )
        / 2
    )
    loss_drop = log_mse_loss(logits, target) - log_mse_loss(better, target)
    assert loss_drop.item() == pytest.approx(psnr_gain.item() * math.log(10) / 10, rel=1e-4)


def test_log_mse_loss_is_finite_and_minimal_at_the_target():
    target = torch.rand(1, 1, 8, 8) + 0.1
    target = target / target.mean()
    best = log_mse_loss(torch.log(target), target)
    assert torch.isfinite(best) and best < -10
    assert best < log_mse_loss(torch.log(target) + 0.01 * torch.randn_like(target), target)
    assert torch.isfinite(log_mse_loss(torch.full((1, 1, 4, 4), 1000.0), torch.zeros(1, 1, 4, 4)))


def test_gap_options_reject_an_unknown_loss():
    with pytest.raises(ValueError, match="loss must be one of photon, log_mse"):
        GapOptions(loss="l1")


def test_split_probability_hits_the_drawn_psnr_and_clamps():
    counts = torch.full((1000, 1, 4, 4), 100)
    p = split_probability(counts, 0.0, 10.0, torch.Generator().manual_seed(0))
    levels = 10 * torch.log10(p * 100)
    assert levels.min() >= -1e-4 and levels.max() <= 10 + 1e-4
    p = split_probability(counts, 30.0, 40.0, torch.Generator().manual_seed(0))
    assert torch.all(p == 0.99)


def tilted_cdf(u: np.ndarray, low: float, high: float, tilt: float) -> np.ndarray:
    """Exact CDF of pseudo-PSNRs with density proportional to 10**(tilt * u / 10)."""
    rate = tilt * math.log(10.0) / 10.0
    return np.expm1(rate * (u - low)) / math.expm1(rate * (high - low))


@pytest.mark.parametrize("tilt", [0.25, 0.5, -0.3])
def test_tilted_levels_follow_their_exact_distribution(tilt):
    low, high = -16.0, 32.0
    u = sample_psnr(40000, low, high, torch.Generator().manual_seed(0), tilt).numpy()
    edges = np.linspace(low, high, 25)
    expected = np.diff(tilted_cdf(edges, low, high, tilt)) * len(u)
    observed, _ = np.histogram(u, edges)
    assert stats.chisquare(observed, expected).pvalue > 1e-3
    bright = (u > 21.0).mean()  # above 128 photons/pixel
    assert bright == pytest.approx(1 - tilted_cdf(np.array(21.0), low, high, tilt), abs=0.01)
    assert (bright > 11 / 48) == (tilt > 0)


def test_no_tilt_draws_uniform_levels_from_the_same_stream():
    drawn = sample_psnr(1000, 2.0, 7.0, torch.Generator().manual_seed(3))
    uniform = 2.0 + 5.0 * torch.rand(1000, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(drawn, uniform)


@settings(max_examples=50, deadline=None)
@given(
    low=st.floats(-60, 40),
    width=st.floats(0.0, 80),
    tilt=st.floats(-3, 3),
    batch=st.integers(1, 64),
)
def test_tilted_levels_stay_in_range(low, width, tilt, batch):
    u = sample_psnr(batch, low, low + width, torch.Generator().manual_seed(0), tilt)
    assert u.shape == (batch,) and u.dtype == torch.float32
    assert torch.all(torch.isfinite(u))
    assert torch.all(u >= low - 1e-3) and torch.all(u <= low + width + 1e-3)


def test_tilted_clean_pairs_are_brighter_on_average():
    clean = torch.rand(256, 1, 8, 8) + 0.5
    means = {
        tilt: clean_training_pair(clean, -10.0, 30.0, torch.Generator().manual_seed(0), tilt)[0]
        .mean(dim=(1, 2, 3))
        .log10()
        .nan_to_num(neginf=-2.0)
        .mean()
        for tilt in (0.0, 0.5)
    }
    assert means[0.5] > means[0.0] + 0.5


def test_clean_pair_simulates_counts_at_the_level():
    clean = torch.rand(64, 1, 16, 16) + 0.5
    counts, target = clean_training_pair(clean, 10.0, 10.0, torch.Generator().manual_seed(0))
    assert counts.mean().item() == pytest.approx(10.0, rel=0.05)
    torch.testing.assert_close(target.mean(dim=(1, 2, 3)), torch.ones(64))


def test_mmse_sums_to_the_input_photon_count():
    network = build("unet", depth=2, start_filters=4, levels=3).eval()
    counts = torch.poisson(torch.full((2, 1, 13, 21), 3.0))
    with torch.no_grad():
        estimate = mmse(network, counts)
    torch.testing.assert_close(estimate.sum(dim=(1, 2, 3)), counts.sum(dim=(1, 2, 3)))


def test_mmse_takes_the_colour_balance_from_the_counts_once_they_outnumber_the_prior():
    # The network puts half the photons in each channel; the counts say 1:3.
    logits = torch.zeros(1, 2, 8, 8)
    counts = torch.cat([torch.full((1, 1, 8, 8), 250.0), torch.full((1, 1, 8, 8), 750.0)], 1)
    channel_totals = mmse_from_logits(logits, counts).sum(dim=(2, 3))
    prior = CHANNEL_PRIOR_PHOTONS * 0.5
    total = 64_000.0 + CHANNEL_PRIOR_PHOTONS
    expected = 64_000.0 * torch.tensor([[16_000.0 + prior, 48_000.0 + prior]]) / total
    torch.testing.assert_close(channel_totals, expected)


def test_rescale_to_counts_keeps_the_images_colour_balance_where_nothing_was_counted():
    image = torch.tensor([1.0, 3.0]).view(1, 2, 1, 1).expand(1, 2, 4, 4)
    torch.testing.assert_close(rescale_to_counts(image, torch.zeros(1, 2, 4, 4)), image * 0)
    few = torch.zeros(1, 2, 4, 4)
    few[0, 0, 0, 0] = 1.0  # one photon, in the first channel: the prior still decides
    totals = rescale_to_counts(image, few).sum(dim=(2, 3))
    prior = torch.tensor([[0.25, 0.75]]) * CHANNEL_PRIOR_PHOTONS
    torch.testing.assert_close(totals, (torch.tensor([[1.0, 0.0]]) + prior) / 101.0)


@settings(max_examples=40, deadline=None)
@given(
    channels=st.integers(1, 4),
    side=st.integers(1, 6),
    mean=st.floats(0.0, 1e4),
    seed=st.integers(0, 2**16),
)
def test_rescale_to_counts_preserves_each_images_photon_total(channels, side, mean, seed):
    generator = torch.Generator().manual_seed(seed)
    image = torch.rand(2, channels, side, side, generator=generator) + 1e-3
    counts = torch.poisson(torch.full((2, channels, side, side), mean), generator=generator)
    rescaled = rescale_to_counts(image, counts)
    assert torch.isfinite(rescaled).all() and (rescaled >= 0).all()
    torch.testing.assert_close(
        rescaled.sum(dim=(1, 2, 3)), counts.sum(dim=(1, 2, 3)), rtol=1e-5, atol=1e-3
    )
    if channels == 1:  # plain scaling to the total
        totals = counts.sum(dim=(1, 2, 3), keepdim=True)
        torch.testing.assert_close(
            rescaled, image / image.sum(dim=(1, 2, 3), keepdim=True) * totals
        )


@pytest.mark.parametrize("max_psnr", [0.0, 12.0])
def test_accumulate_stops_just_past_the_requested_psnr(max_psnr):
    network = build("unet", depth=2, start_filters=4, levels=3).eval()
    beta = 0.2
    with torch.no_grad():
        result = accumulate(
            network, torch.zeros(3, 1, 12, 12), max_psnr=max_psnr, beta=beta, seed=0
        )
    reached = 10 * torch.log10(result.photons.mean(dim=(1, 2, 3)))
    assert torch.all(reached > max_psnr)
    # One step adds about beta of the photons (Poisson spread allowed).
    assert torch.all(reached < max_psnr + 10 * math.log10(1 + 2 * beta) + 0.5)


def test_accumulate_respects_photon_and_step_limits():
    network = build("unet", depth=2, start_filters=4, levels=3).eval()
    with torch.no_grad():
        capped = accumulate(network, torch.zeros(2, 1, 8, 8), max_psnr=40, max_photons=500, seed=0)
        short = accumulate(network, torch.zeros(2, 1, 8, 8), max_psnr=40, max_steps=5, seed=0)
    assert torch.all(capped.photons.sum(dim=(1, 2, 3)) < 500 * 1.3)
    assert torch.all(short.steps == 5)


def test_accumulate_same_seed_same_samples_and_keeps_the_start():
    network = build("unet", depth=2, start_filters=4, levels=3).eval()
    start = torch.poisson(torch.full((2, 1, 10, 10), 1.0))
    with torch.no_grad():
        a = accumulate(network, start, max_psnr=8, seed=3, trajectory_every=4)
        b = accumulate(network, start, max_psnr=8, seed=3)
        c = accumulate(network, start, max_psnr=8, seed=4)
    assert torch.equal(a.photons, b.photons)
    assert not torch.equal(a.photons, c.photons)
    assert torch.all(a.photons >= start)
    assert torch.equal(a.trajectory[0], start)


def test_curriculum_widens_phase_by_phase():
    curriculum = Curriculum()
    assert curriculum.phases == 9
    ranges = [curriculum.range_at(step, 900) for step in range(0, 900, 100)]
    assert ranges[0] == (24.0, 32.0)
    assert ranges[-1] == (-40.0, 32.0)
    assert [r[0] for r in ranges] == [24.0 - 8 * k for k in range(9)]
    assert Curriculum(steps_per_phase=10).range_at(10_000, 20) == (-40.0, 32.0)


def test_gap_options_choose_schedule():
    assert GapOptions().schedule((3.0, 6.0)) == (3.0 - 5.0, 6.0)
    assert GapOptions(auto_width=10).schedule((3.0, 3.0)) == (-7.0, 3.0)
    assert GapOptions(supervision="clean").schedule((3.0, 6.0)) == (-40.0, 32.0)
    assert isinstance(GapOptions(curriculum=True).schedule((3.0, 6.0)), Curriculum)
    with pytest.raises(ValueError, match="not both"):
        GapOptions(psnr_range=(0, 1), curriculum=True)
    with pytest.raises(ValueError, match="level_tilt must be a finite number"):
        GapOptions(level_tilt=math.nan)
