"""Canonical networks as reference markers for a run: their costs in the run's own setting."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from scalesearch.cost.record import cost_of
from scalesearch.registry import find_canonical, get_family
from scalesearch.space import Int


def reference_names(meta: Mapping[str, Any]) -> list[str]:
    """The run's declared references, else the canonical networks of its family."""
    names = list(meta.get("references") or [])
    if not names and meta.get("family"):
        names = [c.name for c in get_family(meta["family"]).canonical]
    return names


def reference_costs(meta: Mapping[str, Any], names: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Cost each canonical network as this run would build it.

    Same number of classes as the run's dataset; the resolution scaled by the run's base
    resolution over the family's native one (EfficientNet-B3's 300 px becomes 43 px in a run
    whose base is 32 px instead of 224), so the markers sit where the run's trials live.
    """
    out = []
    run_res = meta.get("resolution")
    num_classes = meta.get("num_classes")
    for name in names if names is not None else reference_names(meta):
        fam, c = find_canonical(name)
        native = fam.point(c.values)
        base = fam.point()["resolution"]
        values = dict(c.values)
        if run_res:
            domain = fam.space.param("resolution").domain
            low = domain.low if isinstance(domain, Int) else 1
            values["resolution"] = max(low, round(native["resolution"] * run_res / base))
        if num_classes:
            values["num_classes"] = num_classes
        rec = cost_of(fam, values, "analytic")
        out.append(
            {
                "name": name
                if values.get("resolution") == native["resolution"]
                else f"{name} @{rec.resolution}px",
                "family": fam.name,
                "point": rec.point,
                "params": rec.params,
                "flops": rec.flops,
                "activations": rec.activations,
                "latency_ms": None,
            }
        )
    return out


def as_markers(refs: Sequence[Mapping[str, Any]], x: str) -> list[dict[str, Any]]:
    return [{"name": r["name"], "x_value": r[x], "y_value": None} for r in refs if r.get(x) is not None]
