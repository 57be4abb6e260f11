"""A model on disk: `config.json`, `model.safetensors` and a `README.md` model card.

Loading reads JSON and raw tensors only; nothing is unpickled, so a model folder from
anywhere cannot run code.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from gaptorch._version import __version__
from gaptorch.io.write import write_atomically
from gaptorch.models import architecture_config, build

FORMAT = "gaptorch-model"
CONFIG_NAME, WEIGHTS_NAME, CARD_NAME = "config.json", "model.safetensors", "README.md"


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild and use a trained network (the config.json).

    Args:
        kind: "denoiser" or "generator" (what it was trained for).
        method: "gap", "n2n" or "ddpm".
        architecture: registry name of the network.
        network: the network's constructor keywords.
        training: settings and data the model was trained with (for the record).
        method_config: method settings needed at inference (e.g. a noise schedule).
        calibration: gain/offset of the training data, used when none is given.
        intensity: how generated images map back to data units.
    """

    kind: Literal["denoiser", "generator"]
    method: Literal["gap", "n2n", "ddpm"]
    architecture: str
    network: dict[str, Any]
    training: dict[str, Any] = field(default_factory=dict)
    method_config: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, float] | None = None
    intensity: dict[str, float] = field(default_factory=dict)
    gaptorch_version: str = __version__
    format: str = FORMAT
    format_version: int = 1

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str) -> ModelSpec:
        """Parse a config.json dict.

        Raises:
            ValueError: not a gaptorch model, or unknown/missing keys.
        """
        if data.get("format") != FORMAT:
            raise ValueError(
                f"{source} is not a gaptorch model config (format {data.get('format')!r})"
            )
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"{source}: unknown config keys {unknown}")
        try:
            return cls(**data)
        except TypeError as error:
            raise ValueError(f"{source}: {error}") from None


def save_model_folder(
    directory: str | os.PathLike, network: nn.Module, spec: ModelSpec, card: str
) -> Path:
    """Write the three files of a model folder (each atomically) and return the folder."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
    write_atomically(
        folder / WEIGHTS_NAME, lambda p: save_file(tensors, p, metadata={"format": "pt"})
    )
    text = json.dumps(dataclasses.asdict(spec), indent=2, sort_keys=True) + "\n"
    write_atomically(folder / CONFIG_NAME, lambda p: Path(p).write_text(text))
    write_atomically(folder / CARD_NAME, lambda p: Path(p).write_text(card))
    return folder


def read_model_spec(directory: str | os.PathLike) -> ModelSpec:
    """The config of a model folder, without loading its weights.

    Raises:
        FileNotFoundError: the folder, its config.json or its weights file is missing.
        ValueError: a config that is not valid JSON or not a gaptorch model's.
    """
    folder = Path(directory)
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder} is not a model folder: {name} is missing")
    try:
        data = json.loads((folder / CONFIG_NAME).read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{folder / CONFIG_NAME} is not valid JSON: {error}") from None
    return ModelSpec.from_dict(data, str(folder / CONFIG_NAME))


def find_model_folders(root: str | os.PathLike, depth: int = 2) -> list[Path]:
    """Model folders at `root` and up to `depth` levels below it (hidden folders skipped)."""
    root = Path(root)
    found, level = [], [root]
    for _ in range(depth + 1):
        found += [f for f in level if (f / CONFIG_NAME).is_file() and (f / WEIGHTS_NAME).is_file()]
        children = [c for f in level for c in sorted(f.iterdir())]
        level = [c for c in children if c.is_dir() and not c.name.startswith(".")]
    return found


def load_model_folder(
    directory: str | os.PathLike, device: torch.device
) -> tuple[nn.Module, ModelSpec]:
    """Rebuild the network of a model folder with its weights, in eval mode on `device`.

    Raises:
        FileNotFoundError: the folder or one of its files is missing.
        ValueError: a bad config, or weights that do not fit the architecture.
    """
    folder = Path(directory)
    spec = read_model_spec(folder)
    network = build(spec.architecture, **architecture_config(spec.architecture, **spec.network))
    state = load_file(str(folder / WEIGHTS_NAME))
    expected = network.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    misshapen = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    if missing or unexpected or misshapen:
        raise ValueError(
            f"{folder / WEIGHTS_NAME} does not fit architecture {spec.architecture!r} "
            f"{spec.network}: missing {missing[:3]}, unexpected {unexpected[:3]}, "
            f"wrong shape {misshapen[:3]}"
        )
    network.load_state_dict(state)
    return network.to(device).eval(), spec
