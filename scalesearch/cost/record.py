"""One cost record per (point, resolution, method, device, batch size, dtype)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from scalesearch.cost.latency import LatencyCache, LatencySpec, measure, resolve_device
from scalesearch.errors import ScalesearchError
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


def cost_of(
    family: Family,
    point: Point,
    method: str = "analytic",
    latency: LatencySpec | None = None,
    cache: LatencyCache | None = None,
) -> CostRecord:
    """Params/FLOPs/activations by ``method``; latency measured (or read from the cache) if asked."""
    if method not in METHODS:
        raise ScalesearchError(f"method must be one of {', '.join(METHODS)}, but got method={method}")
    point = family.point(point)
    resolution = point["resolution"]
    model = None
    if method == "fvcore":
        from scalesearch.cost.fvcore_count import count

        model = family.build(point)
        counts = count(model, resolution)
        record = CostRecord(family.name, point, resolution, method, counts.params, counts.flops,
                            counts.activations, unsupported=counts.unsupported)
    else:
        counts = family.complexity(point)
        record = CostRecord(family.name, point, resolution, method, counts.params, counts.flops,
                            counts.activations)
    if latency is not None:
        from scalesearch.cost.latency import device_name

        cache = cache or LatencyCache()
        key = cache.key(family.name, point_key(point), resolution, latency,
                        device_name(resolve_device(latency.device)))
        measured = cache.get(key)
        if measured is None:
            measured = measure(model if model is not None else family.build(point), resolution, latency)
            cache.put(key, measured)
        record.latency_ms = measured.median_ms
        record.latency_spread_ms = measured.spread_ms
        record.latency = {**asdict(latency), "device_name": measured.device_name, "runs": measured.runs,
                          "cached": measured.cached}
    return record
