"""The training loop every method shares: optimiser, schedule, validation, checkpoints.

A method supplies an `Objective`: how a batch of patches becomes (network input,
target), and the loss of the network's output against the target. The loop owns the
rest: Adam/AdamW, warm-up + cosine or constant learning rate, gradient clipping, bf16
autocast on CUDA, a held-out validation set, EMA weights, atomic checkpoints with
exact resume, a CSV log and progress lines.

Under torchrun the same loop runs DistributedDataParallel: every rank draws its own
batches (so the global batch is ranks x batch_size), rank 0 writes logs and checkpoints.
Random numbers for step k on rank r come from a generator seeded with (seed, r, k), so a
run resumed from a checkpoint, on any number of ranks, needs no saved random state and a
resumed run on the same ranks ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import csv
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import torch
from torch import nn

from gaptorch.acceleration import FastPaths, compiled, prepare
from gaptorch.config import to_dict
from gaptorch.data import PatchSampler
from gaptorch.distributed import World, join, mean_across, rank_device
from gaptorch.ema import EMA

CHECKPOINT_NAME = "checkpoint.pt"
LOG_FIELDS = ("step", "loss", "val_loss", "lr", "psnr_low", "psnr_high", "seconds")


class Objective(Protocol):
    """What a method tells the loop."""

    def pair(
        self, batch: torch.Tensor, step: int, total_steps: int, generator: torch.Generator
    ) -> tuple[Any, torch.Tensor]:
        """Network input (a tensor or a tuple of them) and target for a batch of patches."""

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Scalar loss of the network output against the target."""

    def describe(self, step: int, total_steps: int) -> dict[str, float]:
        """Extra per-step numbers for the log (e.g. the PSNR range)."""


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run (every method).

    Args:
        steps: optimiser steps.
        batch_size: patches per step.
        patch_size: patch edge, or one per spatial dim; None is 64 in 2D and 32 in 3D
            (shrunk to the smallest image).
        lr: peak learning rate.
        optimizer: "adam" or "adamw".
        weight_decay: AdamW/Adam weight decay.
        schedule: "cosine" (decay to 1 % of lr) or "constant", after a linear warm-up.
        warmup_steps: warm-up length; None is min(100, steps // 10).
        grad_clip: clip the gradient norm to this (None: off).
        val_fraction: data held out for validation (see `data.split_validation`).
        val_every: steps between validation losses.
        val_batches: validation batches (fixed patches and fixed splits).
        keep_best: return the weights with the lowest validation loss (when there is
            validation data) instead of the last ones; guards against a network that
            starts to memorise a small noisy data set late in a run.
        ema_decay: keep an EMA of the weights and return it (None: off).
        checkpoint_dir: where `checkpoint.pt` is written (None: no checkpoints).
        checkpoint_every: steps between checkpoints (and one at the end).
        resume: continue from `checkpoint_dir/checkpoint.pt` if it exists.
        seed: makes crops, augmentation, splits and initialisation reproducible.
        device: "cpu", "cuda", "cuda:1", or None for CUDA when available.
        amp: bf16 autocast on CUDA and on CPUs that compute bf16 natively (loss in float32).
        channels_last: channels-last memory format for 2D networks on CUDA.
        compile: torch.compile the network; None compiles on CUDA only (see
            `gaptorch.acceleration`).
        log_csv: append one row per logged step to this CSV file.
        log_every: steps between log rows and progress lines.
        progress: print progress lines to stderr.
        augment: dihedral augmentation of patches.
    """

    steps: int
    batch_size: int = 16
    patch_size: int | tuple[int, ...] | None = None
    lr: float = 1e-3
    optimizer: Literal["adam", "adamw"] = "adamw"
    weight_decay: float = 0.0
    schedule: Literal["cosine", "constant"] = "cosine"
    warmup_steps: int | None = None
    grad_clip: float | None = 1.0
    val_fraction: float = 0.1
    val_every: int = 100
    val_batches: int = 4
    keep_best: bool = True
    ema_decay: float | None = None
    checkpoint_dir: str | None = None
    checkpoint_every: int = 500
    resume: bool = False
    seed: int | None = None
    device: str | None = None
    amp: bool = True
    channels_last: bool = True
    compile: bool | None = None
    log_csv: str | None = None
    log_every: int = 25
    progress: bool = False
    augment: bool = True
    version: int = 1

    def __post_init__(self) -> None:
        positive = {
            "steps": self.steps,
            "batch_size": self.batch_size,
            "val_every": self.val_every,
            "checkpoint_every": self.checkpoint_every,
            "log_every": self.log_every,
        }
        for name, value in positive.items():
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive number, got {self.lr}")
        if self.optimizer not in ("adam", "adamw"):
            raise ValueError(f"optimizer must be 'adam' or 'adamw', got {self.optimizer!r}")
        if self.schedule not in ("cosine", "constant"):
            raise ValueError(f"schedule must be 'cosine' or 'constant', got {self.schedule!r}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"grad_clip must be > 0 or None, got {self.grad_clip}")
        if self.resume and self.checkpoint_dir is None:
            raise ValueError("resume=True needs checkpoint_dir")
        sizes = (self.patch_size,) if isinstance(self.patch_size, int) else self.patch_size or ()
        if any(not isinstance(s, int) or s < 2 for s in sizes):
            raise ValueError(f"patch_size must be ints >= 2, got {self.patch_size!r}")

    @property
    def fast(self) -> FastPaths:
        """The fast paths this run uses."""
        return FastPaths(
            bf16=self.amp, bf16_cpu=self.amp, channels_last=self.channels_last, compile=self.compile
        )

    @property
    def warmup(self) -> int:
        """Warm-up steps actually used."""
        return min(100, self.steps // 10) if self.warmup_steps is None else self.warmup_steps

    def patch(self, dims: int) -> tuple[int, ...]:
        """Patch size per spatial dim."""
        if self.patch_size is None:
            return (64,) * dims if dims == 2 else (32,) * dims
        if isinstance(self.patch_size, int):
            return (self.patch_size,) * dims
        if len(self.patch_size) != dims:
            raise ValueError(f"patch_size needs {dims} values, got {self.patch_size}")
        return tuple(self.patch_size)


@dataclass
class TrainResult:
    """What a run leaves: the log rows and the wall time."""

    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    resumed_from: int = 0
    best_step: int | None = None


def choose_device(device: str | torch.device | None) -> torch.device:
    """The requested device, or CUDA when available, else the CPU.

    Raises:
        RuntimeError: a CUDA device was asked for and none is available.
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {device} was requested but CUDA is not available")
    return device


def _learning_rate_factor(config: TrainConfig) -> Callable[[int], float]:
    warmup, steps = config.warmup, config.steps

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if config.schedule == "constant":
            return 1.0
        progress = (step - warmup) / max(1, steps - warmup)
        return 0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def _make_optimizer(network: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    return cls(network.parameters(), lr=config.lr, weight_decay=config.weight_decay)


def _forward(network: nn.Module, inputs: Any) -> torch.Tensor:
    return network(*inputs) if isinstance(inputs, tuple) else network(inputs)


def _formatted(inputs: Any, fast: FastPaths) -> Any:
    if isinstance(inputs, tuple):
        return tuple(_formatted(x, fast) for x in inputs)
    return fast.format_input(inputs)


def _to_device(inputs: Any, device: torch.device) -> Any:
    if isinstance(inputs, tuple):
        return tuple(_to_device(x, device) for x in inputs)
    return inputs.to(device, non_blocking=True)


class _Logger:
    """CSV rows and progress lines."""

    def __init__(self, config: TrainConfig, history: list[dict[str, float]]) -> None:
        self.config = config
        self.path = Path(config.log_csv) if config.log_csv else None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("w", newline="") as handle:
                writer = csv.DictWriter(handle, LOG_FIELDS)
                writer.writeheader()
                writer.writerows(history)

    def write(self, row: dict[str, float]) -> None:
        if self.path is not None:
            with self.path.open("a", newline="") as handle:
                csv.DictWriter(handle, LOG_FIELDS).writerow(row)
        if self.config.progress:
            val = "" if math.isnan(row["val_loss"]) else f"  val {row['val_loss']:.4f}"
            print(
                f"step {row['step']:>6}/{self.config.steps}  loss {row['loss']:.4f}{val}"
                f"  lr {row['lr']:.2e}  {row['seconds']:.0f}s",
                file=sys.stderr,
                flush=True,
            )


def step_seed(seed: int | None, rank: int, step: int) -> int:
    """The seed of rank `rank`'s random numbers at training step `step`."""
    mixed = (
        (0 if seed is None else seed) * 0x9E3779B97F4A7C15
        + rank * 0xBF58476D1CE4E5B9
        + step * 0x94D049BB133111EB
    )
    return mixed % 2**63


def _wrap(network: nn.Module, device: torch.device, world: World) -> nn.Module:
    """The module to call for training: DDP around `network` when there are several ranks."""
    if not world.distributed:
        return network
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(
        network, device_ids=[device.index] if device.type == "cuda" else None
    )


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write atomically: a crash mid-write leaves the previous checkpoint intact."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    torch.save(state, partial)
    os.replace(partial, path)


def run_training(
    network: nn.Module,
    objective: Objective,
    train_sampler: PatchSampler,
    validation_sampler: PatchSampler | None,
    config: TrainConfig,
    monitor: Callable[[int, nn.Module], None] | None = None,
) -> tuple[nn.Module, TrainResult]:
    """Train `network` in place and return the weights to keep (the EMA copy if enabled).

    `monitor(steps_done, weights)`, if given, is called on the main rank after every step
    with the weights a run would return now (e.g. to write sample grids).

    With `resume`, a run continues from `checkpoint_dir/checkpoint.pt` (weights, optimiser,
    schedule, EMA, random state and log), so an interrupted run ends with the same weights
    as an uninterrupted one; without a checkpoint there it starts afresh.

    Raises:
        RuntimeError: a CUDA device was requested without CUDA.
        FloatingPointError: the loss became NaN or infinite.
    """
    world = join(choose_device(config.device))
    device = rank_device(choose_device(config.device), world)
    fast = config.fast.for_network(network)
    prepare(network, device, fast).train()
    model = compiled(_wrap(network, device, world), device, fast, training=True)
    generator = torch.Generator()
    optimizer = _make_optimizer(network, config)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, _learning_rate_factor(config))
    ema = EMA(network, config.ema_decay) if config.ema_decay else None
    result = TrainResult()
    validation = _validation_pairs(objective, validation_sampler, config) if world.is_main else []
    checkpoint = Path(config.checkpoint_dir) / CHECKPOINT_NAME if config.checkpoint_dir else None
    start = 0
    best: dict[str, Any] | None = None
    if config.resume and checkpoint is not None and checkpoint.exists():
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        network.load_state_dict(state["network"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        if ema is not None and state.get("ema") is not None:
            ema.load_state_dict(state["ema"])
        result.history = list(state["history"])
        start = result.resumed_from = int(state["step"])
        best = state.get("best")
    logger = _Logger(config, result.history) if world.is_main else None
    began = time.perf_counter() - (result.history[-1]["seconds"] if result.history else 0.0)
    running, counted = 0.0, 0
    for step in range(start, config.steps):
        generator.manual_seed(step_seed(config.seed, world.rank, step))
        batch = train_sampler.sample(config.batch_size, generator).to(device)
        inputs, target = objective.pair(batch, step, config.steps, generator)
        with fast.autocast(device):
            output = _forward(model, _formatted(inputs, fast))
        loss = objective.loss(output.float(), target)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"training loss became {loss.item()} at step {step}; lower lr")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip is not None:
            nn.utils.clip_grad_norm_(network.parameters(), config.grad_clip)
        optimizer.step()
        schedule.step()
        if ema is not None:
            ema.update(network)
        running, counted = running + float(loss.detach()), counted + 1
        done = step + 1
        if done % config.log_every == 0 or done % config.val_every == 0 or done == config.steps:
            mean_loss = mean_across(running / counted, world)
            if logger is not None:
                val_loss = math.nan
                if validation and (done % config.val_every == 0 or done == config.steps):
                    kept = ema.shadow if ema else network
                    val_loss = _validation_loss(kept, objective, validation, device, fast)
                    if config.keep_best and (best is None or val_loss < best["loss"]):
                        best = {"loss": val_loss, "step": done, "state": _copy_state(kept)}
                row = {
                    "step": done,
                    "loss": mean_loss,
                    "val_loss": val_loss,
                    "lr": optimizer.param_groups[0]["lr"],
                    "seconds": time.perf_counter() - began,
                    **objective.describe(step, config.steps),
                }
                row = {key: row.get(key, math.nan) for key in LOG_FIELDS}
                result.history.append(row)
                logger.write(row)
            running, counted = 0.0, 0
        if world.is_main and monitor is not None:
            monitor(done, ema.shadow if ema is not None else network)
        if (
            world.is_main
            and checkpoint is not None
            and (done % config.checkpoint_every == 0 or done == config.steps)
        ):
            _save_checkpoint(
                checkpoint,
                {
                    "step": done,
                    "network": network.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "schedule": schedule.state_dict(),
                    "ema": ema.state_dict() if ema else None,
                    "history": result.history,
                    "config": to_dict(config),
                    "world_size": world.size,
                    "best": best,
                },
            )
    result.seconds = time.perf_counter() - began
    kept = ema.shadow if ema is not None else network
    if best is not None:
        kept.load_state_dict(best["state"])
        result.best_step = int(best["step"])
    return kept.eval(), result


def _copy_state(network: nn.Module) -> dict[str, torch.Tensor]:
    """A CPU copy of the weights (cheap next to a validation pass)."""
    return {
        name: value.detach().to("cpu", copy=True) for name, value in network.state_dict().items()
    }


def _validation_pairs(
    objective: Objective, sampler: PatchSampler | None, config: TrainConfig
) -> list[tuple[Any, torch.Tensor]]:
    """Fixed validation batches: same patches and same splits at every evaluation."""
    if sampler is None or config.val_batches < 1:
        return []
    generator = torch.Generator().manual_seed(12345)
    return [
        objective.pair(
            sampler.sample(config.batch_size, generator), config.steps - 1, config.steps, generator
        )
        for _ in range(config.val_batches)
    ]


@torch.no_grad()
def _validation_loss(
    network: nn.Module,
    objective: Objective,
    pairs: Sequence[tuple[Any, torch.Tensor]],
    device: torch.device,
    fast: FastPaths,
) -> float:
    was_training = network.training
    network.eval()
    total = 0.0
    for inputs, target in pairs:
        with fast.autocast(device):
            output = _forward(network, _formatted(_to_device(inputs, device), fast))
        total += float(objective.loss(output.float(), target.to(device)))
    network.train(was_training)
    return total / len(pairs)
