"""Timings to calibrate on: warm-up, fixed threads, the median of repeats with its spread, outlier
runs rejected, a bounded time per point, and a busy machine noticed and said.

CUDA is timed with CUDA events around each run and a synchronisation before reading them; the CPU
with ``time.perf_counter``; ONNX Runtime through :func:`scalesearch.export.latency.time_onnxruntime`.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from scalesearch.cost.latency import DTYPES
from scalesearch.device import ONNXRUNTIME, resolve_device
from scalesearch.errors import ScalesearchError

SLOW_RUN = 1.3
"""A run slower than this multiple of the typical fast run is an outlier (the machine interrupted it)."""

NOISY_SPREAD = 0.25
"""A point whose interquartile range exceeds this share of its median is a noisy measurement."""


@dataclass(frozen=True)
class Timing:
    """Median and interquartile spread of the kept runs (ms), runs kept and rejected as outliers."""

    median_ms: float
    spread_ms: float
    runs: int
    rejected: int

    @property
    def rejected_share(self) -> float:
        return self.rejected / (self.runs + self.rejected)

    @property
    def relative_spread(self) -> float:
        return self.spread_ms / self.median_ms if self.median_ms > 0 else 0.0


def robust_summary(times: list[float]) -> Timing:
    """The median and interquartile range of the runs kept once outliers are rejected.

    A run that another process preempted is slower, never faster, so outliers are one-sided: runs
    more than :data:`SLOW_RUN` times the median of the fastest half are rejected (on an idle
    machine none are; on a busy one the runs kept are those that ran undisturbed).
    """
    if not times:
        raise ScalesearchError("a timing needs at least one run, but got none")
    fastest = sorted(times)[: max(1, (len(times) + 1) // 2)]
    base = statistics.median(fastest)
    kept = [t for t in times if t <= SLOW_RUN * base]
    q = statistics.quantiles(kept, n=4) if len(kept) >= 2 else [kept[0]] * 3
    return Timing(statistics.median(kept), q[2] - q[0], len(kept), len(times) - len(kept))


def combine_rounds(rounds: list[Timing]) -> Timing:
    """One timing from rounds of the same point taken apart in time: the median of the rounds'
    medians (a round a burst of load slowed is outvoted), the median spread, every run counted."""
    return Timing(
        statistics.median(r.median_ms for r in rounds),
        statistics.median(r.spread_ms for r in rounds),
        sum(r.runs for r in rounds),
        sum(r.rejected for r in rounds),
    )


def round_agreement(rounds: list[Timing]) -> float:
    """The largest relative difference of a round's median from the combined median (0: all agree)."""
    mid = combine_rounds(rounds).median_ms
    return max(abs(r.median_ms / mid - 1) for r in rounds) if mid > 0 else 0.0


