"""Latency: a dtype without native arithmetic is named before timing; progress while measuring."""

from __future__ import annotations

from torch import nn

from scalesearch.cost.latency import LatencySpec, emulated_dtype, measure


def test_bf16_on_a_cpu_without_native_bf16_is_flagged():
    warning = emulated_dtype("cpu", "bf16", flags={"avx2", "fma"})
    assert warning is not None and "emulated" in warning and "--dtype fp32" in warning
    assert emulated_dtype("cpu", "bf16", flags={"avx512_bf16"}) is None
    assert emulated_dtype("cpu", "bf16", flags={"amx_bf16"}) is None
    assert emulated_dtype("cpu", "fp16", flags={"avx2"}) is not None
    assert emulated_dtype("cpu", "fp32", flags=set()) is None


def test_measure_reports_each_run():
    seen: list[tuple[int, int, str]] = []
    measure(
        nn.Conv2d(3, 4, 3), 8, LatencySpec(warmup=2, repeats=3), lambda d, t, what: seen.append((d, t, what))
    )
    assert [d for d, _, _ in seen] == [0, 1, 2, 3, 4, 5] and {t for _, t, _ in seen} == {5}
    assert seen[0][2] == "warm-up runs" and seen[2][2] == "timed runs"
