"""Running under `torchrun`: who am I, which device is mine, and talking to the other ranks.

A process started by torchrun has RANK, LOCAL_RANK and WORLD_SIZE in its environment;
`join()` then starts the process group (NCCL on GPUs, gloo on CPUs) once. Without
torchrun every function here describes a world of one, so single-process code paths stay
plain and pay nothing.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    """This process's place among the ranks."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0 writes logs, checkpoints and summaries."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """More than one process."""
        return self.size > 1


def launched() -> bool:
    """True when torchrun (or an equivalent launcher) started this process with world size > 1."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def join(device: torch.device) -> World:
    """Start (once) the process group when launched by torchrun; a world of one otherwise.

    Args:
        device: the device chosen for this run; CUDA uses NCCL and this rank's local GPU.
    """
    if not launched():
        return World()
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
        # Exiting with the group alive can abort the process ("terminate called without
        # an active exception" from gloo's threads): leave it cleanly first.
        atexit.register(_leave)
    return current()


def _leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def current() -> World:
    """The world of an initialised process group, or a world of one."""
    if not (dist.is_available() and dist.is_initialized()):
        return World()
    return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def rank_device(device: torch.device, world: World) -> torch.device:
    """A rank's own GPU under torchrun (cuda:LOCAL_RANK); the given device otherwise."""
    if world.distributed and device.type == "cuda" and device.index is None:
        return torch.device("cuda", world.local_rank)
    return device


def barrier(world: World) -> None:
    """Wait for every rank (no-op in a world of one)."""
    if world.distributed:
        dist.barrier()


def gather(value: Any, world: World) -> list[Any]:
    """Every rank's `value`, in rank order (a list of one in a world of one)."""
    if not world.distributed:
        return [value]
    values: list[Any] = [None] * world.size
    dist.all_gather_object(values, value)
    return values


def mean_across(value: float, world: World) -> float:
    """The mean of a float over ranks (for logs)."""
    return float(sum(gather(value, world)) / world.size)
