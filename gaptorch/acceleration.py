"""Speed switches for training and inference, each on by default where it is correct.

bf16 autocast acts on CUDA, and for 2D networks on CPUs with native bf16 (AVX512-BF16 or
AMX) where asked for (training: half the step time on such a CPU, measured); it keeps
softmax and losses in float32: callers cast outputs with `.float()`. channels_last acts
on CUDA only;
torch.compile is opt-in for inference and on by default for CUDA training, where
thousands of steps amortise the compilation (inductor caches compiled graphs on disk
between runs); a compile that fails falls back to eager execution with a warning, never
an error.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from queue import Full, Queue
from threading import Event, Thread, stack_size
from typing import Any, TypeVar

import torch
from torch import nn

LOG = logging.getLogger("gaptorch")
T = TypeVar("T")
READER_STACK_BYTES = 512 * 1024


@dataclass(frozen=True)
class FastPaths:
    """Which speed-ups to use.

    Args:
        bf16: bf16 autocast on CUDA.
        bf16_cpu: bf16 autocast on a CPU that computes bf16 natively, for 2D networks
            (off by default: inference keeps float32 logits, whose rounding would show at
            high counts; see `for_network` for 3D).
        channels_last: channels-last memory format for 2D networks on CUDA.
        compile: torch.compile the network (None: only for CUDA training).
        prefetch: read the next block of a file while the current one is computed.
    """

    bf16: bool = True
    bf16_cpu: bool = False
    channels_last: bool = True
    compile: bool | None = None
    prefetch: bool = True
    version: int = 1

    def compiles(self, device: torch.device, training: bool) -> bool:
        """Whether to compile for `device` (auto: CUDA training only)."""
        return self.compile if self.compile is not None else (training and device.type == "cuda")

    def autocast(self, device: torch.device) -> contextlib.AbstractContextManager:
        """bf16 autocast where enabled for `device` (see the Args), else a no-op."""
        if device.type == "cpu":
            enabled = self.bf16_cpu and cpu_computes_bf16()
        else:
            enabled = self.bf16 and device.type == "cuda"
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)

    def for_network(self, network: nn.Module) -> FastPaths:
        """These paths as they apply to `network`: CPU bf16 only for 2D networks.

        3D training in CPU bf16 diverged (NaN loss at step 4 on the shipped nuclei
        Z-stack, default 3D U-Net; float32 trains), so 3D networks stay in float32 there.
        """
        if self.bf16_cpu and getattr(network, "dims", 2) != 2:
            return dataclasses.replace(self, bf16_cpu=False)
        return self

    def format_input(self, x: torch.Tensor) -> torch.Tensor:
        """`x` in the memory format the network was put in."""
        if self.channels_last and x.is_cuda and x.ndim == 4:
            return x.contiguous(memory_format=torch.channels_last)
        return x


@functools.cache
def cpu_computes_bf16() -> bool:
    """Whether this CPU has native bf16 matrix instructions (else bf16 is emulated, slower)."""
    try:
        return bool(
            torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
        )
    except (AttributeError, RuntimeError):  # a build without the oneDNN probe
        return False


def prepare(network: nn.Module, device: torch.device, fast: FastPaths) -> nn.Module:
    """Move `network` to `device`, in channels-last format where that is on and useful."""
    network.to(device)
    if fast.channels_last and device.type == "cuda" and getattr(network, "dims", 2) == 2:
        network.to(memory_format=torch.channels_last)
    return network


def compiled(
    module: nn.Module, device: torch.device, fast: FastPaths, *, training: bool
) -> nn.Module:
    """`module` compiled when `fast` says so (with an eager fallback), else `module`."""
    return _CompiledOrEager(module) if fast.compiles(device, training) else module


class _CompiledOrEager(nn.Module):
    """torch.compile of a module that falls back to the module itself if compiling fails."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network
        self._compiled: Callable[..., Any] | None = torch.compile(network)

    def forward(self, *args: Any) -> Any:
        if self._compiled is not None:
            try:
                return self._compiled(*args)
            except Exception as error:  # a backend failure must not stop the run
                LOG.warning(
                    "torch.compile failed (%s); running eagerly", str(error).splitlines()[0]
                )
                self._compiled = None
        return self.network(*args)


def prefetched(items: Iterable[T], enabled: bool = True, depth: int = 2) -> Iterator[T]:
    """Yield `items`, producing up to `depth` ahead in a thread (file reads release the GIL).

    An exception in the producer is raised where the consumer reaches it; a consumer that
    stops early (an error, a skipped file) stops the producer too.
    """
    if not enabled:
        yield from items
        return
    queue: Queue = Queue(maxsize=depth)
    stop = Event()
    done = object()

    def put(entry: tuple[Any, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                queue.put(entry, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
        except BaseException as error:  # handed to the consumer
            put((None, error))
            return
        put((done, None))

    # The reader needs little stack; the default (RLIMIT_STACK, often 8 MiB of address space)
    # would be taken from the memory that tiles and batches were planned with.
    previous = stack_size(READER_STACK_BYTES)
    try:
        Thread(target=produce, daemon=True).start()
    finally:
        stack_size(previous)
    try:
        while True:
            item, error = queue.get()
            if error is not None:
                raise error
            if item is done:
                return
            yield item
    finally:
        stop.set()
