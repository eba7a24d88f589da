"""ONNX Runtime as a latency device: the network exported to a temporary ONNX file and timed in an
``InferenceSession`` on the CPU execution provider, with the discipline of
:func:`scalesearch.cost.latency.measure` (warm-up runs, then timed runs; it takes their median)."""

from __future__ import annotations

import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from scalesearch.export.onnx import export_onnx, require, session
from scalesearch.export.parity import example_input


def threads() -> int:
    """Intra-op threads of the session: torch's CPU thread count, so the two devices compare."""
    return torch.get_num_threads()


def device_name() -> str:
    """Names the runtime, its version, the CPU and the thread count (the cache key's device)."""
    require("onnxruntime")
    import onnxruntime as ort

    return (
        f"onnxruntime{ort.__version__}:cpu:{platform.machine()}:{platform.processor() or 'unknown'}:"
        f"{threads()}threads"
    )


def time_onnxruntime(
    model: nn.Module,
    resolution: int,
    batch_size: int,
    warmup: int,
    repeats: int,
    progress: Callable[[int, int, str], None] | None = None,
    channels: int = 3,
) -> list[float]:
    """Export ``model`` to a temporary ONNX file; the milliseconds of ``repeats`` timed runs of a
    ``batch_size`` batch after ``warmup`` untimed ones (``progress(done, total, what)`` before each)."""
    tell = progress or (lambda done, total, what: None)
    total = warmup + repeats
    model = model.eval().float()
    with tempfile.TemporaryDirectory(prefix="scalesearch-ort-") as tmp:
        path = Path(tmp) / "model.onnx"
        export_onnx(model, example_input(channels, resolution), path)
        sess = session(path, threads())
    feed = {sess.get_inputs()[0].name: example_input(channels, resolution, batch_size).numpy()}
    times = []
    for i in range(warmup):
        tell(i, total, "warm-up runs")
        sess.run(None, feed)
    for i in range(repeats):
        tell(warmup + i, total, "timed runs")
        start = time.perf_counter()
        sess.run(None, feed)
        times.append((time.perf_counter() - start) * 1000)
    tell(total, total, "runs")
    return times
