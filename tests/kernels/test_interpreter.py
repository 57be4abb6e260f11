"""Runs the `triton`-marked kernel tests under TRITON_INTERPRET=1 when this session cannot.

The variable must be set before Triton is imported, so a plain `python -m pytest` (as
CI runs it) starts one subprocess for them with the same marker expression and reports
its output if any fails. Sessions started with the variable set, or with CUDA, run the
tests in-process and skip this one.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gaptorch.kernels._triton import HAS_TRITON

TIMEOUT_S = 900


def test_triton_kernels_pass_under_the_interpreter(pytestconfig, in_process_device):
    if not HAS_TRITON:
        pytest.skip("Triton is not installed")
    if in_process_device is not None:
        pytest.skip("Triton runs in this session: the triton-marked tests ran in-process")
    markexpr = pytestconfig.getoption("markexpr")
    expression = f"triton and ({markexpr})" if markexpr else "triton"
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    env.setdefault("OMP_NUM_THREADS", "1")
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(Path(__file__).parent),
        "-m",
        expression,
        "-q",
        "-p",
        "no:cacheprovider",
    ]
    result = subprocess.run(
        command,
        cwd=pytestconfig.rootpath,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    if result.returncode == 5:
        pytest.skip(f"no triton tests match -m {expression!r}")
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    print(result.stdout.strip().splitlines()[-1])
