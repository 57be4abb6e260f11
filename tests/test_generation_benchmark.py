import argparse
import json

import numpy as np
import pytest
import torch

from gaptorch.benchmarks import generation
from gaptorch.datasets import FASHION_MNIST


@pytest.mark.parametrize(
    "text, options",
    [
        ("ddim:50", {"sampler": "ddim", "steps": 50}),
        ("ddpm", {"sampler": "ddpm"}),
        ("ddpm:100", {"sampler": "ddpm", "steps": 100}),
    ],
)
def test_sampling_options_parse(text, options):
    assert generation.sampling_options(text) == options


@pytest.mark.parametrize("text", ["ddim:0", "euler:10", "ddim:", "ddim:x"])
def test_bad_sampling_options_are_refused(text):
    with pytest.raises(argparse.ArgumentTypeError, match="expected"):
        generation.sampling_options(text)


def test_the_per_pixel_gaussian_has_the_training_sets_pixel_statistics():
    rng = np.random.default_rng(0)
    train = np.clip(rng.normal(np.linspace(60, 190, 16).reshape(4, 4), 20, (4000, 4, 4)), 0, 255)
    samples = generation.per_pixel_gaussian(train, 4000, rng)
    assert samples.shape == (4000, 4, 4) and samples.min() >= 0 and samples.max() <= 255
    np.testing.assert_allclose(samples.mean(axis=0), train.mean(axis=0), atol=1.5)
    np.testing.assert_allclose(samples.std(axis=0), train.std(axis=0), rtol=0.08)


@pytest.mark.skipif(not FASHION_MNIST.exists(), reason="needs dataset-fashion-mnist")
def test_the_benchmark_scores_both_bundled_generators_and_the_references(tmp_path):
    generation.main(
        ["--count", "16", "--ddpm-sampling", "ddim:2", "ddpm:3", "--out", str(tmp_path)]
    )
    record = json.loads((tmp_path / "generation-cpu.json").read_text())
    rows = {row["model"]: row for row in record["rows"]}
    assert list(rows) == [
        "real training images",
        "per-pixel Gaussian",
        "ddpm-fashion ddim 2",
        "ddpm-fashion ddpm 3",
        "gap-gen-fashion",
    ]
    assert record["environment"]["torch"] and record["summary"]["count"] == 16
    assert rows["ddpm-fashion ddpm 3"]["sampling"] == {"sampler": "ddpm", "steps": 3}
    assert all(row["images_per_second"] > 0 for row in record["rows"] if "method" in row)
    assert all((tmp_path / row["grid"]).is_file() for row in record["rows"])
    assert rows["real training images"]["fd"] < rows["per-pixel Gaussian"]["fd"]


class _Means(torch.nn.Module):
    def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        return x.float().mean(dim=(2, 3))


@pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")
@pytest.mark.skipif(not FASHION_MNIST.exists(), reason="needs dataset-fashion-mnist")
def test_with_an_inception_file_the_benchmark_reports_fid(tmp_path):
    torch.jit.save(torch.jit.script(_Means()), str(tmp_path / "inception.pt"))
    generation.main(
        [
            "gap-gen-fashion",
            "--count",
            "8",
            "--out",
            str(tmp_path),
            "--inception",
            str(tmp_path / "inception.pt"),
        ]
    )
    record = json.loads((tmp_path / "generation-cpu.json").read_text())
    assert record["summary"]["metric"].startswith("FID (Inception-v3) features of inception.pt")
    assert [row["model"] for row in record["rows"]][-1] == "gap-gen-fashion"


def test_a_generator_card_takes_its_own_rows_and_the_references():
    from gaptorch.pretrained.generator_recipes import quality_section

    results = {
        "summary": {"metric": "FD (x)", "count": 1000, "seed": 0},
        "environment": {"device": "cpu", "cpu_threads": 1, "torch": "2"},
        "rows": [
            {"model": "real training images", "fd": 2.9, "reference": "floor"},
            {
                "model": "ddpm-fashion ddim 50",
                "fd": 99.0,
                "images_per_second": 10.0,
                "method": "ddpm",
            },
            {"model": "gap-gen-fashion", "fd": 70.0, "images_per_second": 5.0, "method": "gap"},
        ],
    }
    text = quality_section("ddpm-fashion", results)
    assert "| ddpm-fashion ddim 50 | **99.0** | 10 |" in text
    assert "real training images (floor) | 2.9" in text and "gap-gen-fashion" not in text
    with pytest.raises(ValueError, match="no row of other"):
        quality_section("other", results)
