"""The quality benchmark's pieces that run without the data packages."""

import json

import numpy as np
import pytest

from gaptorch import Denoiser
from gaptorch.benchmarks.baselines import denoise_anscombe
from gaptorch.benchmarks.quality import (
    _network_of,
    _previous_rows,
    crop_center,
    score,
    showcase_window,
)

SETTINGS = {"levels": [2.0], "seed": 0}


def _results(path, rows, settings=SETTINGS, data="fluorescence", weights="w1"):
    results = {"data": data, "settings": settings, "rows": rows, "model_sha256": weights}
    path.write_text(json.dumps(results))
    return path


def test_reused_rows_keep_other_methods_and_drop_the_ones_run_again(tmp_path):
    first = _results(
        tmp_path / "a.json",
        [
            {"photons": 2.0, "method": "noisy", "psnr": 1.0},
            {"photons": 2.0, "method": "gap-self", "psnr": 2.0},
            {"photons": 2.0, "method": "bundled", "psnr": 3.0},
        ],
    )
    second = _results(
        tmp_path / "b.json", [{"photons": 2.0, "method": "posterior-mean", "psnr": 4.0}]
    )
    rows = _previous_rows([first, second], SETTINGS, "fluorescence", ("bundled",), "w1")
    assert sorted(r["method"] for r in rows) == ["gap-self", "posterior-mean"]


def test_rows_of_another_models_weights_are_left_out_with_a_note(tmp_path, capsys):
    rows = [
        {"photons": 2.0, "method": method, "psnr": 1.0}
        for method in ("anscombe", "gap-self", "bundled", "posterior-mean")
    ]
    older = _results(tmp_path / "old.json", rows, weights="w0")
    kept = _previous_rows([older], SETTINGS, "fluorescence", ("noisy",), "w1")
    assert sorted(r["method"] for r in kept) == ["anscombe", "gap-self"]
    assert "left out its bundled, posterior-mean rows (other weights)" in capsys.readouterr().out
    same = _previous_rows([older], SETTINGS, "fluorescence", ("noisy",), "w0")
    assert len(same) == 4


def test_reusing_a_run_with_other_settings_is_an_error(tmp_path):
    other = _results(tmp_path / "a.json", [], settings={"levels": [2.0], "seed": 1})
    with pytest.raises(ValueError, match="other data or settings"):
        _previous_rows([other], SETTINGS, "fluorescence", ("bundled",), "w1")
    photos = _results(tmp_path / "b.json", [], data="photos")
    with pytest.raises(ValueError, match="other data or settings"):
        _previous_rows([photos], SETTINGS, "fluorescence", ("bundled",), "w1")


def test_runs_over_other_levels_give_their_rows_at_this_runs_levels(tmp_path):
    def split(name, levels):
        rows = [{"photons": lv, "method": "posterior-mean", "psnr": lv} for lv in levels]
        return _results(tmp_path / name, rows, settings={"levels": levels, "seed": 0})

    low, high = split("low.json", [0.5, 2.0]), split("high.json", [8.0, 32.0])
    settings = {"levels": [2.0, 8.0], "seed": 0}
    rows = _previous_rows([low, high], settings, "fluorescence", ("bundled",), "w1")
    assert sorted(r["photons"] for r in rows) == [2.0, 8.0]


def test_the_anscombe_baseline_beats_the_noisy_input_and_keeps_the_photon_scale():
    yy, xx = np.mgrid[:64, :64]
    rate = 4.0 + 12.0 * np.exp(-((yy - 32) ** 2 + (xx - 30) ** 2) / 200.0)
    noisy = np.random.default_rng(0).poisson(rate)
    estimate = denoise_anscombe(noisy)
    scores = score([estimate], [rate], rgb=False)
    assert scores["psnr"] > score([noisy.astype(float)], [rate], rgb=False)["psnr"] + 3
    assert abs(estimate.mean() - rate.mean()) < 0.05 * rate.mean()
    assert crop_center(estimate, 16).shape == (16, 16)


def test_gap_self_takes_the_bundled_network_without_its_log_skip():
    assert Denoiser.from_pretrained("gap-fluo-2d").spec.network["log_skip"] is True
    network = _network_of("gap-fluo-2d")
    assert network["start_filters"] == 16 and "log_skip" not in network and "dims" not in network


def test_the_panel_shows_the_window_with_the_most_contrast():
    flat = np.full((64, 64), 5.0)
    spotted = np.full((48, 80, 3), 5.0)
    spotted[30:34, 50:54] = 50.0
    index, (rows, cols) = showcase_window([flat, spotted], 16)
    assert index == 1
    assert (rows.stop - rows.start, cols.stop - cols.start) == (16, 16)
    assert rows.start <= 30 and rows.stop >= 34 and cols.start <= 50 and cols.stop >= 54
    index, (rows, cols) = showcase_window([np.ones((8, 8))], 16)
    assert (index, rows, cols) == (0, slice(0, 16), slice(0, 16))
