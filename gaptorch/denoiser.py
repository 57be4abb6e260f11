"""`Denoiser`: a trained network and its calibration, for MMSE denoising and posterior samples."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from torch import nn

from gaptorch.acceleration import FastPaths
from gaptorch.axes import Layout
from gaptorch.calibration import Calibration, resolve_calibration
from gaptorch.inference import network_predictor, plan_tiles, predict_all
from gaptorch.kernels._triton import resolve_seed
from gaptorch.methods import gap, n2n
from gaptorch.model_card import model_card
from gaptorch.model_folder import ModelSpec, load_model_folder, save_model_folder
from gaptorch.pretrained import resolve_model_path
from gaptorch.symmetry import symmetric_mean
from gaptorch.train_api import train_model
from gaptorch.training import choose_device


class Denoiser:
    """A trained denoising network with what it needs to read camera data.

    Build one with `Denoiser.from_pretrained(...)` or `Denoiser.train(...)`.
    """

    def __init__(
        self,
        network: nn.Module,
        spec: ModelSpec,
        device: str | torch.device | None = None,
        fast: FastPaths | None = None,
    ) -> None:
        if spec.method not in ("gap", "n2n"):
            raise ValueError(f"a Denoiser needs a 'gap' or 'n2n' model, got method {spec.method!r}")
        self.device = choose_device(device)
        self.network = network.to(self.device).eval()
        self.spec = spec
        self.fast = fast or FastPaths()
        self._predict = network_predictor(self.network, self.device, self.fast)

    @property
    def dims(self) -> int:
        """Spatial dimensions the network works in (2 or 3)."""
        return int(self.spec.network["dims"])

    @property
    def channels(self) -> int:
        """Image channels the network takes."""
        return int(self.spec.network["in_channels"])

    @property
    def reads_counts(self) -> bool:
        """True when inputs must be photon counts (or calibrated to them): GAP models.

        Noise2Noise models standardise each image and read any finite data as they are.
        """
        return self.spec.method != "n2n"

    @property
    def calibration(self) -> Calibration | None:
        """Gain/offset of the training data, used when `denoise` gets none."""
        return Calibration(**self.spec.calibration) if self.spec.calibration else None

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike | None = None,
        device: str | torch.device | None = None,
        fast: FastPaths | None = None,
    ) -> Denoiser:
        """Load a bundled model by name (None: the default) or a model folder by path.

        Raises:
            ValueError: unknown name, or a folder that is not a denoising model.
            FileNotFoundError: a path that is not a model folder.
        """
        device = choose_device(device)
        network, spec = load_model_folder(resolve_model_path(name_or_path, kind="denoiser"), device)
        return cls(network, spec, device, fast)

    def save_pretrained(self, directory: str | os.PathLike, card: str | None = None) -> None:
        """Write config.json, model.safetensors and a README.md model card to `directory`."""
        save_model_folder(directory, self.network, self.spec, card or model_card(self.spec))

    @classmethod
    def train(
        cls,
        data: Any,
        *,
        method: str = "gap",
        steps: int,
        seed: int | None = None,
        **options: Any,
    ) -> Denoiser:
        """Train a denoiser on `data` (arrays or image files; noisy data for "gap").

        Args:
            data: an array, a file path, or a list of them.
            method: "gap" (self-supervised on noisy counts) or "n2n" (pairs of noisy
                images of one scene, see `gaptorch.methods.n2n.N2NOptions`: `pairs`,
                `loss`, `target`; architecture "light_unet" by default, or "unet").
            steps: optimiser steps.
            seed: makes the run reproducible.
            **options: `axes`, `gain`/`offset` ("auto" to estimate), `architecture` and
                `network` (constructor keywords), `dims`, `channels`, GAP options
                (`psnr_range`, `curriculum`, `supervision`), and any `TrainConfig` field
                (`batch_size`, `patch_size`, `lr`, `checkpoint_dir`, `resume`, ...).

        Raises:
            TypeError: unknown options.
            ValueError: bad data or option values.
        """
        network, spec, device, _ = train_model(
            data, kind="denoiser", method=method, steps=steps, seed=seed, options=options
        )
        return cls(network, spec, device)

    def _calibration_for(self, image: np.ndarray, gain: Any, offset: Any) -> Calibration:
        if gain is None and offset is None and self.calibration is not None:
            return self.calibration
        return resolve_calibration(image, gain, offset)

    def _prepare(
        self, image: Any, axes: str | None, gain: Any, offset: Any
    ) -> tuple[np.ndarray, Layout, Calibration, torch.Tensor]:
        array = np.asarray(image)
        if array.ndim < 2 or array.size < 2 or min(array.shape) < 1:
            raise ValueError(
                f"image must have at least 2 dims and 2 pixels, got shape {array.shape}"
            )
        if array.dtype.kind not in "uifb":
            raise TypeError(f"image must be numeric, got dtype {array.dtype}")
        if self.spec.method == "n2n":
            calibration, values = n2n.data_units(array)
        else:
            calibration = self._calibration_for(array, gain, offset)
            values = calibration.to_counts(array)
        layout = Layout.of(array.shape, axes, self.dims, self.channels)
        counts = torch.from_numpy(np.ascontiguousarray(layout.to_model(values)))
        return array, layout, calibration, counts

    def denoise(
        self,
        image: Any,
        axes: str | None = None,
        *,
        gain: float | str | None = None,
        offset: float | str | None = None,
        tile: int | tuple[int, ...] | None = None,
        overlap: int | tuple[int, ...] | None = None,
        batch_size: int | None = None,
        symmetries: int = 1,
    ) -> np.ndarray:
        """MMSE estimate of the clean image, in the input's units and shape (float32).

        Args:
            image: array of any size with `axes` (guessed when None, see `axes.default_axes`).
            axes: letters of STCZYX, e.g. "YX", "ZYX", "TYX", "YXC".
            gain: camera units per photon; "auto" estimates it (and the offset); None
                uses the model's calibration, else requires photon counts. A Noise2Noise
                model reads any finite data as they are and ignores gain and offset: it
                standardises each image, which undoes both exactly.
            offset: the camera's zero level, with the same choices as `gain`.
            tile: tile size per spatial dim (default: whole images when they fit in free
                memory, else tiles).
            overlap: blending width between tiles per spatial dim (default: from the
                network's receptive field, see `gaptorch.inference`).
            batch_size: images or tiles per forward pass (default: from free memory).
            symmetries: average the estimate over this many flips and rotations of the
                YX plane (1, 2, 4 or 8; see `gaptorch.symmetry`): a little more accuracy
                for that many times the compute.

        Raises:
            ValueError: bad axes or shape, non-finite data, data that are not counts
                without calibration, a channel count the model does not take, bad
                `symmetries`.
            TypeError: non-numeric data.
        """
        _, layout, calibration, counts = self._prepare(image, axes, gain, offset)
        multiples = self.network.multiples

        def predict(x: torch.Tensor) -> torch.Tensor:
            plan = plan_tiles(
                tuple(x.shape[2:]),
                self.device,
                tile,
                overlap,
                network=self.network,
                images=x.shape[0],
                channels=self.channels,
                batch_size=batch_size,
            )
            return predict_all(self._predict, x, plan, multiples)

        estimate = symmetric_mean(
            lambda x: _estimate(self.spec.method, predict, x), counts, symmetries
        )
        return calibration.from_counts(layout.from_model(estimate.numpy()))

    def sample(
        self,
        image: Any,
        n: int,
        *,
        axes: str | None = None,
        max_psnr: float = 30.0,
        beta: float = 0.1,
        seed: int | None = None,
        gain: float | str | None = None,
        offset: float | str | None = None,
        max_photons: float | None = None,
        max_steps: int = 100_000,
        tile: int | tuple[int, ...] | None = None,
        overlap: int | tuple[int, ...] | None = None,
        batch_size: int | None = None,
        trajectory_every: int | None = None,
    ) -> np.ndarray | tuple[np.ndarray, list[np.ndarray]]:
        """Posterior samples ("diversity denoising"): photons added until `max_psnr`.

        Each sample is scaled back to the input's photon total (per channel, as `denoise`)
        and units, so samples and `denoise` output are comparable; their mean approaches the
        MMSE estimate.

        Returns:
            (n, *image.shape) float32 samples; with `trajectory_every`, also the photon
            canvases (n, *image.shape) every that many steps.

        Raises:
            ValueError: as `denoise`; n < 1; a Noise2Noise model (it cannot sample).
        """
        if self.spec.method != "gap":
            raise ValueError(
                f"posterior sampling needs a GAP model, this one is {self.spec.method!r}"
            )
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        _, layout, calibration, counts = self._prepare(image, axes, gain, offset)
        plan = plan_tiles(
            layout.spatial_shape,
            self.device,
            tile,
            overlap,
            network=self.network,
            images=n * counts.shape[0],
            channels=self.channels,
            batch_size=batch_size,
        )
        start = counts.repeat(n, *([1] * (counts.ndim - 1))).to(self.device)
        result = gap.accumulate(
            lambda x: predict_all(self._predict, x, plan, self.network.multiples),
            start,
            max_psnr=max_psnr,
            beta=beta,
            max_photons=max_photons,
            max_steps=max_steps,
            seed=resolve_seed(seed),
            trajectory_every=trajectory_every,
        )
        samples = gap.rescale_to_counts(result.photons, start).cpu().numpy()
        per_sample = samples.reshape(n, *counts.shape)
        out = np.stack([calibration.from_counts(layout.from_model(s)) for s in per_sample])
        if trajectory_every is None:
            return out
        steps = [
            np.stack([layout.from_model(s) for s in t.numpy().reshape(n, *counts.shape)])
            for t in result.trajectory
        ]
        return out, steps


def _estimate(method: str, predict: gap.Predict, counts: torch.Tensor) -> torch.Tensor:
    """The network's estimate of clean `counts`, per method.

    Photon units for GAP, the input's units for Noise2Noise.
    """
    if method == "gap":
        return gap.mmse(predict, counts)
    if method == "n2n":
        return n2n.estimate(predict, counts)
    raise ValueError(f"no estimate for method {method!r}")
