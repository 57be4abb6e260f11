"""Exponential moving average of a network's weights."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """Keeps `shadow`, a copy of the network whose weights trail it: w <- d*w + (1-d)*w_new.

    The effective decay ramps up as (1 + n) / (10 + n) so early averages are not
    dominated by the random initialisation.
    """

    def __init__(self, network: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema_decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.updates = 0
        self.shadow = copy.deepcopy(network).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, network: nn.Module) -> None:
        """Move the shadow weights towards `network`'s."""
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for shadow, current in zip(
            self.shadow.state_dict().values(),
            network.state_dict().values(),
            strict=True,
        ):
            if shadow.dtype.is_floating_point:
                shadow.lerp_(current, 1.0 - decay)
            else:
                shadow.copy_(current)

    def state_dict(self) -> dict:
        """Shadow weights and update count, for checkpoints."""
        return {"shadow": self.shadow.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        """Restore from `state_dict()`."""
        self.shadow.load_state_dict(state["shadow"])
        self.updates = int(state["updates"])
