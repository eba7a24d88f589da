"""The results table of a run: one row per trial, the best feasible point on top.

A run directory holds ``run.json`` (what was run, where its trials are stored) and the
trials themselves: an Optuna storage (SQLite ``study.db`` by default) for the Optuna
backend, ``trials.jsonl`` for the Ray backend. Both load into the same table.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from scalesearch.atomic import write_atomic
from scalesearch.errors import ScalesearchError
from scalesearch.metrics import COST_METRICS, TRAINING_METRICS

COST_COLUMNS = COST_METRICS
METRIC_COLUMNS = TRAINING_METRICS
STATE_ORDER = {"COMPLETE": 0, "PRUNED": 1, "FAIL": 2, "RUNNING": 3, "WAITING": 4}


def write_json_atomic(path: Path, data: Any) -> None:
    """``data`` as indented JSON at ``path``, written atomically."""
    write_atomic(path, json.dumps(data, indent=2, default=str))


def load_run_meta(run_dir: str | Path) -> dict[str, Any]:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ScalesearchError(f"run directory {run_dir} does not exist")
    meta_path = run_dir / "run.json"
    if not meta_path.exists():
        raise ScalesearchError(f"{run_dir} is not a scalesearch run directory (no run.json in it)")
    meta = json.loads(meta_path.read_text())
    meta["run_dir"] = str(run_dir)
    return meta


def record_from_optuna(
    trial: Any, objectives: list[str], stage: str, family: str | None = None
) -> dict[str, Any]:
    """A results row from an Optuna FrozenTrial written by the Optuna backend (``stage`` and
    ``family`` are its study's): the one trial record, :class:`scalesearch.search.records.TrialRecord`."""
    from scalesearch.search.records import from_optuna

    return from_optuna(trial, objectives, stage, family).to_dict()


def _optuna_records(meta: Mapping[str, Any], storage: Any = None) -> list[dict[str, Any]]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    records = []
    for entry in meta.get("studies", []):
        try:
            study = optuna.load_study(study_name=entry["study"], storage=storage or meta["storage"])
        except KeyError:
            continue  # a stage that has not started yet
        objectives = study.user_attrs.get("objectives") or list(meta.get("objectives", {}))
        for t in study.get_trials(deepcopy=False):
            records.append(record_from_optuna(t, objectives, entry["stage"], study.user_attrs.get("family")))
    return records


def _jsonl_records(run_dir: Path) -> list[dict[str, Any]]:
    """The Ray backend's records (``trials.jsonl``), read through the one trial record."""
    from scalesearch.search.records import TrialRecord

    path = run_dir / "trials.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(TrialRecord.from_dict(json.loads(line)).to_dict())
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            continue  # a line cut short by a crash
    return out


def frame(records: list[dict[str, Any]], meta: Mapping[str, Any]) -> pd.DataFrame:
    """The results table from trial records, sorted: feasible completed trials, best first."""
    rows = []
    for r in records:
        metrics = r.get("metrics") or {}
        row = {
            "run": meta.get("name"),
            "stage": r.get("stage"),
            "number": r.get("number"),
            "state": r.get("state"),
            "family": r.get("family") or meta.get("family"),
            "values": r.get("values") or {},
            "point": r.get("point"),
            **{c: r.get(c) for c in COST_COLUMNS},
            "feasible": r.get("verdict") == "feasible",
            "verdict": r.get("verdict") or ("not checked" if r.get("state") != "COMPLETE" else "feasible"),
            "violations": "; ".join(r.get("violations") or []),
            **{m: metrics.get(m) for m in METRIC_COLUMNS},
            "duration_s": r.get("duration_s"),
            "error": r.get("error"),
        }
        rows.append(row)
    columns = [
        "run",
        "stage",
        "number",
        "state",
        "family",
        "values",
        "point",
        *COST_COLUMNS,
        "feasible",
        "verdict",
        "violations",
        *METRIC_COLUMNS,
        "duration_s",
        "error",
    ]
    df = pd.DataFrame(rows, columns=columns)
    for c in (*COST_COLUMNS, *METRIC_COLUMNS, "duration_s"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
    return sort_best_first(df, meta.get("objectives") or {"accuracy": "maximize"})


def sort_best_first(df: pd.DataFrame, objectives: Mapping[str, str]) -> pd.DataFrame:
    if df.empty:
        return df
    key = pd.Series(
        [
            0 if (s == "COMPLETE" and f) else 1 + STATE_ORDER.get(s, 9)
            for s, f in zip(df["state"], df["feasible"], strict=True)
        ],
        index=df.index,
    )
    name, direction = next(iter(objectives.items()))
    score = df[name] if name in df else pd.Series(math.nan, index=df.index)
    score = -score if direction == "maximize" else score
    order = pd.DataFrame({"k": key, "s": score.fillna(math.inf), "n": df["number"]}).sort_values(
        ["k", "s", "n"]
    )
    return df.loc[order.index].reset_index(drop=True)


def load_results(run_dir: str | Path, storage: Any = None) -> pd.DataFrame:
    """The results table of a run directory (Optuna or Ray backend); ``storage``: an open Optuna
    storage of the run, to reuse instead of connecting again."""
    meta = load_run_meta(run_dir)
    if meta.get("backend") == "ray":
        records = _jsonl_records(Path(run_dir))
    else:
        records = _optuna_records(meta, storage)
    return frame(records, meta)


def json_rows(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts (NaN → null)."""
    out = []
    for row in df.to_dict(orient="records"):
        out.append({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()})
    return out
