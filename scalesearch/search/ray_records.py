"""What the Ray backend's searcher, callback and trainable share: the stage context and trials.jsonl."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from scalesearch.atomic import write_atomic
from scalesearch.experiment import Experiment, SearchSpace
from scalesearch.search.records import TrialRecord, TrialState, Verdict
from scalesearch.search.trial import Evaluator, Prepared, Rejected
from scalesearch.space import point_key
from scalesearch.verdict.budget import Budget

NUMBER_KEY = "_scalesearch_number"
RESULT_KEY = "scalesearch"
STAGE_STATE = "scalesearch_stage.json"  # the stage's trial count, and whether it finished
MAX_FAILURES = 3


@dataclasses.dataclass
class StageRun:
    """What the searcher, the callback and the trainable share about one stage (picklable)."""

    exp: Experiment
    stage: str
    space: SearchSpace
    budget: Budget
    run_dir: str
    total: int
    cpus_per_trial: float = 1.0
    threads: int = 1  # torch's intra-op threads in the trial: its CPUs unless the run's threads setting says
    _evaluator: Evaluator | None = dataclasses.field(default=None, repr=False)
    _cache: dict[str, Prepared | Rejected] = dataclasses.field(default_factory=dict, repr=False)
    _records: Records | None = dataclasses.field(default=None, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.update(_evaluator=None, _cache={}, _records=None)  # data and file state stay local
        return state

    @property
    def evaluator(self) -> Evaluator:
        if self._evaluator is None:
            self._evaluator = Evaluator(self.exp, self.space, self.budget)
        return self._evaluator

    @property
    def records(self) -> Records:
        if self._records is None:
            self._records = Records.at(Path(self.run_dir) / "trials.jsonl")
        return self._records

    def prepare(self, values: Mapping[str, Any]) -> Prepared:
        """``Evaluator.prepare`` with a small cache (the define-by-run space and the filter both ask)."""
        key = point_key(values)
        if key not in self._cache:
            if len(self._cache) > 256:
                self._cache.clear()
            try:
                self._cache[key] = self.evaluator.prepare(values)
            except Rejected as rej:
                self._cache[key] = rej
        found = self._cache[key]
        if isinstance(found, Rejected):
            raise found
        return found


# --------------------------------------------------------------------------- records


class Records:
    """``trials.jsonl``: one JSON record per line, appended and flushed as each trial ends.

    A (stage, number) is written once; only a FAIL record (a trial Tune gave up on) is
    replaced, when a resumed run finishes that trial after all.
    """

    _open: dict[str, Records] = {}

    def __init__(self, path: Path) -> None:
        self.path = path
        self._states: dict[tuple[str, int], str] | None = None

    @classmethod
    def at(cls, path: Path) -> Records:
        """The one Records of ``path`` in this process (the searcher and the callback share it)."""
        key = str(path.resolve())
        if key not in cls._open:
            cls._open[key] = cls(path)
        return cls._open[key]

    def reload(self) -> None:
        self._states = None

    def _load(self) -> dict[tuple[str, int], str]:
        if self._states is None:
            self._states = {}
            if self.path.exists():
                for line in self.path.read_text().splitlines():
                    try:
                        r = json.loads(line)
                        self._states[(r["stage"], int(r["number"]))] = r["state"]
                    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                        continue  # a line cut short by a crash
        return self._states

    def has(self, stage: str, number: int) -> bool:
        return (stage, number) in self._load()

    def numbers(self, stage: str) -> set[int]:
        return {n for s, n in self._load() if s == stage}

    def write(self, record: dict[str, Any]) -> bool:
        """Append ``record``; False when its number is already recorded (and not a FAIL to replace)."""
        states = self._load()
        key = (record["stage"], int(record["number"]))
        if key in states:
            if states[key] != TrialState.FAIL or record["state"] == TrialState.FAIL:
                return False
            self._replace(key, record)
        else:
            line = json.dumps(record, default=_json_default, allow_nan=True)
            with open(self.path, "a+b") as f:
                if f.tell() > 0:  # a line cut short by a crash must not swallow this one
                    f.seek(-1, os.SEEK_END)
                    if f.read(1) != b"\n":
                        line = "\n" + line
                f.write((line + "\n").encode())
                f.flush()
                os.fsync(f.fileno())
        states[key] = record["state"]
        return True

    def _replace(self, key: tuple[str, int], record: dict[str, Any]) -> None:
        lines = []
        for line in self.path.read_text().splitlines():
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue
            if (r["stage"], int(r["number"])) != key:
                lines.append(line)
        lines.append(json.dumps(record, default=_json_default))
        write_atomic(self.path, "\n".join(lines) + "\n")


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def make_record(
    stage: str,
    number: int,
    state: TrialState | str,
    values: Mapping[str, Any],
    *,
    family: str,
    point: Mapping[str, Any] | None = None,
    costs: Mapping[str, Any] | None = None,
    verdict: Verdict | str | None = None,
    violations: list[str] | None = None,
    metrics: Mapping[str, float] | None = None,
    error: str | None = None,
    duration_s: float | None = None,
    pruned_at_epoch: int | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """A line of ``trials.jsonl``: the one trial record (:class:`~scalesearch.search.records.TrialRecord`)."""
    return TrialRecord(
        stage=stage,
        number=number,
        state=TrialState(state),
        values=dict(values),
        family=family,
        point=dict(point) if point is not None else None,
        costs=dict(costs or {}),
        verdict=None if verdict is None else Verdict(verdict),
        violations=list(violations or []),
        metrics=dict(metrics or {}),
        error=error,
        duration_s=duration_s,
        pruned_at_epoch=pruned_at_epoch,
        note=note,
    ).to_dict()


def rejected_record(
    ctx: StageRun, number: int, values: Mapping[str, Any], rej: Rejected, duration_s: float | None = None
) -> dict[str, Any]:
    return make_record(
        ctx.stage,
        number,
        TrialState.PRUNED,
        values,
        family=ctx.space.family,
        point=rej.point,
        costs=rej.costs,
        verdict=rej.kind,
        violations=rej.reasons,
        duration_s=duration_s,
    )


def trial_note(payload: Mapping[str, Any], number: int, pbt: bool = False) -> str | None:
    """What a record's ``note`` says about a trial that did not run straight through: its PBT schedule
    when that changed, or that it resumed from its own checkpoint (a retry after its worker died, a
    resumed driver; not under PBT, which pauses and resumes trials as it goes)."""
    if pbt:
        return schedule_note(payload.get("schedule") or [], number)
    if payload.get("resumed_from_epoch") and payload.get("resumed_from_trial") == number:
        return f"resumed from its epoch-{payload['resumed_from_epoch']} checkpoint"
    return None


def schedule_note(schedule: Sequence[Mapping[str, Any]], number: int) -> str | None:
    """The hyper-parameter schedule as one line when it changed mid-run (PBT), else None:
    ``epochs 1-2 lr=0.05 weight_decay=0.0005 (trial 3); epochs 3-4 lr=0.06 weight_decay=0.0005``."""
    segments: list[dict[str, Any]] = []
    for row in schedule:
        key = (row["lr"], row["weight_decay"], row["trial"])
        if segments and segments[-1]["key"] == key:
            segments[-1]["last"] = row["epoch"]
        else:
            segments.append({"key": key, "first": row["epoch"], "last": row["epoch"]})
    if len(segments) < 2:
        return None
    parts = []
    for seg in segments:
        lr, wd, trial = seg["key"]
        span = (
            f"epoch {seg['first']}" if seg["first"] == seg["last"] else f"epochs {seg['first']}-{seg['last']}"
        )
        whose = "" if trial == number else f" (trial {trial}'s run)"
        parts.append(f"{span} lr={lr:.4g} weight_decay={wd:.4g}{whose}")
    return "PBT schedule: " + "; ".join(parts)


def error_text(trial: Any) -> str:
    """The last line of a failed trial's traceback that names an error."""
    text = ""
    try:
        if trial.error_file and os.path.exists(trial.error_file):
            text = Path(trial.error_file).read_text()
        else:
            text = str(trial.get_error() or "")
    except Exception:
        pass
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    named = [ln for ln in lines if "Error" in ln or "error" in ln]
    return (named or lines or ["unknown error"])[-1][:300]


def fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def fmt_values(values: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={fmt(v)}" for k, v in values.items())


def say(text: str) -> None:
    """One line to the driver's stderr, at once."""
    print(text, file=sys.stderr, flush=True)
