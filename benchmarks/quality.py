"""Quality benchmark: PSNR and SSIM of denoisers across photon levels on held-out images.

Shot noise is simulated at mean photon levels 0.5-128 on clean images no bundled model
saw (`gaptorch.datasets`, eval splits); every method is scored against the clean image
in photon units (PSNR with the clean image's range as peak, SSIM), averaged over images:
- noisy: the counts themselves;
- anscombe: Anscombe + BM3D (or non-local means) + exact unbiased inverse;
- gap-self: GAP trained on the noisy evaluation images themselves (budget in the JSON);
- bundled: the bundled model, zero-shot;
- bundled-x8: the same, averaged over the 8 flips/rotations (`symmetries=8`);
- posterior-mean: mean of n posterior samples of the bundled model.

Run: `python -m gaptorch.benchmarks.quality --model gap-fluo-2d --data fluorescence`
(also `gap bench quality`). Writes results/quality-<data>-<device>.json, a PSNR plot and
a panel of crops (PNGs need matplotlib / scikit-image).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from gaptorch import Denoiser, datasets, psnr, ssim
from gaptorch.benchmarks.baselines import denoise_anscombe, gaussian_denoiser_name
from gaptorch.benchmarks.common import device_slug, environment
from gaptorch.cli.panel import save_panel
from gaptorch.io.write import write_atomically
from gaptorch.model_folder import WEIGHTS_NAME, read_model_spec
from gaptorch.pretrained import DEFAULTS, resolve_model_path, sha256_of

LEVELS = (0.5, 2.0, 8.0, 32.0, 128.0)
PANEL_CROP = 128
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


def showcase_window(images: list[np.ndarray], size: int) -> tuple[int, tuple[slice, slice]]:
    """The image and size x size window (on a grid of size / 8) with the most contrast.

    Contrast is the standard deviation of the image scaled to mean 1, so the crop panel
    shows cells or texture, not the background a fixed crop often holds.
    """
    best = (-1.0, 0, (slice(0, size), slice(0, size)))
    step = max(1, size // 8)
    for index, image in enumerate(images):
        gray = np.asarray(image, np.float64)
        gray = gray.mean(axis=-1) if gray.ndim == 3 else gray
        gray = gray / max(float(gray.mean()), 1e-12)
        for top in range(0, max(1, gray.shape[0] - size + 1), step):
            for left in range(0, max(1, gray.shape[1] - size + 1), step):
                window = (slice(top, top + size), slice(left, left + size))
                contrast = float(gray[window].std())
                if contrast > best[0]:
                    best = (contrast, index, window)
    return best[1], best[2]


def _channel_axis(rgb: bool) -> int | None:
    """The channel axis of the images: last for RGB photos, none for grayscale."""
    return -1 if rgb else None


def score(estimates: list[np.ndarray], clean: list[np.ndarray], rgb: bool) -> dict[str, float]:
    """Mean PSNR and SSIM over images, in photon units."""
    channel_axis = _channel_axis(rgb)
    return {
        "psnr": float(np.mean([psnr(e, c) for e, c in zip(estimates, clean, strict=True)])),
        "ssim": float(
            np.mean(
                [
                    ssim(e, c, channel_axis=channel_axis)
                    for e, c in zip(estimates, clean, strict=True)
                ]
            )
        ),
    }


def self_supervised(steps: int, seed: int, axes: str, network: dict | None) -> Method:
    """GAP trained on the noisy images it then denoises (one model per photon level), with
    the bundled model's network when one is compared (so only the training data differ)."""

    def run(noisy: list[np.ndarray]) -> list[np.ndarray]:
        denoiser = Denoiser.train(noisy, axes=axes, steps=steps, seed=seed, network=network)
        return [denoiser.denoise(n, axes=axes) for n in noisy]

    return run


def bundled(denoiser: Denoiser, axes: str, symmetries: int = 1) -> Method:
    """The bundled model, zero-shot, averaged over `symmetries` flips/rotations."""
    return lambda noisy: [denoiser.denoise(n, axes=axes, symmetries=symmetries) for n in noisy]


