"""Auxiliary losses of deep supervision: the objective's loss on extra logits of the network.

A network that leaves `auxiliary_logits` (tensors shaped like its output) and an
`auxiliary_weight` after a training-mode forward (`gaptorch.models.multiscale`) gets
`weight * mean(loss(aux, target))` added to the loss of its main output. Validation runs
the network in eval mode, where the list is empty, so validation losses stay comparable
with other architectures.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from gaptorch.training import Objective


class AuxiliaryObjective:
    """Wraps an objective; its loss adds the weighted mean loss of the auxiliary logits."""

    def __init__(self, objective: Objective, network: nn.Module) -> None:
        self.objective, self.network = objective, network

    def pair(
        self, batch: torch.Tensor, step: int, total_steps: int, generator: torch.Generator
    ) -> tuple[Any, torch.Tensor]:
        """The wrapped objective's input and target."""
        return self.objective.pair(batch, step, total_steps, generator)

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Main loss plus `auxiliary_weight` times the mean auxiliary loss (training mode only)."""
        loss = self.objective.loss(output, target)
        auxiliary = self.network.auxiliary_logits if self.network.training else []
        if not auxiliary:
            return loss
        extra = torch.stack([self.objective.loss(a.float(), target) for a in auxiliary]).mean()
        return loss + self.network.auxiliary_weight * extra

    def describe(self, step: int, total_steps: int) -> dict[str, float]:
        """The wrapped objective's log numbers."""
        return self.objective.describe(step, total_steps)


def with_auxiliary_loss(objective: Objective, network: nn.Module) -> Objective:
    """`objective` wrapped in `AuxiliaryObjective` if `network` has auxiliary logits, else as is."""
    if hasattr(network, "auxiliary_logits"):
        return AuxiliaryObjective(objective, network)
    return objective
