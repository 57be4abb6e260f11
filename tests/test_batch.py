import json
from pathlib import Path

import numpy as np
import pytest
import skimage.io
import tifffile
from image_files import counts, metadata_fields, write_imagej, write_plain

from gaptorch import Denoiser
from gaptorch.batch import (
    DenoiseSettings,
    NotCountsError,
    SampleSettings,
    denoise_file,
    run_batch,
    sample_file,
    steps_for_epochs,
)
from gaptorch.io import find_images, plan_outputs


@pytest.fixture(scope="module")
def denoiser(tiny_model_dir):
    return Denoiser.from_pretrained(tiny_model_dir, device="cpu")


def _tree(root, names):
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    return root


def test_folders_are_searched_recursively_and_mirrored(tmp_path):
    _tree(
        tmp_path / "in",
        ["a.tif", "sub/b.TIFF", "sub/deeper/c.png", "notes.txt", ".hidden.tif", ".cache/d.tif"],
    )
    jobs = find_images([tmp_path / "in"])
    assert [str(j.relative) for j in jobs] == ["a.tif", "sub/b.TIFF", "sub/deeper/c.png"]
    planned = plan_outputs(jobs, tmp_path / "out", [("_dn", None)])
    assert [str(o[0].relative_to(tmp_path / "out")) for _, o in planned] == [
        "a_dn.tif",
        "sub/b_dn.TIFF",
        "sub/deeper/c_dn.tif",
    ]
    assert [str(j.relative) for j in find_images([tmp_path / "in"], ["*.png"])] == [
        "sub/deeper/c.png"
    ]


def test_globs_keep_the_structure_below_their_root(tmp_path):
    _tree(tmp_path, ["data/x/1.tif", "data/y/2.tif", "data/y/3.jpg"])
    jobs = find_images([str(tmp_path / "data" / "*" / "*.tif")])
    assert [str(j.relative) for j in jobs] == ["x/1.tif", "y/2.tif"]
    with pytest.raises(FileNotFoundError, match="no files match"):
        find_images([str(tmp_path / "nothing*.tif")])
    with pytest.raises(FileNotFoundError, match="no such file"):
        find_images([tmp_path / "missing.tif"])
    with pytest.raises(ValueError, match="no TIFF, PNG or JPEG files"):
        find_images([_tree(tmp_path / "empty", ["readme.md"])])


def test_outputs_never_overwrite_inputs_and_never_collide(tmp_path):
    _tree(tmp_path / "in", ["a.tif", "b/a.tif"])
    jobs = find_images([tmp_path / "in"])
    with pytest.raises(ValueError, match="would overwrite the input"):
        plan_outputs(jobs, tmp_path / "in", [("", None)])
    flat = find_images([tmp_path / "in" / "a.tif", tmp_path / "in" / "b" / "a.tif"])
    with pytest.raises(ValueError, match="would both write"):
        plan_outputs(flat, tmp_path / "out", [("", None)])


def test_earlier_outputs_in_an_input_folder_are_not_reprocessed(tmp_path):
    _tree(tmp_path / "in", ["a.tif", "a_dn.tif"])
    planned = plan_outputs(find_images([tmp_path / "in"]), tmp_path / "in", [("_dn", None)])
    assert [job.source.name for job, _ in planned] == ["a.tif"]


def test_ome_names_keep_their_double_extension(tmp_path):
    _tree(tmp_path / "in", ["cells.ome.tif"])
    planned = plan_outputs(
        find_images([tmp_path / "in"]), tmp_path / "out", [("_samples", ".tif"), ("_mean", None)]
    )
    assert [o.name for o in planned[0][1]] == ["cells_samples.tif", "cells_mean.ome.tif"]


def test_streamed_file_equals_the_array_api(denoiser, tmp_path):
    source = write_imagej(tmp_path / "in.tif")
    result = denoise_file(
        denoiser, source, tmp_path / "out.tif", DenoiseSettings(model_name="tiny")
    )
    assert result.status == "done" and result.calibration == "photon counts"
    assert result.pixels == 3 * 4 * 40 * 48
    expected = denoiser.denoise(tifffile.imread(source), "TZYX")
    np.testing.assert_allclose(
        tifffile.imread(tmp_path / "out.tif"), expected, rtol=1e-5, atol=1e-5
    )
    assert metadata_fields(tmp_path / "out.tif") == metadata_fields(source)


def test_3d_models_take_one_volume_at_a_time(model_3d_dir, tmp_path):
    model = Denoiser.from_pretrained(model_3d_dir, device="cpu")
    source = write_imagej(tmp_path / "in.tif")
    denoise_file(model, source, tmp_path / "out.tif", DenoiseSettings())
    expected = model.denoise(tifffile.imread(source), "TZYX")
    np.testing.assert_allclose(
        tifffile.imread(tmp_path / "out.tif"), expected, rtol=1e-5, atol=1e-5
    )


def test_rgb_models_take_photos(rgb_model_dir, tmp_path):
    model = Denoiser.from_pretrained(rgb_model_dir, device="cpu")
    photo = counts((30, 40, 3), mean=5, dtype=np.uint8)
    skimage.io.imsave(tmp_path / "p.png", photo, check_contrast=False)
    denoise_file(
        model, tmp_path / "p.png", tmp_path / "p.tif", DenoiseSettings(output_dtype="same")
    )
    out = tifffile.imread(tmp_path / "p.tif")
    assert out.shape == photo.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(
        out, np.clip(np.rint(model.denoise(photo)), 0, 255).astype(np.uint8)
    )


