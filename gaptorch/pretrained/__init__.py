"""Models shipped inside the package, loaded by name with no network and checked by SHA-256."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent


@dataclass(frozen=True)
class BundledModel:
    """A model folder in this package and the SHA-256 of its weights file."""

    folder: str
    sha256: str
    kind: str
    summary: str


BUNDLED: dict[str, BundledModel] = {
    "gap-fluo-2d": BundledModel(
        "gap-fluo-2d",
        "44b983fe3dc44abfe032a7157ff0d05bcdad6757f49494b9b9fb47eba620a593",
        "denoiser",
        "GAP, grayscale fluorescence 2D, PSNR curriculum (-16..32 dB), "
        "CPU-trained (recipe: recipes.py)",
    ),
    "gap-photo-rgb": BundledModel(
        "gap-photo-rgb",
        "d09ee9b4cfef7935d06173a86c08ae62362551c340f7dadc84c5fb308ed96abd",
        "denoiser",
        "GAP, RGB photos, PSNR curriculum (-16..32 dB), CPU-trained (recipe: recipes.py)",
    ),
    "ddpm-fashion": BundledModel(
        "ddpm-fashion",
        "c36c2aef6a8060923e1ffbb48b115eab625e4d83b375f483e403bcfe5b236596",
        "generator",
        "DDPM, Fashion-MNIST 32x32, small CPU budget (recipe: generator_recipes.py)",
    ),
    "gap-gen-fashion": BundledModel(
        "gap-gen-fashion",
        "5a08826f6a78e9d453873c26abffd3c7bc272705c61da3574d875f45db43f8bb",
        "generator",
        "GAP generator, Fashion-MNIST 28x28, small CPU budget (recipe: generator_recipes.py)",
    ),
}
DEFAULTS = {"denoiser": "gap-fluo-2d", "generator": "gap-gen-fashion"}


def list_models() -> list[str]:
    """Names of the bundled models."""
    return sorted(BUNDLED)


def sha256_of(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve_model_path(name_or_path: str | os.PathLike | None, *, kind: str) -> Path:
    """The folder of a model given by path, bundled name, or None for the default of `kind`.

    Bundled weights are checked against their recorded SHA-256 before use.

    Raises:
        ValueError: neither an existing folder nor a bundled name, or a checksum mismatch.
    """
    name = DEFAULTS[kind] if name_or_path is None else name_or_path
    path = Path(name)
    if path.is_dir():
        return path
    if isinstance(name, str) and name in BUNDLED:
        entry = BUNDLED[name]
        folder = HERE / entry.folder
        actual = sha256_of(folder / "model.safetensors")
        if actual != entry.sha256:
            raise ValueError(
                f"bundled model {name!r} failed its checksum (sha256 {actual[:12]}..., expected "
                f"{entry.sha256[:12]}...): the package files are damaged; reinstall gaptorch"
            )
        return folder
    known = ", ".join(list_models()) or "none are bundled in this version"
    raise ValueError(
        f"model {str(name)!r} is neither a model folder nor a bundled model (bundled: {known})"
    )
