"""Pseudo-PSNR ranges for training: fixed, or a curriculum that widens in phases."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Curriculum:
    """Training range that starts bright and lowers its lower bound phase by phase.

    Phase k trains on [max(start_low - k * step_db, min_psnr), start_high]. The seed study
    found one network trained this way matches a 9-model cascade within 0.35 dB.

    Args:
        start_low: lower bound of the first phase (dB).
        start_high: upper bound of every phase (dB).
        step_db: how far the lower bound drops per phase.
        min_psnr: the lowest bound, reached in the last phase.
        steps_per_phase: steps of each phase but the last (which runs to the end);
            None splits the run into equal phases.
    """

    start_low: float = 24.0
    start_high: float = 32.0
    step_db: float = 8.0
    min_psnr: float = -40.0
    steps_per_phase: int | None = None

    def __post_init__(self) -> None:
        if not self.start_low < self.start_high:
            raise ValueError(
                f"start_low must be < start_high, got {self.start_low}, {self.start_high}"
            )
        if self.step_db <= 0:
            raise ValueError(f"step_db must be > 0, got {self.step_db}")
        if self.min_psnr > self.start_low:
            raise ValueError(
                f"min_psnr must be <= start_low, got {self.min_psnr} > {self.start_low}"
            )
        if self.steps_per_phase is not None and self.steps_per_phase < 1:
            raise ValueError(f"steps_per_phase must be >= 1, got {self.steps_per_phase}")

    @property
    def phases(self) -> int:
        """Number of phases, the last one reaching `min_psnr`."""
        return 1 + math.ceil((self.start_low - self.min_psnr) / self.step_db - 1e-9)

    def range_at(self, step: int, total_steps: int) -> tuple[float, float]:
        """The (low, high) pseudo-PSNR range for training step `step` of `total_steps`."""
        length = self.steps_per_phase or max(1, math.ceil(total_steps / self.phases))
        phase = min(step // length, self.phases - 1)
        return max(self.start_low - phase * self.step_db, self.min_psnr), self.start_high
