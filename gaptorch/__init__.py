"""gaptorch: denoise and generate photon-limited images with GAP, Noise2Noise and DDPM."""

from gaptorch._version import __version__
from gaptorch.calibration import Calibration, estimate_calibration
from gaptorch.curriculum import Curriculum
from gaptorch.denoiser import Denoiser
from gaptorch.generator import Generator
from gaptorch.io import read_image
from gaptorch.methods.gap import GapOptions
from gaptorch.metrics import pseudo_psnr, psnr, ssim
from gaptorch.pretrained import list_models
from gaptorch.training import TrainConfig

__all__ = [
    "Calibration",
    "Curriculum",
    "Denoiser",
    "GapOptions",
    "Generator",
    "TrainConfig",
    "__version__",
    "estimate_calibration",
    "list_models",
    "pseudo_psnr",
    "psnr",
    "read_image",
    "ssim",
]
