"""Timing, environment capture and result files shared by the benchmarks.

Rows are flat dicts {op, provider, shape, photons, dtype, metric, unit, p20, p50, p80}:
time in ms (quantiles over repeats), GB/s from a stated byte count, speed-up against
the reference provider.
"""

from __future__ import annotations

import json
import platform
import re
import subprocess
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import torch

QUANTILES = (0.2, 0.5, 0.8)


def time_ms(fn: Callable[[], object], device: torch.device, *, repeats: int = 5) -> list[float]:
    """p20, p50, p80 of `fn`'s run time in ms.

    CUDA: `triton.testing.do_bench` (L2 flushed between runs); CPU: `repeats` timed
    runs after one warm-up.
    """
    if device.type == "cuda":
        import triton.testing

        return list(triton.testing.do_bench(fn, quantiles=list(QUANTILES)))
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return _quantiles(times)


def wall_ms(fn: Callable[[], object], device: torch.device, *, repeats: int = 3) -> list[float]:
    """Like `time_ms` for long end-to-end runs: synchronised wall clock, one warm-up."""

    def timed() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return (time.perf_counter() - start) * 1e3

    timed()
    return _quantiles([timed() for _ in range(repeats)])


def _quantiles(times: list[float]) -> list[float]:
    """p20, p50, p80 of `times`."""
    values = torch.tensor(times, dtype=torch.float64)
    return values.quantile(torch.tensor(QUANTILES, dtype=torch.float64)).tolist()


def _command_output(command: list[str]) -> str | None:
    try:
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def environment(device: torch.device) -> dict[str, object]:
    """Device name, library and driver versions, git commit, time."""
    try:
        import triton

        triton_version = triton.__version__
    except ImportError:
        triton_version = None
    cuda = device.type == "cuda"
    driver = _command_output(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"])
    return {
        "device": torch.cuda.get_device_name(device)
        if cuda
        else f"cpu ({platform.processor() or platform.machine()})",
        "cpu_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "triton": triton_version,
        "cuda": torch.version.cuda if cuda else None,
        "driver": driver.splitlines()[0] if cuda and driver else None,
        "python": platform.python_version(),
        "git_commit": _command_output(
            ["git", "-C", str(Path(__file__).parent), "rev-parse", "HEAD"]
        ),
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def slug(text: str) -> str:
    """A file-name-safe form of `text`: lower case, runs of other characters as "-"."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def device_slug(env: dict[str, object]) -> str:
    """A file-name-safe device name, e.g. "nvidia-h100-80gb-hbm3" or "cpu"."""
    name = str(env["device"])
    return "cpu" if name.startswith("cpu") else slug(name)


def row(
    op: str,
    provider: str,
    shape: tuple[int, ...],
    photons: float,
    dtype: str,
    metric: str,
    unit: str,
    values: list[float | None],
) -> dict[str, object]:
    """One flat result row; `values` are p20, p50, p80."""
    p20, p50, p80 = values
    return {
        "op": op,
        "provider": provider,
        "shape": "x".join(map(str, shape)),
        "photons": photons,
        "dtype": dtype,
        "metric": metric,
        "unit": unit,
        "p20": p20,
        "p50": p50,
        "p80": p80,
    }


def write_results(
    path: Path, env: dict[str, object], rows: list[dict[str, object]], summary: dict[str, object]
) -> None:
    """Write {environment, summary, rows} as indented JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps({"environment": env, "summary": summary, "rows": rows}, indent=1) + "\n"
    )


def _cell(value: object, width: int, digits: int) -> str:
    """A right-aligned number, or "-" where there is none."""
    return f"{value:>{width}.{digits}f}" if value is not None else " " * (width - 1) + "-"


def print_table(rows: list[dict[str, object]]) -> None:
    """Median time, GB/s and speed-up per (op, shape, photons, provider)."""
    table: dict[tuple, dict[str, object]] = {}
    for r in rows:
        key = (r["op"], r["shape"], r["photons"], r["provider"])
        table.setdefault(key, {})[r["metric"]] = r["p50"]
    header = (
        f"{'op':<15}{'shape':<18}{'photons':>8}  {'provider':<15}{'ms':>10}{'GB/s':>9}{'x ref':>8}"
    )
    print(header)
    print("-" * len(header))
    for (op, shape, photons, provider), metrics in table.items():
        print(
            f"{op:<15}{shape:<18}{photons:>8g}  {provider:<15}"
            f"{_cell(metrics.get('time'), 10, 3)}{_cell(metrics.get('bandwidth'), 9, 1)}"
            f"{_cell(metrics.get('speedup'), 8, 2)}"
        )
