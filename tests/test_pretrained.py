"""Bundled models: listed, loaded offline, checksummed, and working; the demo runs."""

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from gaptorch import Denoiser, list_models, psnr
from gaptorch.cli.demo import simulated_counts
from gaptorch.cli.main import main
from gaptorch.pretrained import BUNDLED, DEFAULTS, HERE, BundledModel, sha256_of

DENOISERS = [name for name, entry in BUNDLED.items() if entry.kind == "denoiser"]


def test_the_default_denoiser_is_bundled_and_listed():
    assert DEFAULTS["denoiser"] in list_models()
    assert set(list_models()) == set(BUNDLED)


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_every_bundled_model_matches_its_recorded_checksum_and_size(name):
    folder = HERE / BUNDLED[name].folder
    assert sha256_of(folder / "model.safetensors") == BUNDLED[name].sha256
    assert sum(p.stat().st_size for p in folder.iterdir()) < 15 * 2**20
    assert "## Quality" in (folder / "README.md").read_text()


@pytest.mark.parametrize("name", DENOISERS)
def test_every_bundled_denoiser_loads_offline_and_denoises_an_odd_sized_image(name):
    denoiser = Denoiser.from_pretrained(name, device="cpu")
    shape = (37, 29, 3) if denoiser.channels == 3 else (37, 29)
    rate = np.full(shape, 4.0)
    rate[10:25, 8:20] = 20.0
    noisy = np.random.default_rng(0).poisson(rate).astype(np.uint16)
    estimate = denoiser.denoise(noisy)
    assert estimate.shape == noisy.shape and estimate.dtype == np.float32
    assert np.isclose(estimate.sum(), noisy.sum(), rtol=1e-4)
    # measured +2.5 dB for gap-fluo-2d, +6.6 for gap-photo-rgb
    assert psnr(estimate, rate) > psnr(noisy, rate) + 2


def test_a_tampered_bundled_model_is_refused_with_a_clear_error(tmp_path, monkeypatch):
    name = DEFAULTS["denoiser"]
    entry = BUNDLED[name]
    copy = tmp_path / name
    shutil.copytree(HERE / entry.folder, copy)
    weights = bytearray((copy / "model.safetensors").read_bytes())
    weights[-1] ^= 0xFF
    (copy / "model.safetensors").write_bytes(bytes(weights))
    monkeypatch.setitem(
        BUNDLED, name, BundledModel(str(copy), entry.sha256, entry.kind, entry.summary)
    )
    with pytest.raises(ValueError, match="failed its checksum"):
        Denoiser.from_pretrained(name, device="cpu")


def test_an_unknown_model_name_lists_the_bundled_ones():
    with pytest.raises(ValueError, match=DEFAULTS["denoiser"]):
        Denoiser.from_pretrained("no-such-model", device="cpu")


