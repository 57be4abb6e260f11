import logging
import threading
import time

import pytest
import torch

import gaptorch.acceleration as acceleration
from gaptorch.acceleration import FastPaths, compiled, prefetched
from gaptorch.models import build


def test_prefetched_keeps_order_and_reads_ahead():
    produced = []

    def items():
        for i in range(6):
            produced.append(i)
            yield i

    seen = []
    for item in prefetched(items(), depth=2):
        time.sleep(0.01)
        seen.append((item, len(produced)))
    assert [item for item, _ in seen] == list(range(6))
    assert any(count > item + 1 for item, count in seen)  # the producer ran ahead


def test_prefetched_raises_the_producers_error_where_it_happened():
    def items():
        yield 1
        raise ValueError("unreadable page 2")

    iterator = prefetched(items())
    assert next(iterator) == 1
    with pytest.raises(ValueError, match="unreadable page 2"):
        next(iterator)


def test_a_consumer_that_stops_early_stops_the_producer():
    def endless():
        i = 0
        while True:
            yield i
            i += 1

    before = threading.active_count()
    iterator = prefetched(endless(), depth=1)
    assert next(iterator) == 0
    iterator.close()
    deadline = time.time() + 5
    while threading.active_count() > before and time.time() < deadline:
        time.sleep(0.05)
    assert threading.active_count() == before


def test_prefetch_off_is_a_plain_loop():
    assert list(prefetched(iter([3, 4]), enabled=False)) == [3, 4]


def test_failed_compilation_falls_back_to_eager_with_a_warning(monkeypatch, caplog):
    def broken_compile(module):
        def run(*args):
            raise RuntimeError("no C++ compiler found")

        return run

    monkeypatch.setattr(acceleration.torch, "compile", broken_compile)
    network = build("unet", depth=2, start_filters=4, levels=3).eval()
    module = compiled(network, torch.device("cpu"), FastPaths(compile=True), training=False)
    x = torch.poisson(torch.full((1, 1, 16, 16), 2.0))
    with caplog.at_level(logging.WARNING, logger="gaptorch"):
        out = module(x)
    assert "torch.compile failed" in caplog.text
    torch.testing.assert_close(out, network(x))


def test_compile_defaults_to_cuda_training_only():
    fast = FastPaths()
    assert fast.compiles(torch.device("cuda"), training=True)
    assert not fast.compiles(torch.device("cuda"), training=False)
    assert not fast.compiles(torch.device("cpu"), training=True)
    assert FastPaths(compile=True).compiles(torch.device("cpu"), training=False)


@pytest.mark.slow
def test_compiled_network_matches_eager_on_cpu():
    network = build("unet", depth=2, start_filters=4, levels=3).eval()
    module = compiled(network, torch.device("cpu"), FastPaths(compile=True), training=False)
    x = torch.poisson(torch.full((1, 1, 32, 32), 2.0))
    with torch.no_grad():
        torch.testing.assert_close(module(x), network(x), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("native", [True, False])
def test_cpu_bf16_autocast_only_where_asked_for_and_native(monkeypatch, native):
    monkeypatch.setattr(acceleration, "cpu_computes_bf16", lambda: native)
    cpu = torch.device("cpu")
    with FastPaths(bf16_cpu=True).autocast(cpu):
        assert torch.is_autocast_enabled("cpu") is native
    with FastPaths().autocast(cpu):  # inference default: float32 logits
        assert not torch.is_autocast_enabled("cpu")


def test_training_asks_for_cpu_bf16_and_amp_off_turns_it_off():
    from gaptorch.training import TrainConfig

    assert TrainConfig(steps=1).fast.bf16_cpu
    assert not TrainConfig(steps=1, amp=False).fast.bf16_cpu


def test_cpu_bf16_probe_answers_a_bool():
    assert isinstance(acceleration.cpu_computes_bf16(), bool)


def test_cpu_bf16_is_for_2d_networks_only():
    fast = FastPaths(bf16_cpu=True)
    flat = build("unet", dims=2, depth=2, start_filters=4, levels=3)
    deep = build("unet", dims=3, depth=2, start_filters=4, levels=3)
    assert fast.for_network(flat).bf16_cpu
    assert not fast.for_network(deep).bf16_cpu
    assert fast.for_network(deep).bf16  # CUDA bf16 is untouched
