"""Which measurements the throughput benchmark plans, per device."""

import pytest

import gaptorch.benchmarks.throughput as throughput


def _train_variants(device, dims):
    rows = throughput.cases(device, throughput.QUICK_SHAPES, 3)
    return {r["variant"] for r in rows if r["measure"] == "train" and r["dims"] == dims}


@pytest.mark.parametrize("native", [True, False])
def test_cpu_training_rows_compare_bf16_only_where_the_cpu_computes_it(monkeypatch, native):
    monkeypatch.setattr(throughput, "cpu_computes_bf16", lambda: native)
    expected = {"all fast paths", "no bf16"} if native else {"all fast paths"}
    assert _train_variants("cpu", 2) == expected
    assert _train_variants("cpu", 3) == {"all fast paths"}  # 3D trains in float32 on CPUs


def test_cuda_training_rows_compare_bf16_and_compilation():
    for dims in (2, 3):
        assert _train_variants("cuda", dims) == {"all fast paths", "no bf16", "compiled"}