def test_gap_demo_denoises_the_sample_with_the_default_model(tmp_path):
    result = CliRunner().invoke(main, ["demo", "-o", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    noisy_db, denoised_db = (
        float(part.split(" dB")[0])
        for part in result.output.split("PSNR noisy ")[1].split("-> denoised ")
    )
    assert denoised_db > noisy_db + 5  # measured +6.8 dB for gap-fluo-2d at 2 photons
    assert {p.name for p in (tmp_path / "demo").iterdir()} == {
        "denoised.tif",
        "noisy.tif",
        "comparison.png",
    }


def test_simulated_counts_have_the_requested_mean():
    clean = np.linspace(0, 10, 4096).reshape(64, 64)
    rate, noisy = simulated_counts(clean, 3.0, seed=0)
    assert rate.mean() == pytest.approx(3.0) and abs(noisy.mean() - 3.0) < 0.1


def _small_recipe():
    from gaptorch.pretrained.recipes import Recipe

    clean = [np.random.default_rng(0).uniform(1, 5, (48, 48))]
    return Recipe("small", "YX", lambda split: clean, "noise", depth=2, start_filters=4)


def test_a_recipe_fine_tune_stage_starts_from_stage_one(tmp_path):
    from gaptorch.pretrained.recipes import CURRICULUM, FineTune, model_card, train

    recipe = _small_recipe()
    stage = FineTune(3, level_tilt=0.5, amp=False)
    tuned = train(recipe, steps=2, work=tmp_path, fine_tune=(stage,))
    tuned.save_pretrained(tmp_path / "tuned")
    card = model_card(recipe, tmp_path / "tuned", hardware="here")
    command = (
        "recipes small --steps 2 --fine-tune-steps 3 --level-tilt 0.5 --fine-tune-precision fp32`"
    )
    assert command in card and "stage 1: 2 steps over the curriculum" in card
    assert "Stage 2, fine-tune (`FineTune`): 3 steps from the stage-1 weights over [-16.0" in card
    stage1 = tmp_path / "small-clean-2-model"
    assert Denoiser.from_pretrained(stage1).spec.training["steps"] == 2
    assert tuned.spec.training["init"]["model"] == str(stage1)
    assert tuned.spec.training["init"]["steps"] == 2
    assert tuned.spec.training["steps"] == 3
    assert tuned.spec.method_config["level_tilt"] == 0.5
    low, high = tuned.spec.method_config["psnr_range"]
    assert (low, high) == (CURRICULUM["min_psnr"], CURRICULUM["start_high"])


def test_a_recipe_card_states_the_measured_network_options(tmp_path):
    from dataclasses import replace

    from gaptorch.pretrained.recipes import model_card, train

    recipe = replace(_small_recipe(), contrast_input=True, contrast_input_measured="with 2 dB more")
    denoiser = train(recipe, steps=1, work=tmp_path)
    assert denoiser.spec.network["contrast_input"] is True
    denoiser.save_pretrained(tmp_path / "model")
    card = model_card(recipe, tmp_path / "model", hardware="here")
    assert "With the local-contrast input (`contrast_input`, " in card
    assert "`gaptorch.models.unet.LocalContrast`), chosen by measurement: with 2 dB more." in card
    assert "log skip" not in card


def test_a_recipe_start_model_needs_a_fine_tune_stage(tmp_path):
    from gaptorch.pretrained.recipes import train

    with pytest.raises(ValueError, match="give fine_tune"):
        train(_small_recipe(), steps=2, start=tmp_path)


def test_a_recipe_chains_its_fine_tune_stages_and_its_card_lists_each(tmp_path):
    from dataclasses import replace

    from gaptorch.pretrained.recipes import FineTune, model_card, train

    stages = (
        FineTune(2),
        FineTune(
            1,
            lr=1e-4,
            psnr_range=(-10.0, 30.0),
            seed=5,
            amp=False,
            loss="log_mse",
            patch_size=32,
            batch_size=2,
        ),
    )
    recipe = replace(_small_recipe(), steps=2, fine_tune=stages)
    tuned = train(recipe, work=tmp_path, fine_tune=stages)
    second = tmp_path / "small-clean-2-fine-2-lr0.0003-tilt0-model"
    assert tuned.spec.training["init"]["model"] == str(second)
    first = tmp_path / "small-clean-2-model"
    assert tuned.spec.training["init"]["init"]["model"] == str(first)
    assert tuple(tuned.spec.method_config["psnr_range"]) == (-10.0, 30.0)
    assert tuned.spec.training["config"]["seed"] == 5
    assert tuned.spec.training["config"]["amp"] is False
    assert tuned.spec.method_config["loss"] == "log_mse"
    assert (
        tuned.spec.training["config"]["patch_size"],
        tuned.spec.training["config"]["batch_size"],
    ) == (32, 2)
    assert (
        tmp_path / "small-clean-2-fine-2-lr0.0003-tilt0-fine-1-lr0.0001-tilt0-psnr-10_30-seed5-fp32"
        "-log_mse-patch32x2"
    ).is_dir()
    tuned.save_pretrained(tmp_path / "tuned")
    card = model_card(recipe, tmp_path / "tuned", hardware="here")
    assert "`python -m gaptorch.pretrained.recipes small` (" in card and "; measured" not in card
    assert "Stage 2, fine-tune (`FineTune`): 2 steps from the stage-1 weights over [-16.0" in card
    assert (
        "Stage 3, fine-tune (`FineTune`): 1 steps from the stage-2 weights over [-10.0, 30.0]"
        in card
    )
    assert (
        card.count(
            ", seed 5, in float32 (no bf16 autocast), loss `log_mse`, batch 2 of 32x32 patches."
        )
        == 1
    )
    assert card.count("Trained in ") == 1 and " + " in card.split("Trained in ")[1]

    # The last stage from the stage-2 model is the recipe's chain; from stage 1 it is not.
    for start, command in ((second, "recipes small`"), (first, f"recipes small --start {first}`")):
        again = train(recipe, work=tmp_path / start.name, fine_tune=stages[-1:], start=start)
        again.save_pretrained(tmp_path / f"again-{start.name}")
        assert command in model_card(recipe, tmp_path / f"again-{start.name}", hardware="here")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], "recipe"),
        (["--fine-tune-steps", "0"], ()),
        (["--fine-tune-steps", "7", "--level-tilt", "0.5"], (7, 0.5, None)),
        (["--fine-tune-psnr", "-12", "28"], (None, None, (-12.0, 28.0))),
        (["--fine-tune-precision", "bf16"], (None, None, None, True)),
        (["--fine-tune-precision", "fp32"], (None, None, None, False)),
        (["--fine-tune-loss", "photon"], (None, None, None, None, "photon")),
        (["--fine-tune-patches", "96", "8"], (None, None, None, None, None, 96, 8)),
    ],
)
@pytest.mark.parametrize("start", [[], ["--start", "somewhere"]])
def test_the_recipe_command_line_overrides_the_last_fine_tune_stage(argv, expected, start):
    from gaptorch.pretrained.recipes import RECIPES, argument_parser, fine_tune_of

    recipe = RECIPES["gap-fluo-2d"]
    stages = fine_tune_of(recipe, argument_parser().parse_args(["gap-fluo-2d", *argv, *start]))
    if expected == "recipe":
        assert stages == (recipe.fine_tune[-1:] if start else recipe.fine_tune)
    elif expected == ():
        assert stages == ()
    else:
        assert len(stages) == (1 if start else len(recipe.fine_tune))
        assert stages[:-1] == (() if start else recipe.fine_tune[:-1])
        last, recipes = stages[-1], recipe.fine_tune[-1]
        fields = ("steps", "level_tilt", "psnr_range", "amp", "loss", "patch_size", "batch_size")
        wanted = tuple(getattr(recipes, name) for name in fields)
        expected = expected + (None,) * (len(wanted) - len(expected))
        assert tuple(getattr(last, name) for name in fields) == tuple(
            value if value is not None else default
            for value, default in zip(expected, wanted, strict=True)
        )
        assert (last.lr, last.seed) == (recipes.lr, recipes.seed)


def test_the_recipe_command_writes_a_model_and_reports_its_stages_training_time(
    tmp_path, monkeypatch, capsys
):
    from gaptorch.pretrained import recipes

    monkeypatch.setitem(recipes.RECIPES, "small", _small_recipe())
    out = tmp_path / "model"
    argv = ["small", "--steps", "2", "--fine-tune-steps", "3", "--out", str(out)]
    recipes.main([*argv, "--work", str(tmp_path / "work"), "--hardware", "here"])
    report = json.loads(capsys.readouterr().out)
    training = Denoiser.from_pretrained(out).spec.training
    seconds = training["seconds"] + training["init"]["seconds"]
    assert report["training_minutes"] == round(seconds / 60, 1)
    assert set(report["eval"]) == {str(level) for level in recipes.LEVELS}
    assert "(here)." in (out / "README.md").read_text()