def test_auto_calibration_is_estimated_and_recorded(denoiser, tmp_path):
    camera = (counts((3, 64, 64), mean=4.0, smooth=True) * 2.5 + 100.0).astype(np.float32)
    source = write_plain(tmp_path / "cam.tif", data=camera)
    result = denoise_file(
        denoiser, source, tmp_path / "out.tif", DenoiseSettings(gain="auto", offset=100.0)
    )
    assert "estimated gain" in result.calibration and "offset 100 " in result.calibration
    record = json.loads(tifffile.TiffFile(tmp_path / "out.tif").pages.first.description)["gaptorch"]
    assert record["calibration"]["source"] == "estimated gain"
    assert record["calibration"]["gain"] == pytest.approx(2.5, rel=0.15)


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        (counts((2, 32, 32)).astype(np.float32) + 0.5, NotCountsError, "non-integer"),
        (counts((2, 32, 32)).astype(np.int16) - 3, NotCountsError, "negative"),
        (np.full((2, 32, 32), np.nan, np.float32), ValueError, "NaN"),
    ],
)
def test_data_that_are_not_counts_need_a_calibration(denoiser, tmp_path, data, error, message):
    source = write_plain(tmp_path / "in.tif", data=data)
    with pytest.raises(error, match=message):
        denoise_file(denoiser, source, tmp_path / "out.tif", DenoiseSettings())
    assert not (tmp_path / "out.tif").exists()


def test_existing_outputs_are_skipped_unless_overwrite(denoiser, tmp_path):
    source = write_plain(tmp_path / "in.tif")
    (tmp_path / "out.tif").write_bytes(b"old")
    assert (
        denoise_file(denoiser, source, tmp_path / "out.tif", DenoiseSettings()).status == "skipped"
    )
    assert (tmp_path / "out.tif").read_bytes() == b"old"
    denoise_file(denoiser, source, tmp_path / "out.tif", DenoiseSettings(overwrite=True))
    assert tifffile.imread(tmp_path / "out.tif").shape == (5, 40, 48)


def test_a_failing_file_does_not_stop_the_batch(denoiser, tmp_path):
    (tmp_path / "in").mkdir()
    write_plain(tmp_path / "in" / "a.tif")
    (tmp_path / "in" / "b.tif").write_text("not a tiff")
    write_plain(tmp_path / "in" / "c.tif")
    planned = plan_outputs(find_images([tmp_path / "in"]), tmp_path / "out", [("", None)])
    summary = run_batch(
        planned, lambda job, out: denoise_file(denoiser, job.source, out[0], DenoiseSettings())
    )
    assert [r.status for r in summary.results] == ["done", "failed", "done"]
    assert summary.results[1].message.startswith(str(tmp_path / "in" / "b.tif"))
    assert summary.megapixels == pytest.approx(2 * 5 * 40 * 48 / 1e6)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.tif", "c.tif"]


def test_posterior_samples_mean_and_std(denoiser, tmp_path):
    source = write_imagej(tmp_path / "in.tif", data=counts((2, 24, 32)), axes="TYX")
    outputs = tuple(tmp_path / f"{n}.tif" for n in ("samples", "mean", "std"))
    result = sample_file(denoiser, source, outputs, SampleSettings(n=3, max_psnr=8, seed=1))
    assert result.status == "done"
    samples = tifffile.imread(outputs[0])
    assert samples.shape == (3, 2, 24, 32)
    np.testing.assert_allclose(tifffile.imread(outputs[1]), samples.mean(0), rtol=1e-5)
    np.testing.assert_allclose(tifffile.imread(outputs[2]), samples.std(0), rtol=1e-4, atol=1e-6)
    assert metadata_fields(outputs[1]) == metadata_fields(source)
    with tifffile.TiffFile(outputs[0]) as tiff:
        assert tiff.series[0].axes == "ITYX"
        assert tiff.pages.first.tags["XResolution"].value == metadata_fields(source)["XResolution"]
    again = sample_file(
        denoiser,
        source,
        tuple(Path(str(o) + ".2.tif") for o in outputs),
        SampleSettings(n=3, max_psnr=8, seed=1),
    )
    assert again.status == "done"
    np.testing.assert_array_equal(tifffile.imread(str(outputs[0]) + ".2.tif"), samples)


def test_epochs_become_steps_from_the_file_sizes(tmp_path):
    paths = [write_plain(tmp_path / "a.tif"), write_plain(tmp_path / "b.tif")]
    assert steps_for_epochs(paths, 2, patch_size=16, batch_size=4, dims=2) == int(
        np.ceil(2 * 2 * 5 * 40 * 48 / 1024)
    )


def test_settings_reject_bad_values():
    with pytest.raises(ValueError, match="output_dtype"):
        DenoiseSettings(output_dtype="int8")
    with pytest.raises(ValueError, match="gain"):
        DenoiseSettings(gain="guess")
    with pytest.raises(ValueError, match="symmetries must be one of"):
        DenoiseSettings(symmetries=3)
    with pytest.raises(ValueError, match="n must be"):
        SampleSettings(n=0)
