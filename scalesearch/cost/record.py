"""One cost record per (point, resolution, method, device, batch size, dtype)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from scalesearch.cost.latency import LatencyCache, LatencySpec, measure
from scalesearch.errors import ResourceError, ScalesearchError
from scalesearch.family import Family
from scalesearch.metrics import COST_METRICS, FLOP_CONVENTION
from scalesearch.space import Point, point_key

METHODS = ("analytic", "fvcore")
METRICS = COST_METRICS


@dataclass
class CostRecord:
    """Costs of one point. ``unsupported`` lists ops fvcore saw but did not count (fvcore path)."""

    family: str
    point: Point
    resolution: int
    method: str
    params: int
    flops: int
    activations: int
    flop_convention: str = FLOP_CONVENTION
    unsupported: dict[str, int] | None = None
    latency_ms: float | None = None
    latency_spread_ms: float | None = None
    latency: dict[str, Any] | None = field(default=None)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def metric(self, name: str) -> float:
        value = getattr(self, name, None)
        if value is None:
            raise ScalesearchError(f"metric {name} was not measured for this point (latency needs --latency)")
        return value


BYTES_PER_VALUE = 4  # float32 weights and activations while tracing or timing


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux MemAvailable), None where unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _gib(n: float) -> str:
    return f"{n / 2**30:,.1f} GiB"


def check_buildable(family: Family, point: Point, why: str, batch_size: int = 1) -> None:
    """Refuse, before anything is built, a point whose weights and activations exceed the memory available.

    The analytic counts give the size without building: about 4 bytes per parameter and per
    activation value (all activations kept, as a trace may keep them), times the batch.
    """
    counts = family.complexity(point)
    need = BYTES_PER_VALUE * (counts.params + batch_size * counts.activations)
    have = available_memory()
    if have is not None and need > have:
        raise ResourceError(
            f"{family.name} point {point_key({k: v for k, v in point.items() if v is not None})} is too large for "
            f"{why} here: it would need about {_gib(need)} (params {counts.params:,} + activations "
            f"{counts.activations:,} x batch {batch_size}, {BYTES_PER_VALUE} bytes each) but {_gib(have)} is "
            "available; count it with --method analytic"
        )


def cost_of(
    family: Family,
    point: Point,
    method: str = "analytic",
    latency: LatencySpec | None = None,
    cache: LatencyCache | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> CostRecord:
    """Params/FLOPs/activations by ``method``; latency measured (or read from the cache) if asked.

    ``progress(done, total, what)`` is told of each warm-up and timed run while latency is measured.
    """
    if method not in METHODS:
        raise ScalesearchError(f"method must be one of {', '.join(METHODS)}, but got method={method}")
    point = family.point(point)
    resolution = point["resolution"]
    model = None
    if method == "fvcore":
        from scalesearch.cost.fvcore_count import count

        check_buildable(family, point, "the fvcore trace")
        model = family.build(point)
        counts = count(model, resolution, family.input_channels(point))
        record = CostRecord(
            family.name,
            point,
            resolution,
            method,
            counts.params,
            counts.flops,
            counts.activations,
            unsupported=counts.unsupported,
        )
    else:
        analytic = family.complexity(point)
        record = CostRecord(
            family.name, point, resolution, method, analytic.params, analytic.flops, analytic.activations
        )
    if latency is not None:
        from scalesearch.cost.latency import spec_device_name

        cache = cache or LatencyCache()
        key = cache.key(family.name, point_key(point), resolution, latency, spec_device_name(latency.device))
        measured = cache.get(key)
        if measured is None:
            if model is None:
                check_buildable(family, point, "latency measurement", latency.batch_size)
            measured = measure(
                model if model is not None else family.build(point),
                resolution,
                latency,
                progress,
                channels=family.input_channels(point),
            )
            cache.put(key, measured)
        record.latency_ms = measured.median_ms
        record.latency_spread_ms = measured.spread_ms
        record.latency = {
            **asdict(latency),
            "device_name": measured.device_name,
            "runs": measured.runs,
            "cached": measured.cached,
        }
    return record
