"""`Generator`: a trained network that makes new images from nothing."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from torch import nn

from gaptorch.acceleration import FastPaths
from gaptorch.config import take
from gaptorch.inference import network_predictor, plan_tiles, predict_all
from gaptorch.kernels._triton import resolve_seed
from gaptorch.methods import ddpm, gap
from gaptorch.model_card import model_card
from gaptorch.model_folder import ModelSpec, load_model_folder, save_model_folder
from gaptorch.pretrained import resolve_model_path
from gaptorch.train_api import train_model
from gaptorch.training import choose_device


class Generator:
    """A generative model: GAP (photons accumulated on an empty canvas) or DDPM.

    Build one with `Generator.from_pretrained(...)` or `Generator.train(...)`.
    """

    def __init__(
        self,
        network: nn.Module,
        spec: ModelSpec,
        device: str | torch.device | None = None,
        fast: FastPaths | None = None,
    ) -> None:
        if spec.method not in ("gap", "ddpm"):
            raise ValueError(
                f"a Generator needs a 'gap' or 'ddpm' model, got method {spec.method!r}"
            )
        self.device = choose_device(device)
        self.network = network.to(self.device).eval()
        self.spec = spec
        self.fast = fast or FastPaths()
        self._predict = network_predictor(self.network, self.device, self.fast)

    @property
    def channels(self) -> int:
        """Channels of generated images."""
        return int(self.spec.network["in_channels"])

    @property
    def default_shape(self) -> tuple[int, ...]:
        """The spatial shape the model was trained on."""
        return tuple(self.spec.training.get("patch", (64,) * int(self.spec.network["dims"])))

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike | None = None,
        device: str | torch.device | None = None,
        fast: FastPaths | None = None,
    ) -> Generator:
        """Load a bundled generator by name (None: the default) or a model folder by path.

        Raises:
            ValueError: unknown name, or a folder that holds no generative model.
            FileNotFoundError: a path that is not a model folder.
        """
        device = choose_device(device)
        network, spec = load_model_folder(
            resolve_model_path(name_or_path, kind="generator"), device
        )
        return cls(network, spec, device, fast)

    def save_pretrained(self, directory: str | os.PathLike, card: str | None = None) -> None:
        """Write config.json, model.safetensors and a README.md model card to `directory`."""
        save_model_folder(directory, self.network, self.spec, card or model_card(self.spec))

    @classmethod
    def train(
        cls, data: Any, *, method: str = "gap", steps: int, seed: int | None = None, **options: Any
    ) -> Generator:
        """Train a generator on images (`data`: arrays, files, or a list of them).

        GAP trains on counts simulated from the images ("clean" supervision) unless
        `supervision="self"` is given for noisy count data. Options as `Denoiser.train`.

        Raises:
            TypeError: unknown options.
            ValueError: bad data or option values.
        """
        network, spec, device, _ = train_model(
            data, kind="generator", method=method, steps=steps, seed=seed, options=options
        )
        return cls(network, spec, device)

    def generate(
        self,
        n: int,
        shape: tuple[int, ...] | None = None,
        *,
        seed: int | None = None,
        max_psnr: float = 30.0,
        beta: float = 0.1,
        batch_size: int = 64,
        max_steps: int = 100_000,
        trajectory_every: int | None = None,
        sampler: ddpm.Sampler = "ddim",
        steps: int | None = None,
        eta: float = 0.0,
    ) -> np.ndarray | tuple[np.ndarray, list[np.ndarray]]:
        """Generate `n` images of spatial `shape` (default: the training patch size).

        GAP accumulates photons from an empty canvas until `max_psnr`; the result is
        scaled to the training data's mean intensity (`max_psnr`, `beta`, `max_steps`
        and `trajectory_every` are GAP's). DDPM denoises pure noise with `sampler`
        "ddim" (`steps`, default min(50, T), and `eta`) or "ddpm" (ancestral, all T steps by
        default, see `gaptorch.methods.ddpm.sample`) and maps [-1, 1] back to the
        training data's range.

        Returns:
            float32 (n, *shape) for one channel, (n, *shape, C) for colour; with
            `trajectory_every`, also the photon canvases every that many steps.

        Raises:
            ValueError: n < 1, a shape of the wrong length; for DDPM a bad sampler,
                steps or eta, a trajectory, or a shape off the network's grid; for GAP
                a sampler, steps or eta.
        """
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        shape = tuple(shape) if shape is not None else self.default_shape
        dims = int(self.spec.network["dims"])
        if len(shape) != dims or any(int(s) < 1 for s in shape):
            raise ValueError(f"shape must be {dims} positive sizes, got {shape}")
        seed = resolve_seed(seed)
        if self.spec.method == "ddpm":
            if trajectory_every is not None:
                raise ValueError("trajectory_every applies to GAP generators only")
            return self._generate_ddpm(n, shape, seed, batch_size, sampler, steps, eta)
        if (sampler, steps, eta) != ("ddim", None, 0.0):
            raise ValueError("sampler, steps and eta apply to DDPM generators; this one is GAP")
        plan = plan_tiles(
            shape,
            self.device,
            network=self.network,
            images=min(n, batch_size),
            channels=self.channels,
        )
        images, trajectory = [], []
        for first in range(0, n, batch_size):
            count = min(batch_size, n - first)
            canvas = torch.zeros(count, self.channels, *shape, device=self.device)
            result = gap.accumulate(
                lambda x: predict_all(self._predict, x, plan, self.network.multiples),
                canvas,
                max_psnr=max_psnr,
                beta=beta,
                max_steps=max_steps,
                seed=(seed + first) % 2**63,
                trajectory_every=trajectory_every,
            )
            images.append(self._to_data_units(result.photons))
            trajectory.append(result.trajectory)
        out = np.concatenate(images)
        if trajectory_every is None:
            return out
        steps = min(len(t) for t in trajectory)
        return out, [np.concatenate([self._layout(t[i]) for t in trajectory]) for i in range(steps)]

    def _generate_ddpm(
        self,
        n: int,
        shape: tuple[int, ...],
        seed: int,
        batch_size: int,
        sampler: ddpm.Sampler,
        steps: int | None,
        eta: float,
    ) -> np.ndarray:
        """DDPM or DDIM samples in [-1, 1], mapped back to the training data's range."""
        settings = take(dict(self.spec.method_config), ddpm.DDPMOptions)
        scheduler = ddpm.DDPMOptions(**settings).scheduler()
        low, high = float(self.spec.intensity["low"]), float(self.spec.intensity["high"])
        images = []
        for first in range(0, n, batch_size):
            count = min(batch_size, n - first)
            generator = torch.Generator().manual_seed((seed + first) % 2**63)
            with self.fast.autocast(self.device):
                x = ddpm.sample(
                    self.network,
                    scheduler,
                    (count, self.channels, *shape),
                    generator=generator,
                    device=self.device,
                    sampler=sampler,
                    steps=steps,
                    eta=eta,
                )
            images.append(self._layout(ddpm.from_unit_range(x.float(), low, high).cpu()))
        return np.concatenate(images)

    def _to_data_units(self, photons: torch.Tensor) -> np.ndarray:
        """Scale each canvas to the training data's mean intensity."""
        batch = photons.shape[0]
        means = photons.reshape(batch, -1).mean(dim=1).clamp_min(1e-12)
        target = float(self.spec.intensity.get("mean", 1.0))
        scaled = photons / means.view(-1, *([1] * (photons.ndim - 1))) * target
        return self._layout(scaled.cpu())

    def _layout(self, images: torch.Tensor) -> np.ndarray:
        """(N, C, *spatial) -> (N, *spatial) for one channel, (N, *spatial, C) otherwise."""
        array = images.float().numpy()
        if self.channels == 1:
            return array[:, 0]
        return np.moveaxis(array, 1, -1)
