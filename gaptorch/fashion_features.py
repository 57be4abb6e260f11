"""Image features for the Fréchet distance: a small Fashion-MNIST classifier, bundled.

Three conv-ReLU-pool stages and a 128-unit hidden layer whose activations are the
features; trained for class labels by `gaptorch.pretrained.fashion_features_recipe` and
shipped in `gaptorch/pretrained/fashion-features/` (config.json, model.safetensors,
README.md with its test accuracy), checked by SHA-256 when loaded.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from gaptorch._version import __version__
from gaptorch.pretrained import HERE, sha256_of

FOLDER = HERE / "fashion-features"
SHA256 = "aaed1507d144c5e866e1d67cae5258e4257f110be1209a8f27a11454383c7d88"
CLASS_NAME = "FashionClassifier"
INPUT_SIZE = 28
PEAK = 255.0


class FashionClassifier(nn.Module):
    """(B, 1, 28, 28) images in [0, 255] -> (B, classes) logits; `features` gives (B, hidden).

    Conv-ReLU-max-pool stages (28 -> 14 -> 7 -> 3), then the hidden layer on the flattened
    maps (spatial layout matters for clothes: a global average would discard it).
    """

    def __init__(
        self, widths: tuple[int, ...] = (16, 32, 64), hidden: int = 128, classes: int = 10
    ) -> None:
        super().__init__()
        channels = (1, *widths)
        self.convs = nn.ModuleList(
            nn.Conv2d(a, b, 3, padding=1) for a, b in zip(channels, channels[1:], strict=False)
        )
        side = INPUT_SIZE // 2 ** len(widths)  # each stage halves the 28x28 input (28 -> 3)
        self.hidden = nn.Linear(widths[-1] * side * side, hidden)
        self.classify = nn.Linear(hidden, classes)
        self.config = {"widths": list(widths), "hidden": hidden, "classes": classes}

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The hidden layer's activations (B, hidden)."""
        x = images.float() / PEAK
        for convolution in self.convs:
            x = F.max_pool2d(F.relu(convolution(x)), 2)
        return F.relu(self.hidden(x.flatten(1)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits."""
        return self.classify(self.features(images))

    def save_pretrained(self, directory: str | os.PathLike, card: str) -> None:
        """Write config.json (class, keywords, version), model.safetensors and README.md."""
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        save_file(tensors, str(folder / "model.safetensors"))
        config = {"class": CLASS_NAME, "config": self.config, "gaptorch_version": __version__}
        (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        (folder / "README.md").write_text(card)

    @classmethod
    def from_pretrained(
        cls, directory: str | os.PathLike, sha256: str | None = None
    ) -> FashionClassifier:
        """Load a folder written by `save_pretrained` (optionally checking its weights' hash).

        Raises:
            FileNotFoundError: a missing file.
            ValueError: another class, a checksum mismatch, or weights that do not fit.
        """
        folder = Path(directory)
        config = json.loads((folder / "config.json").read_text())
        if config.get("class") != CLASS_NAME:
            raise ValueError(f"{folder} holds a {config.get('class')!r}, not a {CLASS_NAME}")
        weights = folder / "model.safetensors"
        if sha256 and sha256_of(weights) != sha256:
            raise ValueError(f"{weights} failed its checksum: the package files are damaged")
        network = cls(**{**config["config"], "widths": tuple(config["config"]["widths"])})
        state = load_file(str(weights))
        missing = sorted(set(network.state_dict()) - set(state))
        unexpected = sorted(set(state) - set(network.state_dict()))
        if missing or unexpected:
            raise ValueError(
                f"{weights} does not fit: missing {missing[:3]}, unexpected {unexpected[:3]}"
            )
        network.load_state_dict(state)
        return network.eval()


class FashionFeatures:
    """Callable images -> (N, hidden) features of a `FashionClassifier`.

    Images are (N, H, W) (or (N, H, W, 1)) in Fashion-MNIST units (0-255); other sizes
    are resized (bilinear, antialiased) to 28x28 first.
    """

    def __init__(self, network: FashionClassifier, batch_size: int = 512) -> None:
        self.network = network.eval()
        self.batch_size = batch_size

    @classmethod
    def bundled(cls) -> FashionFeatures:
        """The classifier shipped with gaptorch."""
        return cls(FashionClassifier.from_pretrained(FOLDER, SHA256))

    @torch.no_grad()
    def __call__(self, images: np.ndarray) -> np.ndarray:
        """(N, hidden) float64 features.

        Raises:
            ValueError: images that are not (N, H, W) or (N, H, W, 1).
        """
        array = np.asarray(images, np.float32)
        if array.ndim == 4 and array.shape[-1] == 1:
            array = array[..., 0]
        if array.ndim != 3:
            raise ValueError(f"images must be (N, H, W) grayscale, got shape {array.shape}")
        x = torch.from_numpy(np.ascontiguousarray(array))[:, None]
        if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
            x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", antialias=True)
        parts = [self.network.features(chunk) for chunk in x.split(self.batch_size)]
        return torch.cat(parts).double().numpy()
