import json

import pytest

from gaptorch.benchmarks import psnr_spectrum
from gaptorch.cascade import DEFAULT_SLICES


def test_cascade_slices_split_the_full_range_evenly():
    assert psnr_spectrum.cascade_slices(9) == list(DEFAULT_SLICES)
    assert psnr_spectrum.cascade_slices(3) == [(-40.0, -16.0), (-16.0, 8.0), (8.0, 32.0)]


def test_quick_spectrum_scores_every_model_in_every_slice(tmp_path):
    results = psnr_spectrum.main(
        [
            "--quick",
            "--data",
            "fluorescence",
            "--architectures",
            "unet",
            "--cascade",
            "2",
            "--curriculum",
            "--out",
            str(tmp_path),
        ]
    )
    if "fluorescence" in results["skipped"]:
        pytest.skip(results["skipped"]["fluorescence"])
    (path,) = tmp_path.glob("psnr-spectrum-*.json")
    written = json.loads(path.read_text())
    models = {"input", "unet", "cascade-2", "curriculum"}
    assert {r["model"] for r in written["rows"]} == models
    assert len(written["rows"]) == len(DEFAULT_SLICES) * len(models)
    assert {m["model"] for m in written["models"]} == models - {"input"}
    assert all(m["parameters"] > 0 and m["inference_ms_per_image"] > 0 for m in written["models"])
    cascade = next(m for m in written["models"] if m["model"] == "cascade-2")
    assert cascade["architecture"] == "cascade"
