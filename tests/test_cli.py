import json
import sys
import types

import numpy as np
import pytest
import skimage.io
import tifffile
from click.testing import CliRunner
from conftest import TINY_NETWORK
from image_files import counts, metadata_fields, sha256, write_imagej, write_ome, write_plain

from gaptorch import Denoiser, Generator
from gaptorch.cli.main import main


def gap(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def stderr_lines(result):
    return [line for line in result.stderr.splitlines() if line.strip()]


def test_denoise_a_folder_keeps_metadata_structure_and_inputs(tiny_model_dir, tmp_path):
    inputs = tmp_path / "raw"
    (inputs / "sub").mkdir(parents=True)
    files = [
        write_imagej(inputs / "hyperstack.tif"),
        write_ome(inputs / "sub" / "cells.ome.tif"),
        write_plain(inputs / "sub" / "plain.tif"),
    ]
    hashes = [sha256(f) for f in files]
    result = gap("denoise", inputs, "-o", tmp_path / "out", "--model", tiny_model_dir)
    assert result.exit_code == 0, result.output
    outputs = [tmp_path / "out" / f.relative_to(inputs) for f in files]
    for source, output in zip(files, outputs, strict=True):
        assert metadata_fields(output) == metadata_fields(source)
    assert [sha256(f) for f in files] == hashes
    assert "gap denoise: 3 done, 0 skipped, 0 failed of 3 files" in result.stderr
    assert "megapixels/s" in result.stderr
    assert not list((tmp_path / "out").rglob(".*"))


def test_denoise_with_symmetries_matches_the_library_and_is_recorded(tiny_model_dir, tmp_path):
    source = write_plain(tmp_path / "a.tif", data=counts((40, 56)))
    result = gap(
        "denoise", source, "-o", tmp_path / "out", "--model", tiny_model_dir, "--symmetries", 8
    )
    assert result.exit_code == 0, result.output
    expected = Denoiser.from_pretrained(tiny_model_dir).denoise(counts((40, 56)), symmetries=8)
    np.testing.assert_allclose(tifffile.imread(tmp_path / "out" / "a.tif"), expected, rtol=1e-5)
    assert '"symmetries": 8' in tifffile.TiffFile(tmp_path / "out" / "a.tif").pages[0].description
    refused = gap("denoise", source, "-o", tmp_path / "o2", "--symmetries", 3)
    assert refused.exit_code == 2 and "'3' is not one of" in refused.stderr


def test_rerun_skips_what_is_done(tiny_model_dir, tmp_path):
    write_plain(tmp_path / "a.tif")
    first = gap("denoise", tmp_path / "a.tif", "-o", tmp_path / "out", "--model", tiny_model_dir)
    before = sha256(tmp_path / "out" / "a.tif")
    again = gap("denoise", tmp_path / "a.tif", "-o", tmp_path / "out", "--model", tiny_model_dir)
    assert first.exit_code == again.exit_code == 0
    assert "1 skipped" in again.stderr and sha256(tmp_path / "out" / "a.tif") == before
    forced = gap(
        "denoise",
        tmp_path / "a.tif",
        "-o",
        tmp_path / "out",
        "--model",
        tiny_model_dir,
        "--overwrite",
        "--output-dtype",
        "uint16",
        "-q",
    )
    assert forced.exit_code == 0 and forced.stderr == ""
    assert tifffile.imread(tmp_path / "out" / "a.tif").dtype == np.uint16


def test_interrupted_batch_resumes_where_it_stopped(tiny_model_dir, tmp_path, monkeypatch):
    (tmp_path / "in").mkdir()
    for name in "abc":
        write_plain(tmp_path / "in" / f"{name}.tif")
    real = Denoiser.denoise
    calls = {"n": 0}

    def interrupted_in_second_file(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 7:  # five planes per file: the second plane of b.tif
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Denoiser, "denoise", interrupted_in_second_file)
    stopped = gap(
        "denoise",
        tmp_path / "in",
        "-o",
        tmp_path / "out",
        "--model",
        tiny_model_dir,
        "--batch-size",
        1,
    )
    assert stopped.exit_code != 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.tif"]
    monkeypatch.setattr(Denoiser, "denoise", real)
    resumed = gap("denoise", tmp_path / "in", "-o", tmp_path / "out", "--model", tiny_model_dir)
    assert resumed.exit_code == 0
    assert "2 done, 1 skipped, 0 failed of 3 files" in resumed.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.tif", "b.tif", "c.tif"]


def test_tiled_and_untiled_agree(tiny_model_dir, tmp_path):
    write_plain(tmp_path / "big.tif", data=counts((1, 200, 180)))
    whole = gap(
        "denoise", tmp_path / "big.tif", "-o", tmp_path / "whole", "--model", tiny_model_dir
    )
    tiled = gap(
        "denoise",
        tmp_path / "big.tif",
        "-o",
        tmp_path / "tiled",
        "--model",
        tiny_model_dir,
        "--tile",
        96,
    )
    assert whole.exit_code == tiled.exit_code == 0
    a, b = (
        tifffile.imread(tmp_path / "whole" / "big.tif"),
        tifffile.imread(tmp_path / "tiled" / "big.tif"),
    )
    assert np.abs(a - b).max() / np.abs(a).max() < 1e-4


def _bad_input(kind, tmp_path):
    """(input path, extra arguments) for each kind of bad input."""
    path = tmp_path / "in.tif"
    if kind == "missing":
        return tmp_path / "missing.tif", []
    if kind == "text":
        path.write_text("hello, I am not a TIFF\n")
    elif kind == "truncated":
        full = write_plain(tmp_path / "full.tif").read_bytes()
        path.write_bytes(full[: len(full) * 2 // 3])
    elif kind in ("nan", "inf"):
        data = counts((2, 32, 32)).astype(np.float32)
        data[0, 3, 4] = np.nan if kind == "nan" else np.inf
        write_plain(path, data=data)
    elif kind == "negative":
        write_plain(path, data=counts((2, 32, 32)).astype(np.int16) - 2)
    elif kind == "non-integer":
        write_plain(path, data=counts((2, 32, 32)).astype(np.float32) * 0.5 + 0.25)
    elif kind == "empty":
        with pytest.warns(UserWarning):
            tifffile.imwrite(path, np.zeros((0, 8, 8), np.uint16))
    elif kind == "one-pixel":
        tifffile.imwrite(path, np.ones((1, 1), np.uint16))
    elif kind == "axes-letter":
        write_plain(path)
        return path, ["--axes", "QYX"]
    elif kind == "axes-length":
        write_plain(path)
        return path, ["--axes", "ZTYX"]
    return path, []


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("missing", "missing.tif: no such file or directory"),
        ("text", "in.tif: cannot read image (not a TIFF file"),
        ("truncated", "in.tif: cannot read image (the file is truncated"),
        ("nan", "in.tif: image contains NaN or infinite values"),
        ("inf", "in.tif: image contains NaN or infinite values"),
        (
            "negative",
            "in.tif: image is not photon counts (negative values); "
            "pass --gain and --offset, or --gain auto",
        ),
        (
            "non-integer",
            "in.tif: image is not photon counts (non-integer values); pass --gain and --offset",
        ),
        ("empty", "in.tif: image is empty"),
        ("one-pixel", "in.tif: image has a single pixel"),
        ("axes-letter", "--axes: axes 'QYX' has unknown letter(s) Q; use letters of STCZYX"),
        ("axes-length", "axes 'ZTYX' has 4 letters for an image with 3 dimensions"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(tiny_model_dir, tmp_path, kind, message):
    path, extra = _bad_input(kind, tmp_path)
    result = gap("denoise", path, "-o", tmp_path / "out", "--model", tiny_model_dir, *extra)
    assert result.exit_code == 2
    lines = stderr_lines(result)
    assert len(lines) == 1, result.stderr
    assert message in lines[0] and lines[0].startswith("Error: ")
    assert "Traceback" not in result.output
    assert not (tmp_path / "out" / "in.tif").exists()


def test_wrong_channel_count_for_the_model(rgb_model_dir, tmp_path):
    write_plain(tmp_path / "grey.tif")
    result = gap("denoise", tmp_path / "grey.tif", "-o", tmp_path / "out", "--model", rgb_model_dir)
    assert result.exit_code == 2
    assert stderr_lines(result) == [
        f"Error: {tmp_path / 'grey.tif'}: the model takes 3 channels but axes 'TYX' have no C"
    ]


def test_one_bad_file_does_not_stop_the_batch(tiny_model_dir, tmp_path):
    (tmp_path / "in").mkdir()
    write_plain(tmp_path / "in" / "a.tif")
    (tmp_path / "in" / "b.tif").write_text("garbage")
    write_plain(tmp_path / "in" / "c.tif")
    result = gap("denoise", tmp_path / "in", "-o", tmp_path / "out", "--model", tiny_model_dir)
    assert result.exit_code == 2
    assert "2 done, 0 skipped, 1 failed of 3 files" in result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.tif", "c.tif"]


def test_debug_shows_the_traceback(tiny_model_dir, tmp_path):
    (tmp_path / "in.tif").write_text("garbage")
    result = gap(
        "--debug", "denoise", tmp_path / "in.tif", "-o", tmp_path / "out", "--model", tiny_model_dir
    )
    assert result.exit_code == 2 and "Traceback" in result.stderr
    late = gap(
        "denoise", tmp_path / "in.tif", "-o", tmp_path / "out", "--model", tiny_model_dir, "--debug"
    )
    assert "Traceback" in late.stderr


def test_output_over_input_is_refused_before_any_work(tiny_model_dir, tmp_path):
    write_plain(tmp_path / "a.tif")
    before = sha256(tmp_path / "a.tif")
    result = gap("denoise", tmp_path, "-o", tmp_path, "--model", tiny_model_dir)
    assert result.exit_code == 2 and "would overwrite the input" in result.stderr
    assert sha256(tmp_path / "a.tif") == before


def test_without_a_model_the_bundled_default_denoises(tmp_path):
    write_plain(tmp_path / "a.tif")
    result = gap("denoise", tmp_path / "a.tif", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    assert (
        "gap-fluo-2d"
        in json.loads(tifffile.TiffFile(tmp_path / "out" / "a.tif").pages[0].description)[
            "gaptorch"
        ]["model"]
    )


def test_a_damaged_default_model_is_one_clean_error_line(tmp_path, monkeypatch):
    from gaptorch.pretrained import BUNDLED, BundledModel

    entry = BUNDLED["gap-fluo-2d"]
    monkeypatch.setitem(
        BUNDLED, "gap-fluo-2d", BundledModel(entry.folder, "0" * 64, entry.kind, entry.summary)
    )
    write_plain(tmp_path / "a.tif")
    result = gap("denoise", tmp_path / "a.tif", "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert stderr_lines(result)[-1].startswith(
        "Error: bundled model 'gap-fluo-2d' failed its checksum"
    )


def test_dry_run_lists_and_writes_nothing(tiny_model_dir, tmp_path):
    write_plain(tmp_path / "a.tif")
    result = gap(
        "denoise",
        tmp_path / "a.tif",
        "-o",
        tmp_path / "out",
        "--model",
        tiny_model_dir,
        "--dry-run",
        "--suffix",
        "_dn",
    )
    assert result.exit_code == 0
    assert "a_dn.tif (5x40x48 uint16 TYX; to do)" in result.stdout
    assert not (tmp_path / "out").exists()


def test_output_dtype_is_recorded(tiny_model_dir, tmp_path):
    write_imagej(tmp_path / "a.tif", data=counts((2, 40, 48), dtype=np.uint8), axes="TYX")
    result = gap(
        "denoise",
        tmp_path / "a.tif",
        "-o",
        tmp_path / "out",
        "--model",
        tiny_model_dir,
        "--output-dtype",
        "uint16",
    )
    assert result.exit_code == 0
    with tifffile.TiffFile(tmp_path / "out" / "a.tif") as tiff:
        info = tiff.imagej_metadata["Info"]
        assert tiff.series[0].dtype == np.uint16
    assert '"scale": 257.0' in info and '"clipped_high": 0' in info
    assert f"gaptorch.model = {tiny_model_dir}" in info


def test_auto_calibration_is_reported(tiny_model_dir, tmp_path):
    camera = (counts((2, 64, 64), mean=4.0, smooth=True) * 3.0 + 50.0).astype(np.float32)
    write_plain(tmp_path / "cam.tif", data=camera)
    result = gap(
        "denoise",
        tmp_path / "cam.tif",
        "-o",
        tmp_path / "out",
        "--model",
        tiny_model_dir,
        "--gain",
        "auto",
    )
    assert result.exit_code == 0, result.output
    assert "(estimated gain and offset)" in result.stderr


def test_photos_are_denoised_to_tiff(tiny_model_dir, tmp_path):
    skimage.io.imsave(tmp_path / "p.png", counts((40, 50), dtype=np.uint8), check_contrast=False)
    result = gap("denoise", tmp_path / "p.png", "-o", tmp_path / "out", "--model", tiny_model_dir)
    assert result.exit_code == 0
    assert tifffile.imread(tmp_path / "out" / "p.tif").shape == (40, 50)


def test_sample_writes_samples_mean_and_std(tiny_model_dir, tmp_path):
    write_plain(tmp_path / "a.tif", data=counts((2, 24, 32)))
    result = gap(
        "sample",
        tmp_path / "a.tif",
        "-n",
        2,
        "-o",
        tmp_path / "out",
        "--model",
        tiny_model_dir,
        "--max-psnr",
        8,
        "--seed",
        0,
    )
    assert result.exit_code == 0, result.output
    assert tifffile.imread(tmp_path / "out" / "a_samples.tif").shape == (2, 2, 24, 32)
    assert tifffile.imread(tmp_path / "out" / "a_mean.tif").shape == (2, 24, 32)
    assert (tmp_path / "out" / "a_std.tif").exists()


def test_info_shows_axes_pixel_size_and_calibration(tmp_path):
    write_imagej(tmp_path / "h.tif")
    result = gap("info", tmp_path / "h.tif")
    assert result.exit_code == 0
    assert "shape: 3 x 4 x 40 x 48  dtype: uint16  axes: TZYX" in result.stdout
    assert (
        "pixel size: 0.217001 x 0.217003 micron; Z spacing 0.7; frame interval 1.5" in result.stdout
    )
    assert "estimated calibration:" in result.stdout and "photon counts: yes" in result.stdout
    as_json = json.loads(gap("info", tmp_path / "h.tif", "--json").stdout)
    assert as_json["axes"] == "TZYX" and as_json["format"] == "imagej"
    assert gap("info", tmp_path / "nope.tif").exit_code == 2


def test_models_lists_folders_and_prints_cards(tiny_model_dir):
    listing = gap("models", "--path", tiny_model_dir.parent)
    assert listing.exit_code == 0
    assert "ddpm-fashion: generator" in listing.stdout
    assert f"{tiny_model_dir}: denoiser gap unet (2D, 200 steps)" in listing.stdout
    card = gap("models", tiny_model_dir)
    assert card.exit_code == 0 and card.stdout.startswith("# ")
    unknown = gap("models", "no-such-model")
    assert unknown.exit_code == 2 and "neither a model folder nor a bundled model" in unknown.stderr


def test_bench_runs_a_benchmark_module_or_says_it_is_missing(monkeypatch):
    seen = {}
    fake = types.ModuleType("gaptorch.benchmarks.throughput")
    fake.main = lambda argv=None: seen.setdefault("argv", argv) and 0
    monkeypatch.setitem(sys.modules, "gaptorch.benchmarks.throughput", fake)
    result = gap("bench", "throughput", "--sizes", "64", "--help")
    assert result.exit_code == 0 and seen["argv"] == ["--sizes", "64", "--help"]
    monkeypatch.setitem(sys.modules, "gaptorch.benchmarks.quality", None)  # an import of it fails
    missing = gap("bench", "quality")
    assert missing.exit_code == 2
    assert stderr_lines(missing) == [
        "Error: benchmark 'quality' is not available in this installation "
        "(gaptorch.benchmarks.quality is missing)"
    ]


TINY_FLAGS = ["--patch-size", 16, "--batch-size", 2, "--seed", 0]
TINY_FLAGS += [
    item
    for option in ("depth=2", "start_filters=4", "levels=4")
    for item in ("--network-option", option)
]


def test_train_writes_a_model_folder_that_denoise_loads(tmp_path):
    (tmp_path / "data").mkdir()
    write_plain(tmp_path / "data" / "a.tif", data=counts((4, 64, 64)))
    model = tmp_path / "model"
    result = gap(
        "train",
        tmp_path / "data",
        "-o",
        model,
        "--steps",
        3,
        "--psnr-range",
        -5,
        10,
        *TINY_FLAGS,
        "-q",
    )
    assert result.exit_code == 0, result.output
    config = json.loads((model / "config.json").read_text())
    assert config["network"]["start_filters"] == 4 and config["method_config"]["psnr_range"] == [
        -5.0,
        10.0,
    ]
    assert (model / "checkpoints" / "checkpoint.pt").exists()
    again = gap("train", tmp_path / "data", "-o", model, "--steps", 3)
    assert again.exit_code == 2 and "already holds a model" in again.stderr
    resumed = gap(
        "train", tmp_path / "data", "-o", model, "--steps", 5, *TINY_FLAGS, "--resume", "-q"
    )
    assert resumed.exit_code == 0, resumed.output
    denoised = gap("denoise", tmp_path / "data", "-o", tmp_path / "out", "--model", model)
    assert denoised.exit_code == 0


def test_train_with_epochs_a_config_file_and_the_curriculum(tmp_path):
    write_plain(tmp_path / "a.tif", data=counts((2, 32, 32)))
    config = tmp_path / "run.json"
    config.write_text(
        json.dumps({"network": TINY_NETWORK, "patch_size": 16, "batch_size": 4, "lr": 0.01})
    )
    result = gap(
        "train",
        tmp_path / "a.tif",
        "-o",
        tmp_path / "m",
        "--epochs",
        2,
        "--config",
        config,
        "--curriculum",
    )
    assert result.exit_code == 0, result.output
    # 2 epochs x 2 x 32 x 32 pixels / (16 x 16 pixels per patch x 4 patches per step) = 4 steps
    assert "(denoiser, gap, 4 steps on 1 files)" in result.stderr
    assert (
        json.loads((tmp_path / "m" / "config.json").read_text())["method_config"]["curriculum"]
        is True
    )


def test_train_fine_tunes_a_model_with_tilted_levels(tmp_path, tiny_model_dir):
    write_plain(tmp_path / "a.tif", data=counts((2, 32, 32)))
    flags = ["--patch-size", 16, "--batch-size", 2, "--seed", 0, "-q"]
    result = gap(
        "train", tmp_path / "a.tif", "-o", tmp_path / "m", "--steps", 2, "--init",
        tiny_model_dir, "--level-tilt", 0.5, "--loss", "log_mse", *flags,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["training"]["init"]["model"] == str(tiny_model_dir)
    assert config["training"]["init"]["steps"] == 200
    assert config["method_config"]["level_tilt"] == 0.5
    assert config["method_config"]["loss"] == "log_mse"
    assert config["network"] == json.loads((tiny_model_dir / "config.json").read_text())["network"]
    refused = gap(
        "train", tmp_path / "a.tif", "-o", tmp_path / "n", "--steps", 2, "--init",
        tiny_model_dir, "--network-option", "depth=3",
    )  # fmt: skip
    assert refused.exit_code == 2 and "is architecture 'unet'" in refused.stderr


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--method", "n2n", "--steps", "2"], "pairs='files' needs an even number of items"),
        (["--init", "no-such-model", "--steps", "2"], "'no-such-model' is neither a model folder"),
        (["--method", "ddpm", "--steps", "2", "--patch-size", "8"], "patch_size does not apply"),
        (["--architecture", "resnet", "--steps", "2"], "Invalid value for '--architecture'"),
        (["--network-option", "depht=3", "--steps", "2"], "depht"),
        ([], "give --steps or --epochs"),
        (["--sample-every", "1", "--steps", "2"], "--sample-every applies to generators"),
    ],
)
def test_train_refuses_what_it_cannot_do_in_one_line(tmp_path, arguments, message):
    write_plain(tmp_path / "a.tif", data=counts((2, 32, 32)))
    result = gap("train", tmp_path / "a.tif", "-o", tmp_path / "m", *arguments)
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_train_a_generator_with_sample_grids(tmp_path):
    write_plain(tmp_path / "a.tif", data=counts((4, 16, 16)))
    result = gap(
        "train",
        tmp_path / "a.tif",
        "-o",
        tmp_path / "m",
        "--generator",
        "--steps",
        2,
        "--sample-every",
        1,
        *TINY_FLAGS,
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "m" / "samples").iterdir()) == [
        "samples-1.png",
        "samples-2.png",
    ]


def test_generate_writes_a_stack_and_pngs(tmp_path):
    images = np.random.default_rng(0).random((6, 16, 16)).astype(np.float32) + 0.5
    Generator.train(
        images, axes="SYX", steps=2, seed=0, network=TINY_NETWORK, batch_size=2
    ).save_pretrained(tmp_path / "gen")
    result = gap(
        "generate",
        "-n",
        3,
        "--shape",
        16,
        "-o",
        tmp_path / "g.tif",
        "--model",
        tmp_path / "gen",
        "--png",
        tmp_path / "png",
        "--seed",
        0,
        "--max-psnr",
        5,
    )
    assert result.exit_code == 0, result.output
    stack = tifffile.imread(tmp_path / "g.tif")
    assert stack.shape == (3, 16, 16)
    assert sorted(p.name for p in (tmp_path / "png").iterdir()) == ["g0.png", "g1.png", "g2.png"]
    assert (
        gap("generate", "-n", 1, "-o", tmp_path / "g.tif", "--model", tmp_path / "gen").exit_code
        == 2
    )
    default = gap("generate", "-n", 1, "-o", tmp_path / "h.tif", "--max-psnr", 5, "--seed", 0)
    assert default.exit_code == 0, default.output  # the bundled gap-gen-fashion


@pytest.mark.parametrize(
    "command", ["denoise", "sample", "generate", "train", "models", "info", "bench"]
)
def test_help_examples_keep_their_line_breaks(command):
    result = gap(command, "--help")
    assert result.exit_code == 0
    assert "\\b" not in result.output and "\b" not in result.output
    assert "\n  Example" in result.output
