"""Compiles every Triton kernel for an H100 (sm_90) without a GPU.

This catches lowering errors the interpreter never sees (types, layouts, float64
libdevice calls) and prints each kernel's registers and spills (`pytest -s`). It
skips where Triton cannot target CUDA here, and under the interpreter (whose kernels
are Python functions, not compilable).
"""

import importlib
import os
import subprocess
import tempfile

import pytest

from gaptorch.kernels._triton import HAS_TRITON, INTERPRETER, warps

SPLIT = {
    "counts_ptr": "*i32",
    "probs_ptr": "*fp32",
    "inp_ptr": "*fp32",
    "target_ptr": "*fp32",
    "totals_ptr": "*i64",
    "flags_ptr": "*i32",
    "numel": "i32",
    "chunks": "i32",
    "key": "i64",
    "call": "i32",
    "BLOCK": "constexpr",
}
STEP = {
    "logits_ptr": "*fp32",
    "photons_ptr": "*fp32",
    "mmse_ptr": "*fp32",
    "budget_ptr": "*fp32",
    "max_ptr": "*fp32",
    "sum_ptr": "*fp32",
    "totals_ptr": "*fp64",
    "flags_ptr": "*i32",
    "totals_stride": "i32",
    "numel": "i32",
    "chunks": "i32",
    "parts": "i32",
    "key": "i64",
    "call": "i32",
    "BLOCK": "constexpr",
    "PARTS": "constexpr",
    "HAS_TOTALS": "constexpr",
}
STEP_CONSTANTS = {"BLOCK": 512, "PARTS": 512, "HAS_TOTALS": True}
KERNELS = [  # module, kernel, signature, constexprs, elements per thread
    ("binomial_split", "_binomial_split_kernel", SPLIT, {"BLOCK": 512}, 4),
    (
        "binomial_split",
        "_binomial_split_rejection_kernel",
        {**SPLIT, "blocks": "i32"},
        {"BLOCK": 512},
        1,
    ),
    (
        "binomial_split",
        "_mean_one_kernel",
        {
            "target_ptr": "*fp32",
            "totals_ptr": "*i64",
            "numel": "i32",
            "chunks": "i32",
            "BLOCK": "constexpr",
        },
        {"BLOCK": 512},
        4,
    ),
    (
        "gap_step",
        "_softmax_partials_kernel",
        {
            "logits_ptr": "*fp32",
            "max_ptr": "*fp32",
            "sum_ptr": "*fp32",
            "numel": "i32",
            "tiles": "i32",
            "parts": "i32",
            "BLOCK": "constexpr",
        },
        {"BLOCK": 4096},
        16,
    ),
    ("gap_step", "_gap_step_kernel", STEP, STEP_CONSTANTS, 4),
    ("gap_step", "_gap_step_rejection_kernel", {**STEP, "blocks": "i32"}, STEP_CONSTANTS, 1),
    (
        "normalize",
        "_histogram_kernel",
        {
            "values_ptr": "*i32",
            "minima_ptr": "*i64",
            "hist_ptr": "*i32",
            "numel": "i32",
            "chunks": "i32",
            "bins": "i32",
            "BLOCK": "constexpr",
        },
        {"BLOCK": 512},
        4,
    ),
    (
        "normalize",
        "_affine_kernel",
        {
            "x_ptr": "*i32",
            "out_ptr": "*fp32",
            "shift_ptr": "*fp64",
            "scale_ptr": "*fp64",
            "numel": "i32",
            "chunks": "i32",
            "BLOCK": "constexpr",
        },
        {"BLOCK": 512},
        4,
    ),
]


def cuda_compiler():
    """(compile(kernel, signature, constexprs, warps) -> cubin bytes, cuobjdump path or None)."""
    if not HAS_TRITON or INTERPRETER:
        pytest.skip("needs Triton without the interpreter")
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    if "nvidia" not in triton.backends.backends:
        pytest.skip("this Triton has no CUDA backend")
    target = GPUTarget("cuda", 90, 32)

    def compile_cubin(kernel, signature, constexprs, num_warps):
        source = ASTSource(fn=kernel, signature=signature, constexprs=constexprs)
        return triton.compile(source, target=target, options={"num_warps": num_warps}).asm["cubin"]

    tools = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin")
    cuobjdump = os.path.join(tools, "cuobjdump")
    return compile_cubin, cuobjdump if os.path.exists(cuobjdump) else None


def resource_usage(cuobjdump: str | None, cubin: bytes) -> str:
    if cuobjdump is None:
        return "(no cuobjdump)"
    with tempfile.NamedTemporaryFile(suffix=".cubin") as file:
        file.write(cubin)
        file.flush()
        report = subprocess.run(
            [cuobjdump, "-res-usage", file.name], capture_output=True, text=True
        )
    lines = [line.strip() for line in report.stdout.splitlines() if "REG:" in line]
    return " ".join(lines[0].split()[:4]) if lines else report.stderr.strip()


def test_every_kernel_compiles_for_sm90():
    compile_cubin, cuobjdump = cuda_compiler()
    for module, name, signature, constexprs, per_thread in KERNELS:
        kernel = getattr(importlib.import_module(f"gaptorch.kernels.{module}"), name)
        num_warps = warps(constexprs["BLOCK"], per_thread)
        try:
            cubin = compile_cubin(kernel, signature, constexprs, num_warps)
        except RuntimeError as error:  # e.g. no ptxas for this platform
            if "ptxas" in str(error).lower():
                pytest.skip(f"cannot assemble for sm_90 here: {error}")
            raise
        assert isinstance(cubin, bytes) and cubin, f"{name}: the compiler returned no cubin"
        print(f"{name} (warps={num_warps}): {resource_usage(cuobjdump, cubin)}")
