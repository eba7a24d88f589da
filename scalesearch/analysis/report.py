"""One self-contained HTML page per experiment: summary, best point, Pareto plot, landscape, trials.

No external resources: the plot is a PNG data URI, the style sheet is inline.
"""

from __future__ import annotations

import base64
import io
import json
import os
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scalesearch.analysis.pareto import (
    BudgetCheck,
    best_under_budget,
    mark_front,
    over_budget,
    resolve_directions,
)
from scalesearch.analysis.plots import (
    Reference,
    budget_lines_from,
    format_cost,
    pareto_figure,
)
from scalesearch.atomic import write_atomic
from scalesearch.errors import ScalesearchError
from scalesearch.metrics import FLOP_CONVENTION

Landscape = Mapping[str, Any] | Callable[[], Mapping[str, Any] | None] | None

_STATES = ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")
_COSTS = ("flops", "params", "activations", "latency_ms")

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1200px;
       padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { margin-bottom: .2rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
.sub { color: #666; margin-top: 0; }
table { border-collapse: collapse; font-size: .88rem; }
th, td { border: 1px solid #ddd; padding: .25rem .55rem; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
table.trials td { white-space: nowrap; } table.trials tr:nth-child(even) { background: #fafafa; }
.note { color: #555; font-size: .88rem; }
.warn { background: #fff4e5; border-left: 4px solid #f0a030; padding: .6rem .9rem; }
pre { background: #f6f8fa; border: 1px solid #e1e4e8; padding: .8rem; overflow-x: auto; font-size: .88rem; }
img.plot { max-width: 100%; height: auto; border: 1px solid #eee; }
.scroll { max-height: 36rem; overflow: auto; }
.bar { background: #eee; width: 20rem; height: .9rem; display: inline-block; vertical-align: middle; }
.bar span { background: #4a90d9; height: 100%; display: block; }
"""


def _table(rows: Sequence[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th>{escape(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _objective(df: pd.DataFrame, meta: Mapping[str, Any], metric: str | None) -> tuple[str, str]:
    """The metric that ranks trials and its direction, from ``metric`` or the run's objectives."""
    objectives = dict(meta.get("objectives") or {})
    if metric is None:
        metric = next((k for k in objectives if k in df.columns and k not in _COSTS), None)
        metric = metric or ("accuracy" if "accuracy" in df.columns else next(iter(objectives), "accuracy"))
    direction = objectives.get(metric)
    try:
        return metric, resolve_directions(df, [metric], {metric: direction} if direction else None)[metric]
    except ScalesearchError:
        return metric, "max"


def _counts(df: pd.DataFrame) -> str:
    states = df["state"].astype(str) if "state" in df.columns else pd.Series("COMPLETE", index=df.index)
    counts = states.value_counts()
    order = [s for s in _STATES if s in counts] + sorted(s for s in counts.index if s not in _STATES)
    parts = [f"{escape(s)}: {int(counts[s])}" for s in order]
    if "feasible" in df.columns:
        over = int(over_budget(df).sum())
        parts.append(f"over budget (rejected before training): {over}")
    return ", ".join(parts) or "no trials"


def _summary(df: pd.DataFrame, meta: Mapping[str, Any], metric: str, direction: str) -> str:
    free = meta.get("free") or []
    objectives = meta.get("objectives") or {metric: direction}
    rows = [
        ("family", escape(str(meta.get("family", "–")))),
        ("free parameters", escape(", ".join(map(str, free))) or "none"),
        ("budget", f"<code>{escape(str(meta.get('budget') or ''))}</code>" if meta.get("budget") else "none"),
        ("resolution", escape(str(meta.get("resolution", "–")))),
        ("objectives", escape(", ".join(f"{k} ({v})" for k, v in dict(objectives).items()))),
        ("trials", f"{len(df)} — {_counts(df)}"),
        ("FLOP convention", escape(FLOP_CONVENTION)),
    ]
    if "run" in df.columns and df["run"].nunique() > 1:
        rows.insert(0, ("runs", escape(", ".join(map(str, df["run"].unique())))))
    return _table(rows)


def _literal(value: Any) -> str:
    """A Python literal for a JSON value, strings in double quotes."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_literal(str(k))}: {_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value)


def build_snippet(family: str, point: Mapping[str, Any]) -> str:
    """Python that builds the network of ``point``."""
    items = [f"{_literal(str(k))}: {_literal(v)}" for k, v in point.items()]
    inline = "{" + ", ".join(items) + "}"
    body = inline if len(inline) <= 70 else "{\n    " + ",\n    ".join(items) + ",\n}"
    return f"from scalesearch.registry import get_family\n\nmodel = get_family({_literal(family)}).build({body})\n"


def _costs_of(row: pd.Series, metric: str, detail: bool = True) -> list[tuple[str, str]]:
    """``(column, html)`` for the metric and the costs of a row; ``detail`` adds exact counts."""
    out = []
    for col in (metric, *_COSTS):
        if col in row and pd.notna(row[col]):
            text = escape(format_cost(col, row[col]))
            if detail and col == "flops":
                text += f" <span class='note'>({int(row[col]):,}; {escape(FLOP_CONVENTION)})</span>"
            elif detail and col in ("params", "activations"):
                text += f" <span class='note'>({int(row[col]):,})</span>"
            out.append((col, text))
    return out


def _best(
    df: pd.DataFrame, meta: Mapping[str, Any], metric: str, direction: str, budget_check: BudgetCheck | None
) -> str:
    try:
        best, runner = best_under_budget(df, budget_check, metric=metric, direction=direction)
    except ScalesearchError as err:
        return f"<p class='warn'>{escape(str(err))}</p>"
    point = best.get("point") if isinstance(best.get("point"), Mapping) else {}
    family = str(best.get("family") or meta.get("family") or "")
    rows = [
        (
            "trial",
            f"#{best.get('number', best.name)}"
            + (f" of run {escape(str(best['run']))}" if "run" in best else ""),
        )
    ]
    rows += [(k, escape(_fmt(v))) for k, v in point.items()]
    rows += _costs_of(best, metric)
    html = [
        "<p>The best complete trial by <b>"
        + escape(metric)
        + "</b> that meets the budget"
        + (f" <code>{escape(str(meta['budget']))}</code>" if meta.get("budget") else "")
        + ", picked on the Pareto front:</p>",
        _table(rows),
        "<h3>How to build it</h3>",
        f"<pre><code>{escape(build_snippet(family, point), quote=False)}</code></pre>",
    ]
    if runner is not None:
        r_point = runner.get("point") if isinstance(runner.get("point"), Mapping) else {}
        free = [k for k in (meta.get("free") or []) if k in r_point] or list(r_point)
        desc = ", ".join(f"{k}={_fmt(r_point[k])}" for k in free)
        costs = ", ".join(f"{k}={v}" for k, v in _costs_of(runner, metric, detail=False))
        html.append(
            f"<p>Runner-up on the front: trial #{runner.get('number', runner.name)} "
            f"({escape(desc)}): {costs}.</p>"
        )
    return "\n".join(html)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ",".join(_fmt(v) for v in value)
    return str(value)


def _plot(
    df: pd.DataFrame,
    meta: Mapping[str, Any],
    references: Sequence[Reference],
    x: str,
    metric: str,
    direction: str,
) -> str:
    try:
        fig = pareto_figure(
            {str(meta.get("name") or "run"): df},
            x=x,
            y=metric,
            references=references,
            budget_lines=budget_lines_from(meta.get("budget")),
            labels=list(meta.get("free") or []),
            directions={metric: direction},
        )
    except ScalesearchError as err:
        return f"<p class='warn'>No Pareto plot: {escape(str(err))}</p>"
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    alt = f"Pareto front of {metric} against {x}"
    return f"<img class='plot' alt='{escape(alt)}' src='data:image/png;base64,{data}'>"


def _landscape(landscape: Landscape) -> str:
    data = landscape() if callable(landscape) else landscape
    if not data:
        return "<p class='note'>Not computed for this report (pass <code>landscape=</code> to show it).</p>"
    data = dict(data)
    rows: list[tuple[str, Any]] = []
    screened, feasible = data.pop("screened", None), data.pop("feasible", None)
    if screened is not None:
        rows.append(("points screened", f"{int(screened):,}"))
    if feasible is not None:
        rows.append(("fit the budget", f"{int(feasible):,}"))
    if screened and feasible is not None:
        share = float(feasible) / float(screened)
        bar = f"<span class='bar'><span style='width:{100 * share:.1f}%'></span></span>"
        rows.append(("share", f"{100 * share:.1f}% {bar}"))
    for key, value in data.items():
        col = next((c for c in _COSTS if str(key).endswith(c)), None)
        text = format_cost(col, value) if col and isinstance(value, (int, float)) else _fmt(value)
        rows.append((str(key).replace("_", " "), escape(text)))
    return (
        "<p>How much of the space fits the budget, from costs alone (no training): each point is "
        "built or costed analytically and checked.</p>" + _table(rows)
    )


def _references(references: Sequence[Reference], x: str, metric: str) -> str:
    if not references:
        return "<p class='note'>No canonical networks were given.</p>"
    rows = "".join(
        f"<tr><td>{escape(str(r.get('name')))}</td><td>{format_cost(x, r.get('x_value'))}</td>"
        f"<td>{format_cost(metric, r.get('y_value')) if r.get('y_value') is not None else '–'}</td></tr>"
        for r in references
    )
    return f"<table><tr><th>network</th><th>{escape(x)}</th><th>{escape(metric)}</th></tr>{rows}</table>"


def _trials(df: pd.DataFrame, meta: Mapping[str, Any], x: str, metric: str, direction: str) -> str:
    if df.empty:
        return "<p class='note'>No trials.</p>"
    try:
        t = mark_front(df, [x, metric], {metric: direction})
    except ScalesearchError:
        t = df.copy()
    free = list(meta.get("free") or [])
    points = t["point"] if "point" in t.columns else pd.Series([{}] * len(t), index=t.index)
    for name in free:
        if name not in t.columns:
            t[name] = [p.get(name) if isinstance(p, Mapping) else None for p in points]
    key = (
        pd.to_numeric(t[metric], errors="coerce") if metric in t.columns else pd.Series(np.nan, index=t.index)
    )
    t["_key"] = -key if direction == "max" else key
    sort = ["_key"] + (["flops"] if "flops" in t.columns else [])
    t = t.sort_values(sort, na_position="last", kind="stable")
    cols = ["run"] if "run" in t.columns and t["run"].nunique() > 1 else []
    cols += [c for c in ("number", "state", "status") if c in t.columns] + free
    extra = [
        c
        for c in t.columns
        if c not in cols
        and c not in ("_key", "point", "on_front", "family", "run", "feasible", "violations", *_COSTS, metric)
        and pd.api.types.is_numeric_dtype(t[c])
    ]
    cols += [c for c in (metric, *_COSTS) if c in t.columns] + extra
    cols += [c for c in ("violations",) if c in t.columns]
    view = t[cols].copy()
    for col in (metric, *_COSTS):
        if col in view.columns:
            view[col] = [format_cost(col, v) for v in view[col]]
    for col in free + extra:
        view[col] = [
            _fmt(v) if v is not None and not (isinstance(v, float) and np.isnan(v)) else "–"
            for v in view[col]
        ]
    html = view.to_html(index=False, escape=True, na_rep="–", classes="trials", border=0)
    return f"<div class='scroll'>{html}</div>"


def render_report(
    df: pd.DataFrame,
    meta: Mapping[str, Any],
    references: Sequence[Reference] = (),
    out_path: str | os.PathLike[str] = "report.html",
    budget_check: BudgetCheck | None = None,
    landscape: Landscape = None,
    *,
    x: str = "flops",
    metric: str | None = None,
) -> Path:
    """Write the experiment report for a results table and its run metadata; return the path.

    ``references`` are the canonical networks to draw (``{"name", "x_value", "y_value"}``,
    ``x_value`` on the ``x`` column). ``budget_check(row) -> bool`` narrows the best-point
    pick beyond the recorded ``feasible`` flag. ``landscape`` is a dict such as
    ``{"screened": 1000, "feasible": 312}`` or a callable returning one (called once).
    ``metric`` defaults to the first objective of ``meta`` that is a column.
    """
    metric, direction = _objective(df, meta, metric)
    name = str(meta.get("name") or "experiment")
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    sections = [
        ("Summary", _summary(df, meta, metric, direction)),
        ("Best point under the budget", _best(df, meta, metric, direction, budget_check)),
        (
            "Pareto front",
            _plot(df, meta, references, x, metric, direction)
            + "<p class='note'>Front: complete, feasible trials no other trial beats on both axes. "
            "Grey: over budget or failed; hollow: pruned; bottom row: trials without "
            f"{escape(metric)}.</p>",
        ),
        ("Canonical networks", _references(references, x, metric)),
        ("Cost landscape", _landscape(landscape)),
        (f"Trials (best {escape(metric)} first)", _trials(df, meta, x, metric, direction)),
    ]
    slug = {
        title: "s-" + "".join(ch if ch.isalnum() else "-" for ch in title.lower()) for title, _ in sections
    }
    body = "\n".join(f"<section id='{slug[t]}'><h2>{t}</h2>\n{html}\n</section>" for t, html in sections)
    page = (
        "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
        f"<title>{escape(name)} — scalesearch report</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<h1>{escape(name)}</h1>\n<p class='sub'>scalesearch report, {stamp}</p>\n{body}\n</body>\n</html>\n"
    )
    return write_atomic(out_path, page)
