"""Triton availability, backend choice and seeds, shared by every kernel.

Importing this module never fails without Triton: `HAS_TRITON` says whether jit kernels
can be defined. Triton runs on CUDA tensors, or on CPU tensors when the interpreter
(`TRITON_INTERPRET=1`, set before Triton is imported) is on.
"""

from __future__ import annotations

import os
from typing import Literal

import torch

try:
    import triton  # noqa: F401
    import triton.language as tl  # noqa: F401

    HAS_TRITON = True
except ImportError:  # pragma: no cover - depends on the platform
    HAS_TRITON = False

INTERPRETER = os.environ.get("TRITON_INTERPRET", "0") == "1"

Backend = Literal["triton", "torch"]


def triton_runs_on(device: torch.device) -> bool:
    """Whether a Triton kernel can run on tensors of `device`."""
    if not HAS_TRITON:
        return False
    if device.type == "cuda":
        return not INTERPRETER
    return device.type == "cpu" and INTERPRETER


def choose_backend(backend: str | None, device: torch.device, op: str) -> Backend:
    """Resolve `backend` ("triton", "torch", "auto" or None) for tensors on `device`.

    Raises:
        ValueError: for an unknown backend name.
        RuntimeError: when "triton" is asked for and cannot run on `device`.
    """
    if backend is None or backend == "auto":
        return "triton" if device.type == "cuda" and triton_runs_on(device) else "torch"
    if backend == "torch":
        return "torch"
    if backend == "triton":
        if not triton_runs_on(device):
            reason = (
                "Triton is not installed"
                if not HAS_TRITON
                else f"tensors are on {device.type} and Triton runs on CUDA, or on the CPU "
                "only with TRITON_INTERPRET=1 set before start-up"
            )
            raise RuntimeError(f"{op}: backend='triton' cannot run here: {reason}")
        return "triton"
    raise ValueError(f"{op}: backend must be 'triton', 'torch' or 'auto', got {backend!r}")


def resolve_seed(seed: int | None) -> int:
    """Return `seed`, or draw one from torch's default generator so `torch.manual_seed` rules.

    Raises:
        TypeError: when `seed` is not an int.
        ValueError: when `seed` is outside [0, 2**63).
    """
    if seed is None:
        return int(torch.randint(0, 2**62, (), dtype=torch.int64).item())
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int or None, got {type(seed).__name__}")
    if not 0 <= seed < 2**63:
        raise ValueError(f"seed must be in [0, 2**63), got {seed}")
    return seed


def seeded_generator(seed: int, device: torch.device) -> torch.Generator:
    """A torch.Generator on `device` seeded with `seed` (the reference backends draw from it)."""
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator


def launch_block(numel: int) -> int:
    """Elements per program for kernels over images of `numel` elements.

    512 on a GPU; 8192 in the interpreter, whose cost is per operation rather than per
    element. Kernels that draw random numbers give the same result for any block size.
    """
    cap = 8192 if INTERPRETER else 512
    return max(16, min(cap, 1 << max(0, numel - 1).bit_length()))


def warps(block: int, per_thread: int) -> int:
    """Warps that give each thread `per_thread` elements of a `block` (1 to 32).

    Inversion samplers take four elements a thread (one Philox call each); float64
    rejection samplers one (about 80 registers each on sm_90: more would spill).
    """
    return max(1, min(32, block // (32 * per_thread)))


def persistent_programs(device: torch.device, blocks: int) -> int:
    """Programs for a kernel that strides over `blocks` and works on few of them.

    Two per SM on a GPU: launching one program per block would cost a block
    scheduling round each even where a block has nothing to do.
    """
    if device.type == "cuda":
        return min(blocks, 2 * torch.cuda.get_device_properties(device).multi_processor_count)
    return min(blocks, 8)
