"""The one trial record both backends write and the results table reads; trial states and verdicts.

The Optuna backend keeps its trials in an Optuna storage and builds records with
:func:`from_optuna`; the Ray backend appends :meth:`TrialRecord.to_dict` lines to
``trials.jsonl``. Both load into the same table (:mod:`scalesearch.analysis.results`).
States and verdicts are ``str`` enums: JSON files and tables show their plain values.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Any

from scalesearch.metrics import COST_METRICS


class TrialState(enum.StrEnum):
    """A trial's state, with Optuna's names."""

    COMPLETE = "COMPLETE"
    PRUNED = "PRUNED"
    FAIL = "FAIL"
    RUNNING = "RUNNING"
    WAITING = "WAITING"


class Verdict(enum.StrEnum):
    """What the check before training said about a point."""

    FEASIBLE = "feasible"
    OVER_BUDGET = "over budget"
    INVALID = "invalid"
    DUPLICATE = "duplicate"  # another worker took the same grid point at once


STATE_ORDER = {s: i for i, s in enumerate(TrialState)}


@dataclasses.dataclass
class TrialRecord:
    """One trial: its searched values, the family point, costs, verdict, metrics and fate."""

    stage: str
    number: int
    state: TrialState
    values: dict[str, Any]
    family: str | None = None
    point: dict[str, Any] | None = None
    costs: dict[str, Any] = dataclasses.field(default_factory=dict)
    verdict: Verdict | None = None
    violations: list[str] = dataclasses.field(default_factory=list)
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    error: str | None = None
    duration_s: float | None = None
    pruned_at_epoch: int | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The flat JSON form: cost metrics are top-level keys (``params``, ``flops``, ...)."""
        out: dict[str, Any] = {
            "stage": self.stage,
            "number": self.number,
            "state": str(self.state),
            "values": dict(self.values),
            "point": dict(self.point) if self.point is not None else None,
            "family": self.family,
            **{c: self.costs.get(c) for c in COST_METRICS},
            "verdict": None if self.verdict is None else str(self.verdict),
            "violations": list(self.violations),
            "metrics": dict(self.metrics),
            "error": self.error,
            "duration_s": self.duration_s,
            "pruned_at_epoch": self.pruned_at_epoch,
        }
        if self.note:
            out["note"] = self.note
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrialRecord:
        verdict = data.get("verdict")
        return cls(
            stage=data["stage"],
            number=int(data["number"]),
            state=TrialState(data["state"]),
            values=dict(data.get("values") or {}),
            family=data.get("family"),
            point=data.get("point"),
            costs={c: data.get(c) for c in COST_METRICS},
            verdict=Verdict(verdict)
            if isinstance(verdict, str) and verdict in Verdict._value2member_map_
            else verdict,
            violations=list(data.get("violations") or []),
            metrics=dict(data.get("metrics") or {}),
            error=data.get("error"),
            duration_s=data.get("duration_s"),
            pruned_at_epoch=data.get("pruned_at_epoch"),
            note=data.get("note"),
        )


def from_optuna(trial: Any, objectives: list[str], stage: str, family: str | None = None) -> TrialRecord:
    """The record of an Optuna FrozenTrial written by the Optuna backend (``stage`` and ``family``
    are its study's)."""
    ua = trial.user_attrs
    metrics = dict(ua.get("metrics") or {})
    if trial.values is not None:
        for name, value in zip(objectives, trial.values, strict=False):
            metrics.setdefault(name, value)
    if trial.state.name == "PRUNED" and "accuracy" not in metrics and trial.intermediate_values:
        last = max(trial.intermediate_values)
        metrics["accuracy"] = trial.intermediate_values[last]
    duration = ua.get("duration_s")
    if duration is None and trial.datetime_start and trial.datetime_complete:
        duration = (trial.datetime_complete - trial.datetime_start).total_seconds()
    verdict = ua.get("verdict")
    return TrialRecord(
        stage=stage,
        number=trial.number,
        state=TrialState(trial.state.name),
        values=dict(trial.params),
        point=ua.get("point"),
        family=ua.get("family") or family,
        costs={c: ua.get(c) for c in COST_METRICS},
        verdict=Verdict(verdict) if verdict in Verdict._value2member_map_ else verdict,
        violations=ua.get("violations") or [],
        metrics=metrics,
        error=ua.get("error"),
        duration_s=duration,
        pruned_at_epoch=ua.get("pruned_at_epoch"),
        note=ua.get("note"),
    )