def posterior_mean(denoiser: Denoiser, axes: str, samples: int, seed: int) -> Method:
    """Mean of posterior samples of the bundled model."""
    return lambda noisy: [
        denoiser.sample(n, samples, axes=axes, seed=seed).mean(axis=0) for n in noisy
    ]


def anscombe_method(rgb: bool) -> Method:
    """Anscombe + Gaussian denoiser + exact unbiased inverse."""
    return lambda noisy: [denoise_anscombe(n, channel_axis=_channel_axis(rgb)) for n in noisy]


def _network_of(model: str | None) -> dict:
    """The bundled (or given) model's network keywords for gap-self, without dims and channels.

    Also without `log_skip`: it helps the long clean-supervised recipes of the bundled
    models but hurts short self-supervised runs on bright data (camera at 32 photons/pixel,
    600 steps: 28.0 dB without, 23.7 dB with), and gap-self stands for that run.
    """
    spec = read_model_spec(resolve_model_path(model, kind="denoiser"))
    return {k: v for k, v in spec.network.items() if k not in ("dims", "in_channels", "log_skip")}


MODEL_METHODS = ("bundled", "bundled-x8", "posterior-mean")


def _previous_rows(
    paths: list[Path], settings: dict, data: str, methods: tuple[str, ...], model_sha256: str
) -> list[dict]:
    """Rows of other methods from earlier runs with the same data and settings (`--reuse`).

    The earlier runs may cover other photon levels (each level's noisy images depend only
    on the seed, so slow rows can be split across processes): rows at this run's levels
    are kept. A file with other data or settings is an error, not silently mixed in; the
    rows of `MODEL_METHODS` are kept only from runs of the same weights (`model_sha256`),
    and a note says which were left out.
    """

    def without_levels(run_settings: dict) -> dict:
        return {k: v for k, v in run_settings.items() if k != "levels"}

    these = without_levels(settings)
    rows: dict[tuple[float, str], dict] = {}
    for path in paths:
        earlier = json.loads(Path(path).read_text())
        if without_levels(earlier.get("settings", {})) != these or earlier.get("data") != data:
            raise ValueError(f"--reuse {path}: other data or settings than this run")
        same_model = earlier.get("model_sha256") == model_sha256
        skipped = set()
        for r in earlier["rows"]:
            wanted = r["method"] not in methods and r["method"] != "noisy"
            if wanted and r["method"] in MODEL_METHODS and not same_model:
                skipped.add(r["method"])
            elif wanted and r["photons"] in settings["levels"]:
                rows[(r["photons"], r["method"])] = r
        if skipped:
            print(f"--reuse {path}: left out its {', '.join(sorted(skipped))} rows (other weights)")
    return list(rows.values())


