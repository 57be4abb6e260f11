"""Inception-v3 features from a local TorchScript file, for the FID proper.

gaptorch cannot download or ship Inception weights. Users who have the TorchScript
Inception that StyleGAN2-ADA and clean-fid use (`inception-2015-12-05.pt`, the TF FID
network) pass its path: with these features the Fréchet distance is the FID, comparable
with published numbers. The file's calling convention is kept as it is: uint8
(N, 3, H, W) images in [0, 255] (it resizes to 299x299 itself) and
`return_features=True` for the 2048-d pool features.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import torch

from gaptorch.training import choose_device


class InceptionFeatures:
    """Callable images -> (N, D) features of a TorchScript Inception from a local file.

    Images are (N, H, W) grayscale (repeated to three channels) or (N, H, W, 3) RGB in
    [0, 255]; values outside are clipped and the rest rounded to uint8, as the file expects.
    """

    name = "FID (Inception-v3)"

    def __init__(
        self,
        path: str | os.PathLike,
        device: str | torch.device | None = None,
        batch_size: int = 64,
    ) -> None:
        """Load the TorchScript module at `path`.

        Raises:
            FileNotFoundError: no file at `path`.
            ValueError: a file that is not a TorchScript module.
        """
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no Inception file at {path}")
        self.device = choose_device(device)
        try:
            with warnings.catch_warnings():
                # torch 2.10+ deprecates TorchScript; this file exists only in that format.
                warnings.simplefilter("ignore", DeprecationWarning)
                module = torch.jit.load(os.fspath(path), map_location=self.device)
            self.module = module.eval()
        except RuntimeError as error:
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise ValueError(
                f"{path} is not a TorchScript module (save one with torch.jit.save): {first_line}"
            ) from None
        self.batch_size = batch_size

    @torch.no_grad()
    def __call__(self, images: np.ndarray) -> np.ndarray:
        """(N, D) float64 features.

        Raises:
            ValueError: images that are not (N, H, W), (N, H, W, 1) or (N, H, W, 3).
        """
        array = np.asarray(images, np.float32)
        if array.ndim == 3:
            array = array[..., None]
        if array.ndim != 4 or array.shape[-1] not in (1, 3):
            raise ValueError(f"images must be (N, H, W) or (N, H, W, 3), got shape {array.shape}")
        pixels = np.clip(np.round(array), 0, 255).astype(np.uint8)
        x = torch.from_numpy(np.ascontiguousarray(pixels)).permute(0, 3, 1, 2)
        x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        parts = [
            self.module(chunk.contiguous().to(self.device), return_features=True).double().cpu()
            for chunk in x.split(self.batch_size)
        ]
        return torch.cat(parts).reshape(len(pixels), -1).numpy()
