"""Measured latency on a device, cached on disk by everything that changes it."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from scalesearch.device import ONNXRUNTIME, resolve_device
from scalesearch.errors import ScalesearchError

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass(frozen=True)
class LatencySpec:
    """How to time a forward pass: device, batch size, dtype, memory format, repetitions."""

    device: str = "cpu"
    batch_size: int = 1
    dtype: str = "fp32"
    channels_last: bool = False
    warmup: int = 3
    repeats: int = 10

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ScalesearchError(f"dtype must be one of {', '.join(DTYPES)}, but got dtype={self.dtype}")
        if self.batch_size < 1:
            raise ScalesearchError(f"batch size must be >= 1, but got batch_size={self.batch_size}")
        if self.device == ONNXRUNTIME and (self.dtype != "fp32" or self.channels_last):
            raise ScalesearchError(
                f"device {ONNXRUNTIME} times fp32 in the default memory format only, but got "
                f"dtype={self.dtype}, channels_last={self.channels_last}"
            )
        if self.repeats < 1 or self.warmup < 0:
            raise ScalesearchError(
                f"repeats >= 1 and warmup >= 0 must hold, but got repeats={self.repeats}, warmup={self.warmup}"
            )


@dataclass(frozen=True)
class Latency:
    """Median and spread (interquartile range) of the timed runs, in milliseconds."""

    median_ms: float
    spread_ms: float
    runs: int
    device_name: str
    cached: bool = False


def device_name(device: torch.device) -> str:
    """A name that identifies the hardware, for the cache key."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu:{platform.machine()}:{platform.processor() or 'unknown'}:{torch.get_num_threads()}threads"


def spec_device_name(device: str) -> str:
    """The hardware name of a LatencySpec's device (``onnxruntime`` included), for the cache key."""
    if device == ONNXRUNTIME:
        from scalesearch.export.latency import device_name as onnxruntime_name

        return onnxruntime_name()
    return device_name(resolve_device(device))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(
    model: nn.Module,
    resolution: int,
    spec: LatencySpec,
    progress: Callable[[int, int, str], None] | None = None,
    channels: int = 3,
) -> Latency:
    """Warm up, then time ``spec.repeats`` forward passes (synchronising CUDA around each).

    ``progress(done, total, what)`` is called before each run (warm-up runs count first).
    """
    if spec.device == ONNXRUNTIME:
        from scalesearch.export.latency import device_name as onnxruntime_name
        from scalesearch.export.latency import time_onnxruntime

        times = time_onnxruntime(
            model, resolution, spec.batch_size, spec.warmup, spec.repeats, progress, channels
        )
        return _summary(times, onnxruntime_name())
    tell = progress or (lambda done, total, what: None)
    total = spec.warmup + spec.repeats
    device = resolve_device(spec.device)
    dtype = DTYPES[spec.dtype]
    model = model.eval().to(device=device, dtype=dtype)
    x = torch.randn(spec.batch_size, channels, resolution, resolution, device=device, dtype=dtype)
    if spec.channels_last:
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's stubs omit it
        x = x.contiguous(memory_format=torch.channels_last)
    times = []
    with torch.inference_mode():
        for i in range(spec.warmup):
            tell(i, total, "warm-up runs")
            model(x)
        _sync(device)
        for i in range(spec.repeats):
            tell(spec.warmup + i, total, "timed runs")
            start = time.perf_counter()
            model(x)
            _sync(device)
            times.append((time.perf_counter() - start) * 1000)
    tell(total, total, "runs")
    return _summary(times, device_name(device))


def _summary(times: list[float], name: str) -> Latency:
    """Median and interquartile range of the timed runs (milliseconds) on the device called ``name``."""
    q = statistics.quantiles(times, n=4) if len(times) >= 2 else [times[0]] * 3
    return Latency(statistics.median(times), q[2] - q[0], len(times), name)


_NATIVE_CPU_FLAGS = {
    "bf16": ("avx512_bf16", "amx_bf16", "bf16"),  # x86 AVX-512/AMX; "bf16" is aarch64's feature name
    "fp16": ("avx512_fp16", "amx_fp16", "fphp", "asimdhp"),
}


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


def emulated_dtype(device_name_: str, dtype: str, flags: set[str] | None = None) -> str | None:
    """A warning when ``dtype`` has no native arithmetic on the device (timings would be of an emulation)."""
    if dtype == "fp32":
        return None
    device = resolve_device(device_name_)
    if device.type == "cuda":
        if dtype == "bf16" and not torch.cuda.is_bf16_supported():
            return f"{device_name(device)} has no native bf16; the latency measures an emulation"
        return None
    flags = _cpu_flags() if flags is None else flags
    if flags and flags & set(_NATIVE_CPU_FLAGS[dtype]):
        return None
    wanted = "/".join(_NATIVE_CPU_FLAGS[dtype][:2])
    return (
        f"this CPU has no native {dtype} ({wanted} not among its flags): {dtype} is emulated, the timing "
        "can be many times slower than fp32 and says nothing about hardware with native support; "
        "use --dtype fp32"
    )


def cache_dir() -> Path:
    return Path(os.environ.get("SCALESEARCH_CACHE_DIR", Path.home() / ".cache" / "scalesearch"))


class LatencyCache:
    """Latencies keyed by (point, resolution, device name, batch, dtype, memory format, torch version).

    One JSON line per measurement, appended, so a crash loses nothing already measured.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or cache_dir() / "latency.jsonl"
        self._entries: dict[str, dict] | None = None

    @staticmethod
    def key(family: str, point_key: str, resolution: int, spec: LatencySpec, device: str) -> str:
        parts = [
            family,
            point_key,
            resolution,
            device,
            spec.batch_size,
            spec.dtype,
            spec.channels_last,
            torch.__version__,
        ]
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()

    def _load(self) -> dict[str, dict]:
        if self._entries is None:
            self._entries = {}
            if self.path.exists():
                for line in self.path.read_text().splitlines():
                    try:
                        entry = json.loads(line)
                    except json.JSONDecodeError:
                        continue  # a line cut short by a crash
                    self._entries[entry["key"]] = entry
        return self._entries

    def get(self, key: str) -> Latency | None:
        entry = self._load().get(key)
        if entry is None:
            return None
        return Latency(
            entry["median_ms"], entry["spread_ms"], entry["runs"], entry["device_name"], cached=True
        )

    def put(self, key: str, latency: Latency) -> None:
        entry = {"key": key, **asdict(latency)}
        entry.pop("cached")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(json.dumps(entry) + "\n")
        self._load()[key] = entry
