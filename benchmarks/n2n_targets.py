"""Noise2Noise against clean targets: the same network, budget and seed, two kinds of pair.

Camera (512x512, scikit-image) is scaled to `--photons` per pixel; two independent
Poisson draws form the Noise2Noise pair, (noisy, clean) the supervised reference
(`target="clean"`). Both train on rows 0-383 and are scored by PSNR (clean image's range
as peak) on rows 384-511, which neither saw.

Run: `python -m gaptorch.benchmarks.n2n_targets --steps 1500` (or `python
benchmarks/n2n_targets.py`); writes results/n2n-targets-<device>.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import skimage.data

from gaptorch import Denoiser, psnr

RESULTS = Path(__file__).parent / "results"


def main(argv: list[str] | None = None) -> None:
    """Train both models and print and save their PSNRs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--photons", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None)
    args = parser.parse_args(argv)
    camera = skimage.data.camera().astype(np.float64)
    clean = camera / camera.mean() * args.photons
    rng = np.random.default_rng(args.seed)
    noisy_a, noisy_b = rng.poisson(clean), rng.poisson(clean)
    train, held = slice(0, 384), slice(384, 512)
    options = {
        "steps": args.steps,
        "seed": args.seed,
        "batch_size": 16,
        "patch_size": 64,
        "lr": 2e-3,
        "device": args.device,
        "val_fraction": 0.0,
    }
    scores = {"noisy": psnr(noisy_a[held], clean[held])}
    seconds = {}
    for target, second in (("noisy", noisy_b), ("clean", clean)):
        began = time.perf_counter()
        model = Denoiser.train(
            (noisy_a[train], second[train]), method="n2n", target=target, **options
        )
        seconds[target] = round(time.perf_counter() - began, 1)
        scores[f"n2n-{target}-target"] = psnr(model.denoise(noisy_a)[held], clean[held])
        print(
            f"{target} target: {scores[f'n2n-{target}-target']:.2f} dB ({seconds[target]} s)",
            flush=True,
        )
    gap = scores["n2n-clean-target"] - scores["n2n-noisy-target"]
    print(f"noisy input {scores['noisy']:.2f} dB; clean-target lead {gap:.2f} dB")
    RESULTS.mkdir(exist_ok=True)
    device = str(model.device)
    record = {
        "args": vars(args),
        "architecture": model.spec.architecture,
        "network": model.spec.network,
        "psnr_db": scores,
        "seconds": seconds,
        "clean_target_lead_db": gap,
    }
    (RESULTS / f"n2n-targets-{device}.json").write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
