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


RUN_KEYS = ("name", "backend", "storage", "studies")
"""Keys every run.json written by scalesearch holds (a file without them is another tool's)."""


def load_run_meta(run_dir: str | Path) -> dict[str, Any]:
    """A run directory's ``run.json``, checked: a missing, empty, damaged or foreign file is one
    line naming the file and what is wrong with it."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise ScalesearchError(f"{run_dir} is a file, not a run directory")
    if not run_dir.is_dir():
        raise ScalesearchError(f"run directory {run_dir} does not exist")
    meta_path = run_dir / "run.json"
    if meta_path.is_dir():
        raise ScalesearchError(f"{meta_path}: a directory where the run's settings file belongs")
    if not meta_path.exists():
        raise ScalesearchError(f"{run_dir} is not a scalesearch run directory (no run.json in it)")
    meta = _parse_run_json(meta_path)
    meta["run_dir"] = str(run_dir)
    return meta


def _parse_run_json(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ScalesearchError(f"{path}: not a text file (damaged or another tool's)") from None
    except OSError as err:
        raise ScalesearchError(f"{path}: cannot be read ({err.strerror})") from None
    if not text.strip():
        raise ScalesearchError(f"{path}: empty file (damaged run directory)")
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as err:
        raise ScalesearchError(
            f"{path}: not JSON (line {err.lineno}: {err.msg}); damaged run directory"
        ) from None
    if not isinstance(meta, dict):
        raise ScalesearchError(
            f"{path}: a JSON {type(meta).__name__} where a run's settings object belongs (not a scalesearch run)"
        )
    missing = [k for k in RUN_KEYS if k not in meta]
    if missing:
        raise ScalesearchError(
            f"{path}: not a scalesearch run.json (no {', '.join(repr(k) for k in missing)}); another tool's file?"
        )
    studies = meta["studies"]
    if not isinstance(studies, list) or not all(
        isinstance(e, dict) and isinstance(e.get("study"), str) and isinstance(e.get("stage"), str)
        for e in studies
    ):
        raise ScalesearchError(
            f"{path}: 'studies' is not a list of {{stage, study}} entries; damaged run.json"
        )
    if not isinstance(meta["storage"], str) or not isinstance(meta["name"], str):
        raise ScalesearchError(f"{path}: 'name' and 'storage' must be strings; damaged run.json")
    return meta


def record_from_optuna(
    trial: Any, objectives: list[str], stage: str, family: str | None = None
) -> dict[str, Any]:
    """A results row from an Optuna FrozenTrial written by the Optuna backend (``stage`` and
    ``family`` are its study's): the one trial record, :class:`scalesearch.search.records.TrialRecord`."""
    from scalesearch.search.records import from_optuna

    return from_optuna(trial, objectives, stage, family).to_dict()


def run_storage(meta: Mapping[str, Any], run_dir: Path) -> str:
    """The Optuna storage URL of a run, checked for reading: its default store resolved inside
    ``run_dir`` (so a moved run reads its own), an SQLite file that exists and holds a study."""
    from scalesearch.search.storage import check_sqlite, is_masked, resolve, sqlite_file

    url = resolve(meta["storage"], run_dir)
    if is_masked(url):
        raise ScalesearchError(
            f"{run_dir / 'run.json'}: the trials are in {url}, whose password run.json does not keep; "
            f"give the full URL: scalesearch results {run_dir} --storage URL"
        )
    path = sqlite_file(url)
    if path is not None:
        check_sqlite(path, reading=True)
    return url


def _optuna_records(meta: Mapping[str, Any], run_dir: Path, storage: Any = None) -> list[dict[str, Any]]:
    import optuna
    from sqlalchemy.exc import SQLAlchemyError

    from scalesearch.search.storage import StoreError, masked

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = storage if storage is not None else run_storage(meta, run_dir)
    records = []
    found = 0
    try:
        for entry in meta.get("studies", []):
            try:
                study = optuna.load_study(study_name=entry["study"], storage=url)
            except KeyError:
                continue  # a stage that has not started yet
            found += 1
            objectives = study.user_attrs.get("objectives") or list(meta.get("objectives", {}))
            for t in study.get_trials(deepcopy=False):
                records.append(
                    record_from_optuna(t, objectives, entry["stage"], study.user_attrs.get("family"))
                )
    except SQLAlchemyError as err:
        where = masked(url) if isinstance(url, str) else "the run's storage"
        reason = str(getattr(err, "orig", None) or err).splitlines()[0]
        raise StoreError(f"{where}: cannot be read ({reason})") from None
    if not found and meta.get("studies") and storage is None:
        raise StoreError(
            f"{masked(url)}: holds no study of run {meta['name']} "
            f"({', '.join(e['study'] for e in meta['studies'])})"
        )
    return records


def _jsonl_records(run_dir: Path) -> list[dict[str, Any]]:
    """The Ray backend's records (``trials.jsonl``), read through the one trial record. A record
    cut short by a crash is skipped; any other line that is not a record is damage, named."""
    from scalesearch.search.records import TrialRecord

    path = run_dir / "trials.jsonl"
    if path.is_dir():
        raise ScalesearchError(f"{path}: a directory where the run's trial records belong")
    if not path.exists():
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ScalesearchError(f"{path}: not a text file (damaged or overwritten)") from None
    out = []
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            if line.startswith('{"') and not line.rstrip().endswith("}"):
                continue  # a record cut short by a crash (the next one starts on a new line)
            raise ScalesearchError(
                f"{path}: line {i} is not JSON: {line[:40]!r}; damaged trial records"
            ) from None
        try:
            out.append(TrialRecord.from_dict(data).to_dict())
        except (KeyError, TypeError, ValueError, AttributeError):
            raise ScalesearchError(f"{path}: line {i} is not a trial record: {line[:40]!r}") from None
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
    storage of the run (or its URL, for a store whose password run.json does not keep), to reuse
    instead of connecting again. Reading never writes: a missing, empty or damaged store is an error."""
    meta = load_run_meta(run_dir)
    if meta.get("backend") == "ray":
        records = _jsonl_records(Path(run_dir))
    else:
        records = _optuna_records(meta, Path(run_dir), storage)
    return frame(records, meta)


def json_rows(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts (NaN → null)."""
    out = []
    for row in df.to_dict(orient="records"):
        out.append({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()})
    return out
