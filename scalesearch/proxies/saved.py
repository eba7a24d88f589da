"""The proxy table a run keeps: ``scalesearch proxies RUN_DIR`` writes it to ``RUN_DIR/proxies.json``
(atomically, once the whole computation succeeded); the report and the notebook read it back,
without training or scoring anything, and say when the run has trained trials it does not cover.
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
from scalesearch.formatting import to_json

SAVED = "proxies.json"
"""The file, inside the run directory, that holds the run's proxy table."""
COLUMNS = ("score", "kind", "n", "spearman", "kendall", "top10_precision")
"""The correlation table's columns, in the order they are shown."""


def json_safe(value: Any) -> Any:
    """``value`` with every NaN or infinity (nested in dicts and lists) as ``None``: strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def save_report(run_dir: str | Path, report: Mapping[str, Any]) -> Path:
    """Write ``report`` (of :func:`~scalesearch.proxies.evaluate.evaluate_run`) to RUN_DIR/proxies.json,
    atomically: the old file (or none) stays until the new one is complete."""
    path = Path(run_dir) / SAVED
    try:
        return write_atomic(path, to_json(json_safe(report)) + "\n")
    except OSError as err:
        raise ScalesearchError(f"cannot write the proxy table to {path}: {err.strerror or err}") from err


def load_saved(run_dir: str | Path) -> dict[str, Any] | None:
    """RUN_DIR/proxies.json, or ``None`` when there is none; an unreadable one is a one-line error."""
    path = Path(run_dir) / SAVED
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ScalesearchError(f"{path} is unreadable ({err}); rerun: scalesearch proxies {run_dir}") from err
    if not isinstance(data, dict) or not isinstance(data.get("correlations"), list):
        raise ScalesearchError(f"{path} holds no proxy table; rerun: scalesearch proxies {run_dir}")
    return data


def trained_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The COMPLETE trials with an accuracy and a point: the ones proxies are correlated over."""
    if not {"state", "accuracy", "point"} <= set(df.columns):
        return df.iloc[0:0]
    return df[(df["state"] == "COMPLETE") & df["accuracy"].notna() & df["point"].notna()]


def _key(stage: Any, number: Any) -> tuple[str | None, int | None]:
    missing = stage is None or (isinstance(stage, float) and math.isnan(stage))
    try:
        n = int(number)
    except (TypeError, ValueError):
        n = None
    return (None if missing else str(stage), n)


def uncovered(saved: Mapping[str, Any], df: pd.DataFrame) -> int:
    """How many of the run's trained trials (``df``: its results table) the saved table lacks."""
    have = {_key(p.get("stage"), p.get("number")) for p in saved.get("points") or [] if isinstance(p, dict)}
    rows = trained_rows(df)
    stages = rows["stage"] if "stage" in rows.columns else [None] * len(rows)
    numbers = rows["number"] if "number" in rows.columns else [None] * len(rows)
    return sum(_key(s, n) not in have for s, n in zip(stages, numbers, strict=True))


def table(saved: Mapping[str, Any]) -> pd.DataFrame:
    """The saved correlations, proxies and baselines in one table (missing values as NaN)."""
    rows = [r for r in saved.get("correlations") or [] if isinstance(r, dict)]
    return pd.DataFrame([{c: r.get(c) for c in COLUMNS} for r in rows], columns=list(COLUMNS))


def hint(run_dir: str | Path) -> str:
    """The one line shown where a run has no saved proxy table."""
    return f"No proxy table yet: `scalesearch proxies {run_dir}` computes it and saves it to {SAVED} here."


def describe(saved: Mapping[str, Any], df: pd.DataFrame, run_dir: str | Path) -> str:
    """Where the saved table comes from, and whether the run has since trained trials it lacks."""
    n = saved.get("trained")
    line = (
        f"{n} trained networks, each proxy on one batch of {saved.get('batch_size')} "
        f"{saved.get('dataset')} images, untrained weights seeded by the run's seed {saved.get('seed')}."
    )
    missing = uncovered(saved, df)
    if missing:
        line += (
            f" Stale: the run has {missing} trained trial(s) this table does not cover; "
            f"rerun `scalesearch proxies {run_dir}`."
        )
    return line


def best_baseline(rows: pd.DataFrame) -> tuple[str, float] | None:
    """The cost baseline with the highest Spearman ρ, and that ρ (``None`` when none has one)."""
    base = rows[(rows["kind"] == "baseline") & pd.to_numeric(rows["spearman"], errors="coerce").notna()]
    if base.empty:
        return None
    best = base.loc[pd.to_numeric(base["spearman"]).idxmax()]
    return str(best["score"]), float(best["spearman"])