def cpu_name() -> str:
    """The CPU model (``/proc/cpuinfo``'s model name where there is one)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return f"{platform.machine()} {platform.processor() or 'cpu'}".strip()


def hardware_name(device: str) -> str:
    """What a profile is tied to: the GPU's name, or the CPU's model (ONNX Runtime: its version too)."""
    if device == ONNXRUNTIME:
        import onnxruntime as ort

        return f"onnxruntime {ort.__version__} on {cpu_name()}"
    dev = resolve_device(device)
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    return cpu_name()


def busy_note(threads: int) -> str | None:
    """A warning when other processes compete for the CPUs (1-minute load average above the idle
    CPUs left after our ``threads``)."""
    try:
        load = os.getloadavg()[0]
    except OSError:
        return None
    cpus = os.cpu_count() or 1
    if load > max(cpus - threads, 0) + 0.5:
        return (
            f"the machine is busy (load average {load:.1f} on {cpus} CPUs, {threads} thread(s) timing): "
            "timings are noisy and slower than on an idle machine"
        )
    return None


def time_torch(
    model: nn.Module,
    x: torch.Tensor,
    device: torch.device,
    repeats: int,
    max_seconds: float,
    warmup: int = 2,
    clock: Callable[[], float] = time.perf_counter,
    warmup_seconds: float = 0.0,
) -> list[float]:
    """Milliseconds of up to ``repeats`` timed runs (at least 3), stopping after ``max_seconds`` of
    wall-clock time, after ``warmup`` untimed runs lasting ``warmup_seconds`` at least (caches,
    allocator, cuDNN's choices and the clocks settle); on the CPU each run is read on ``clock``
    (see :data:`CLOCKS`)."""
    cuda = device.type == "cuda"
    times: list[float] = []
    with torch.inference_mode():
        begun, runs = time.perf_counter(), 0
        while runs < warmup or (time.perf_counter() - begun < min(warmup_seconds, max_seconds)):
            model(x)
            runs += 1
            if cuda:
                torch.cuda.synchronize(device)
        start_all = time.perf_counter()
        while len(times) < repeats and (len(times) < 3 or time.perf_counter() - start_all < max_seconds):
            if cuda:
                begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                begin.record()
                model(x)
                end.record()
                torch.cuda.synchronize(device)
                times.append(float(begin.elapsed_time(end)))
            else:
                t0 = clock()
                model(x)
                times.append((clock() - t0) * 1000)
    return times


CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.thread_time}
"""How CPU runs are timed: ``wall`` (latency as a user sees it) or ``cpu``, the CPU time of the
timing thread, which other processes do not inflate: with one torch thread it equals the
wall-clock latency of an idle machine, so it calibrates a busy one."""


def choose_clock(clock: str, device: str, threads: int) -> tuple[str, str | None]:
    """The clock to time with (``auto``: ``cpu`` on a busy CPU with one thread, else ``wall``) and a
    note saying why where it is not ``wall``."""
    if clock not in (*CLOCKS, "auto"):
        raise ScalesearchError(f"clock must be one of auto, {', '.join(CLOCKS)}, but got clock={clock}")
    if device != "cpu" and clock == "cpu":
        raise ScalesearchError(f"the cpu clock times torch on the CPU only, but got device={device}")
    if clock == "auto":
        clock = "cpu" if device == "cpu" and threads == 1 and busy_note(threads) else "wall"
        if clock == "cpu":
            return clock, (
                "timed on the thread's CPU time, not wall-clock time, because the machine is busy: with one "
                "thread the two agree on an idle machine; --clock wall forces wall-clock time"
            )
    if clock == "cpu" and threads != 1:
        raise ScalesearchError(
            f"the cpu clock needs one torch thread (--threads 1), but got threads={threads}"
        )
    return clock, None


def measure_model(
    model: nn.Module,
    resolution: int,
    device: str,
    batch_size: int = 1,
    dtype: str = "fp32",
    repeats: int = 15,
    max_seconds: float = 1.0,
    channels: int = 3,
    clock: str = "wall",
) -> Timing:
    """Time ``model`` on a ``batch_size`` x ``channels`` x ``resolution``² input (threads as set)."""
    if device == ONNXRUNTIME:
        from scalesearch.export.latency import time_onnxruntime

        return robust_summary(
            time_onnxruntime(model, resolution, batch_size, 2, max(3, repeats // 2), None, channels)
        )
    model, x = on_device(model, resolution, device, batch_size, dtype, channels)
    warm = 0.1 if x.is_cuda else 0.02
    return robust_summary(
        time_torch(model, x, x.device, repeats, max_seconds, clock=CLOCKS[clock], warmup_seconds=warm)
    )


def on_device(
    model: nn.Module, resolution: int, device: str, batch_size: int, dtype: str, channels: int
) -> tuple[nn.Module, torch.Tensor]:
    """``model`` in eval mode on ``device`` in ``dtype``, and a random input batch for it there."""
    dev = resolve_device(device)
    torch_dtype = DTYPES[dtype]
    model = model.eval().to(device=dev, dtype=torch_dtype)
    return model, torch.randn(batch_size, channels, resolution, resolution, device=dev, dtype=torch_dtype)


def spin_up(device: str, seconds: float = 1.0) -> None:
    """Keep a GPU busy for ``seconds`` so its clocks are up before the first point is timed."""
    if device == ONNXRUNTIME:
        return
    dev = resolve_device(device)
    if dev.type != "cuda":
        return
    a = torch.randn(2048, 2048, device=dev)
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        a = torch.tanh(a @ a)
        torch.cuda.synchronize(dev)


def timed(fn: Callable[[], object]) -> float:
    """Seconds ``fn()`` took."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0
