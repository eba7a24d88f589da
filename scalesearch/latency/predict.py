"""Costs with a predicted latency: what ``cost``, ``screen`` and ``solve`` use with a profile.

The analytic path makes one ``complexity`` walk for the counts and the latency features together,
so screening a latency budget runs at the speed of counting (no network is built or traced).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scalesearch.cost.record import CostRecord, cost_of
from scalesearch.family import Family
from scalesearch.latency.features import point_features
from scalesearch.latency.profile import Prediction, Profile


def predicted_record(
    family: Family, point: Mapping[str, Any], method: str, profile: Profile
) -> tuple[CostRecord, Prediction]:
    """The cost record of ``point`` by ``method`` with ``latency_ms`` predicted by ``profile``."""
    if method == "analytic":
        full = family.point(point)
        feats = point_features(family, full, profile.setting.batch_size, complete=True)
        c = feats.counts
        record = CostRecord(family.name, full, full["resolution"], method, c.params, c.flops, c.activations)
        prediction = profile.prediction(family.name, feats)
    else:
        record = cost_of(family, dict(point), method)
        prediction = profile.predict(family, record.point)
    record.latency_ms = prediction.ms
    record.latency = {"predicted": True, **prediction.as_dict(), "setting": profile.setting.__dict__}
    return record, prediction


def explain(reasons: tuple[str, ...], prediction: Prediction) -> tuple[str, ...]:
    """Budget reasons with a predicted latency marked as a prediction with its band."""
    mark = f" (predicted, ±{prediction.band_pct:.0f} % by profile {prediction.profile})"
    out = []
    for r in reasons:
        if r.startswith("latency_ms="):
            head, sep, tail = r.partition(" breaks ")
            r = f"{head}{mark}{sep}{tail}"
        out.append(r)
    return tuple(out)


def resolve_profile(
    name: str | None, batch_size: int | None = None, dtype: str | None = None, threads: int | None = None
) -> Profile | None:
    """The checked profile called ``name`` (None when no name is given); ``threads``: the count
    latency is wanted at (None: torch's current)."""
    if not name:
        return None
    from scalesearch.latency.profile import load_profile

    return load_profile(name, batch_size, dtype, threads)


def experiment_profile(name: str, batch_size: int) -> Profile:
    """An experiment's profile, checked against this machine at the profile's own thread count (a
    trial's training threads are not the deployment's) and the evaluation's latency batch size."""
    from scalesearch.latency.profile import load_profile, read_profile

    return load_profile(name, batch_size, threads=read_profile(name).setting.threads)
