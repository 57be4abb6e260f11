"""Quality benchmark: PSNR and SSIM of denoisers across photon levels on held-out images.

Shot noise is simulated at mean photon levels 0.5-128 on clean images no bundled model
saw (`gaptorch.datasets`, eval splits); every method is scored against the clean image
in photon units (PSNR with the clean image's range as peak, SSIM), averaged over images:
- noisy: the counts themselves;
- anscombe: Anscombe + BM3D (or non-local means) + exact unbiased inverse;
- gap-self: GAP trained on the noisy evaluation images themselves (budget in the JSON);
- bundled: the bundled model, zero-shot;
- posterior-mean: mean of n posterior samples of the bundled model.

Run: `python -m gaptorch.benchmarks.quality --model gap-fluo-2d --data fluorescence`
(also `gap bench quality`). Writes results/quality-<data>-<device>.json, a PSNR plot and
a panel of crops (PNGs need matplotlib / scikit-image).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

import gaptorch
from gaptorch import Denoiser, datasets, psnr, ssim
from gaptorch.benchmarks.baselines import denoise_anscombe, gaussian_denoiser_name

LEVELS = (0.5, 2.0, 8.0, 32.0, 128.0)
RESULTS = Path(__file__).parent / "results"
Method = Callable[[list[np.ndarray]], list[np.ndarray]]


def evaluation_images(data: str) -> tuple[list[np.ndarray], str | None]:
    """Clean evaluation images and their axes for `data` ("fluorescence" or "photos")."""
    if data == "fluorescence":
        return datasets.fluorescence_2d("eval"), "YX"
    if data == "photos":
        return [crop_center(p, 256) for p in datasets.photos_rgb("eval")], "YXC"
    raise ValueError(f"data must be 'fluorescence' or 'photos', got {data!r}")


def crop_center(image: np.ndarray, size: int) -> np.ndarray:
    """The central size x size crop (smaller images are kept whole)."""
    top, left = max(0, (image.shape[0] - size) // 2), max(0, (image.shape[1] - size) // 2)
    return image[top : top + size, left : left + size]


def score(estimates: list[np.ndarray], clean: list[np.ndarray], rgb: bool) -> dict[str, float]:
    """Mean PSNR and SSIM over images, in photon units."""
    channel_axis = -1 if rgb else None
    return {
        "psnr": float(np.mean([psnr(e, c) for e, c in zip(estimates, clean)])),
        "ssim": float(np.mean([ssim(e, c, channel_axis=channel_axis) for e, c in zip(estimates, clean)])),
    }


def self_supervised(steps: int, seed: int, axes: str) -> Method:
    """GAP trained on the noisy images it then denoises (one model per photon level)."""

    def run(noisy: list[np.ndarray]) -> list[np.ndarray]:
        denoiser = Denoiser.train(noisy, axes=axes, steps=steps, seed=seed)
        return [denoiser.denoise(n, axes=axes) for n in noisy]

    return run


def bundled(denoiser: Denoiser, axes: str) -> Method:
    """The bundled model, zero-shot."""
    return lambda noisy: [denoiser.denoise(n, axes=axes) for n in noisy]


def posterior_mean(denoiser: Denoiser, axes: str, samples: int, seed: int) -> Method:
    """Mean of posterior samples of the bundled model."""
    return lambda noisy: [denoiser.sample(n, samples, axes=axes, seed=seed).mean(axis=0) for n in noisy]


def anscombe_method(rgb: bool) -> Method:
    """Anscombe + Gaussian denoiser + exact unbiased inverse."""
    return lambda noisy: [denoise_anscombe(n, channel_axis=-1 if rgb else None) for n in noisy]


def environment() -> dict[str, str]:
    """Device and versions for the results file."""
    cuda = torch.cuda.is_available()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent).stdout.strip()
    return {
        "device": torch.cuda.get_device_name() if cuda else f"cpu ({platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} threads)",
        "torch": torch.__version__,
        "gaptorch": gaptorch.__version__,
        "python": platform.python_version(),
        "commit": commit or "unknown",
    }


def run(
    model: str | None, data: str, levels: tuple[float, ...], self_steps: int, samples: int, seed: int,
    methods: tuple[str, ...],
) -> dict:
    """Score every method at every level; returns the results dict."""
    clean_images, axes = evaluation_images(data)
    rgb = data == "photos"
    denoiser = Denoiser.from_pretrained(model) if {"bundled", "posterior-mean"} & set(methods) else None
    table: dict[str, Method] = {
        "anscombe": anscombe_method(rgb),
        "gap-self": self_supervised(self_steps, seed, axes),
    }
    if denoiser is not None:
        table["bundled"] = bundled(denoiser, axes)
        table["posterior-mean"] = posterior_mean(denoiser, axes, samples, seed)
    rows = []
    for level in levels:
        rng = np.random.default_rng(seed)
        pairs = [datasets.simulate_counts(c, level, rng) for c in clean_images]
        rates, noisy = [r for r, _ in pairs], [n for _, n in pairs]
        rows.append({"photons": level, "method": "noisy", **score([n.astype(np.float64) for n in noisy], rates, rgb),
                     "seconds": 0.0})
        for name in methods:
            began = time.perf_counter()
            estimates = table[name](noisy)
            rows.append({"photons": level, "method": name, **score(estimates, rates, rgb),
                         "seconds": round(time.perf_counter() - began, 2)})
            print(f"{data} {level:>6g} photons  {name:<15} PSNR {rows[-1]['psnr']:6.2f}  SSIM {rows[-1]['ssim']:.3f}",
                  flush=True)
    return {
        "benchmark": "quality",
        "data": data,
        "images": len(clean_images),
        "model": model,
        "settings": {"levels": list(levels), "gap_self_steps": self_steps, "posterior_samples": samples,
                     "seed": seed, "gaussian_denoiser": gaussian_denoiser_name()},
        "environment": environment(),
        "rows": rows,
    }


def plot(results: dict, path: Path) -> None:
    """PSNR against photon level, one curve per method (needs matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for method in dict.fromkeys(r["method"] for r in results["rows"]):
        rows = [r for r in results["rows"] if r["method"] == method]
        ax.plot([r["photons"] for r in rows], [r["psnr"] for r in rows], marker="o", label=method)
    ax.set_xscale("log")
    ax.set_xlabel("mean photons per pixel")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title(f"{results['data']}: {results['model']}")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    """Command-line entry point (also `gap bench quality`)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="bundled name or model folder (default: the default model)")
    parser.add_argument("--data", choices=["fluorescence", "photos"], default="fluorescence")
    parser.add_argument("--levels", type=float, nargs="+", default=list(LEVELS))
    parser.add_argument("--self-steps", type=int, default=600, help="training steps of gap-self")
    parser.add_argument("--samples", type=int, default=8, help="posterior samples for posterior-mean")
    parser.add_argument("--methods", nargs="+", default=["anscombe", "gap-self", "bundled", "posterior-mean"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    results = run(args.model, args.data, tuple(args.levels), args.self_steps, args.samples, args.seed,
                  tuple(args.methods))
    args.out.mkdir(parents=True, exist_ok=True)
    slug = "cuda" if torch.cuda.is_available() else "cpu"
    stem = args.out / f"quality-{args.data}-{slug}"
    stem.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    try:
        plot(results, stem.with_suffix(".png"))
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib)")
    return results


if __name__ == "__main__":
    main()