def run(
    model: str | None,
    data: str,
    levels: tuple[float, ...],
    self_steps: int,
    samples: int,
    seed: int,
    methods: tuple[str, ...],
    reuse: Sequence[Path] = (),
    panel_level: float | None = None,
) -> tuple[dict, list[np.ndarray]]:
    """Score every method at every level.

    Returns the results dict and, for `panel_level`, crops of the `showcase_window`: noisy,
    each method's estimate, clean.
    """
    clean_images, axes = evaluation_images(data)
    shown, window = showcase_window(clean_images, PANEL_CROP)
    rgb = data == "photos"
    network = _network_of(model)
    denoiser = Denoiser.from_pretrained(model) if set(MODEL_METHODS) & set(methods) else None
    table: dict[str, Method] = {
        "anscombe": anscombe_method(rgb),
        "gap-self": self_supervised(self_steps, seed, axes, network),
    }
    if denoiser is not None:
        table["bundled"] = bundled(denoiser, axes)
        table["bundled-x8"] = bundled(denoiser, axes, symmetries=8)
        table["posterior-mean"] = posterior_mean(denoiser, axes, samples, seed)
    settings = {
        "levels": list(levels),
        "gap_self_steps": self_steps,
        "gap_self_network": network,
        "posterior_samples": samples,
        "seed": seed,
        "gaussian_denoiser": gaussian_denoiser_name(),
    }
    weights = sha256_of(resolve_model_path(model, kind="denoiser") / WEIGHTS_NAME)
    rows = _previous_rows(list(reuse), settings, data, methods, weights)
    panel: list[np.ndarray] = []
    for level in levels:
        rng = np.random.default_rng(seed)
        pairs = [datasets.simulate_counts(c, level, rng) for c in clean_images]
        rates, noisy = [r for r, _ in pairs], [n for _, n in pairs]
        rows.append(
            {
                "photons": level,
                "method": "noisy",
                **score([n.astype(np.float64) for n in noisy], rates, rgb),
                "seconds": 0.0,
            }
        )
        if level == panel_level:
            panel.append(noisy[shown][window])
        for name in methods:
            began = time.perf_counter()
            estimates = table[name](noisy)
            rows.append(
                {
                    "photons": level,
                    "method": name,
                    **score(estimates, rates, rgb),
                    "seconds": round(time.perf_counter() - began, 2),
                }
            )
            if level == panel_level:
                panel.append(estimates[shown][window])
            print(
                f"{data} {level:>6g} photons  {name:<15} PSNR {rows[-1]['psnr']:6.2f}  "
                f"SSIM {rows[-1]['ssim']:.3f}",
                flush=True,
            )
        if level == panel_level:
            panel.append(rates[shown][window])
    rows.sort(key=lambda r: (r["photons"], r["method"] != "noisy"))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    results = {
        "benchmark": "quality",
        "data": data,
        "images": len(clean_images),
        # Above these levels the "clean" reference is noisier than the simulated input.
        "reference_photons": [
            round(datasets.noise_equivalent_photons(c, _channel_axis(rgb)), 1) for c in clean_images
        ],
        "model": model or DEFAULTS["denoiser"],
        "model_sha256": weights,
        "settings": settings,
        "environment": environment(device),
        "rows": rows,
    }
    return results, panel


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
    write_atomically(path, lambda p: fig.savefig(p, dpi=120, format="png"))
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    """Command-line entry point (also `gap bench quality`)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default=None, help="bundled name or model folder (default: the default model)"
    )
    parser.add_argument("--data", choices=["fluorescence", "photos"], default="fluorescence")
    parser.add_argument("--levels", type=float, nargs="+", default=list(LEVELS))
    parser.add_argument("--self-steps", type=int, default=600, help="training steps of gap-self")
    parser.add_argument(
        "--samples", type=int, default=8, help="posterior samples for posterior-mean"
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        choices=["anscombe", "gap-self", *MODEL_METHODS],
        default=["anscombe", "gap-self", *MODEL_METHODS],
    )
    parser.add_argument(
        "--reuse",
        type=Path,
        nargs="+",
        default=[],
        help="results JSON of earlier runs (same data and settings, any photon levels): their "
        "rows of the methods not run now, at this run's levels, are kept",
    )
    parser.add_argument(
        "--panel-level", type=float, default=2.0, help="photon level of the crop panel"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    stem = args.out / f"quality-{args.data}-{device_slug(environment(device))}"
    results, panel = run(
        args.model,
        args.data,
        tuple(args.levels),
        args.self_steps,
        args.samples,
        args.seed,
        tuple(args.methods),
        args.reuse,
        args.panel_level,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    write_atomically(
        stem.with_suffix(".json"),
        lambda p: Path(p).write_text(json.dumps(results, indent=2) + "\n"),
    )
    if panel:
        write_atomically(stem.parent / f"{stem.name}-panel.png", lambda p: save_panel(p, panel))
    try:
        plot(results, stem.with_suffix(".png"))
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib)")
    return results


if __name__ == "__main__":
    main()
