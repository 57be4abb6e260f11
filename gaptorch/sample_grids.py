"""Sample grids written while a generator trains, to see it learn (and stop a bad run).

`Generator.train(..., sample_every=500, sample_dir="run/samples")` writes
`samples-<step>.png` (16 images, always the same seed, from the weights that training
returns: the EMA copy when there is one) every 500 steps and at the last step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gaptorch.acceleration import FastPaths
from gaptorch.io.grid import save_grid
from gaptorch.model_folder import ModelSpec

Monitor = Callable[[int, nn.Module], None]


@dataclass(frozen=True)
class SampleGrids:
    """Where and how often sample grids are written."""

    every: int
    directory: Path
    count: int = 16
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.every, int) or self.every < 1:
            raise ValueError(f"sample_every must be a positive int, got {self.every!r}")

    @classmethod
    def take(cls, options: dict[str, Any]) -> SampleGrids | None:
        """Pop `sample_every` and `sample_dir` from training options (both or neither).

        Raises:
            ValueError: only one of them, or a bad `sample_every`.
        """
        every, directory = options.pop("sample_every", None), options.pop("sample_dir", None)
        if every is None and directory is None:
            return None
        if every is None or directory is None:
            raise ValueError("sample_every and sample_dir go together: give both or neither")
        return cls(every, Path(directory))

    def monitor(self, spec: ModelSpec, device: torch.device, total_steps: int) -> Monitor:
        """The per-step call of the training loop that writes a grid when one is due.

        `spec` needs what generation reads: the method settings, the intensity and the
        training patch (the sample shape).
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        width = len(str(total_steps))

        def write(step: int, network: nn.Module) -> None:
            if step % self.every and step != total_steps:
                return
            # Imported here: the Generator module imports the training code that calls this.
            from gaptorch.generator import Generator

            was_training = network.training
            try:
                generator = Generator(network, spec, device, FastPaths(compile=False))
                images = generator.generate(self.count, seed=self.seed)
            finally:
                network.train(was_training)
            save_grid(self.directory / f"samples-{step:0{width}d}.png", images)

        return write
