"""ONNX Runtime as a latency device of `scalesearch cost`."""

from __future__ import annotations

import sys

import pytest

from scalesearch.cost.latency import LatencySpec
from scalesearch.errors import ScalesearchError
from tests.helpers import main_json, run_main

TINY = ("cost", "wrn", "depth=10", "widen_factor=1", "resolution=8", "--method", "analytic")
TIMING = ("--latency", "--device", "onnxruntime", "--warmup", "1", "--repeats", "2")


def test_cost_latency_on_onnxruntime_is_measured_then_cached() -> None:
    first = main_json(*TINY, *TIMING)
    assert first["latency_ms"] > 0
    assert first["latency"]["device"] == "onnxruntime" and first["latency"]["runs"] == 2
    assert first["latency"]["device_name"].startswith("onnxruntime")
    assert first["latency"]["cached"] is False
    again = main_json(*TINY, *TIMING)
    assert again["latency"]["cached"] is True and again["latency_ms"] == first["latency_ms"]


def test_onnxruntime_times_fp32_only() -> None:
    with pytest.raises(ScalesearchError, match="device onnxruntime times fp32"):
        LatencySpec(device="onnxruntime", dtype="bf16")
    res = run_main(*TINY, *TIMING, "--channels-last")
    assert res.returncode == 2 and "channels_last=True" in res.stderr


def test_a_missing_onnxruntime_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if it were not installed
    res = run_main(*TINY, *TIMING)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    assert "pip install 'scalesearch[export]'" in res.stderr
