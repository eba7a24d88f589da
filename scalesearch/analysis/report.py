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

from scalesearch.analysis.front_plot import Reference, front_plot
from scalesearch.analysis.pareto import (
    BudgetCheck,
    best_under_budget,
    mark_front,
    over_budget,
    resolve_directions,
)
from scalesearch.analysis.plots import draw_figure
from scalesearch.analysis.science_report import science_sections
from scalesearch.atomic import write_atomic
from scalesearch.errors import ScalesearchError
from scalesearch.formatting import MISSING, format_metric, format_value, tidy
from scalesearch.metrics import FLOP_CONVENTION
from scalesearch.verdict.budget import Budget, parse_budget

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
    families = meta.get("families") or [meta.get("family", MISSING)]
    rows = [
        ("family" if len(families) == 1 else "families", escape(", ".join(map(str, families)))),
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
    """Python that builds the network of ``point`` (values without floating-point noise)."""
    items = [f"{_literal(str(k))}: {_literal(tidy(v))}" for k, v in point.items()]
    inline = "{" + ", ".join(items) + "}"
    body = inline if len(inline) <= 70 else "{\n    " + ",\n    ".join(items) + ",\n}"
    return f"from scalesearch.registry import get_family\n\nmodel = get_family({_literal(family)}).build({body})\n"


def _costs_of(row: pd.Series, metric: str, detail: bool = True) -> list[tuple[str, str]]:
    """``(column, html)`` for the metric and the costs of a row; ``detail`` adds exact counts."""
    out = []
    for col in (metric, *_COSTS):
        if col in row and pd.notna(row[col]):
            text = escape(format_metric(col, row[col]))
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
    rows = [("trial", _trial_id(best) + (f" of run {escape(str(best['run']))}" if "run" in best else ""))]
    values = best.get("values") if isinstance(best.get("values"), Mapping) else {}
    if values:
        rows.append(
            ("searched values", escape(", ".join(f"{k}={format_value(v)}" for k, v in values.items())))
        )
    rows += [(k, escape(format_value(v))) for k, v in point.items()]
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
        r_values = {**r_point, **(runner.get("values") if isinstance(runner.get("values"), Mapping) else {})}
        free = [k for k in (meta.get("free") or []) if k in r_values] or list(r_point)
        desc = ", ".join(f"{k}={format_value(r_values[k])}" for k in free)
        costs = ", ".join(f"{k}={v}" for k, v in _costs_of(runner, metric, detail=False))
        html.append(f"<p>Runner-up on the front: trial {_trial_id(runner)} ({escape(desc)}): {costs}.</p>")
    return "\n".join(html)


def _trial_id(row: pd.Series) -> str:
    """``#3``, or ``grid #3`` when the trial belongs to a stage (numbers restart in each stage)."""
    stage = row.get("stage")
    return (
        f"{escape(str(stage))} " if isinstance(stage, str) and stage else ""
    ) + f"#{row.get('number', row.name)}"


def _plot(
    df: pd.DataFrame,
    meta: Mapping[str, Any],
    references: Sequence[Reference],
    x: str,
    metric: str,
    direction: str,
    budget: Budget | None,
) -> str:
    note = ""
    if budget is None and meta.get("budget"):
        try:
            budget = parse_budget(str(meta["budget"]))
        except ScalesearchError as err:
            note = f"<p class='note'>Budget not drawn: {escape(str(err))}</p>"
    try:
        fp = front_plot(
            {str(meta.get("name") or "run"): df},
            x=x,
            y=metric,
            references=references,
            budget_lines=budget,
            labels=list(meta.get("free") or []),
            directions={metric: direction},
        )
    except ScalesearchError as err:
        return f"<p class='warn'>No Pareto plot: {escape(str(err))}</p>"
    fig = draw_figure(fp)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    alt = f"Pareto front of {metric} against {x}"
    drawn = [b.text for b in fp.budget_lines] + fp.notes
    if drawn:
        note += f"<p class='note'>{escape('; '.join(drawn))}</p>"
    return f"<img class='plot' alt='{escape(alt)}' src='data:image/png;base64,{data}'>" + note


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
        text = format_metric(col, value) if col and isinstance(value, (int, float)) else format_value(value)
        rows.append((str(key).replace("_", " "), escape(text)))
    return (
        "<p>How much of the space fits the budget, from costs alone (no training): each point is "
        "built or costed analytically and checked.</p>" + _table(rows)
    )


def _references(references: Sequence[Reference], x: str, metric: str) -> str:
    if not references:
        return "<p class='note'>No canonical networks were given.</p>"
    rows = "".join(
        f"<tr><td>{escape(str(r.get('name')))}</td><td>{format_metric(x, r.get('x_value'))}</td>"
        f"<td>{format_metric(metric, r.get('y_value'))}</td></tr>"
        for r in references
    )
    return f"<table><tr><th>network</th><th>{escape(x)}</th><th>{escape(metric)}</th></tr>{rows}</table>"


def _searched_value(row: pd.Series, name: str) -> Any:
    """A searched value of a trial: from its ``values`` (derived experiments), else its ``point``."""
    for source in ("values", "point"):
        d = row.get(source)
        if isinstance(d, Mapping) and name in d:
            return d[name]
    return None


def _reason(row: pd.Series) -> str:
    """Why a trial has no result: its error (failed) or its budget violations (rejected)."""
    error = row.get("error")
    if isinstance(error, str) and error.strip():
        return error.strip().splitlines()[-1][:300]
    violations = row.get("violations")
    if isinstance(violations, str) and violations:
        return violations
    if str(row.get("state")) == "FAIL":
        return "failed (no reason recorded)"
    return ""


def _trial_rows(df: pd.DataFrame, x: str, metric: str, direction: str) -> pd.DataFrame:
    """The trials with their front status, best first (then cheapest)."""
    try:
        t = mark_front(df, [x, metric], {metric: direction})
    except ScalesearchError:
        t = df.copy()
    key = (
        pd.to_numeric(t[metric], errors="coerce") if metric in t.columns else pd.Series(np.nan, index=t.index)
    )
    t["_key"] = -key if direction == "max" else key
    sort = ["_key"] + (["flops"] if "flops" in t.columns else [])
    return t.sort_values(sort, na_position="last", kind="stable")


def _trials(df: pd.DataFrame, meta: Mapping[str, Any], x: str, metric: str, direction: str) -> str:
    """Stage and number (together unique), state, searched values, metric, costs, the reason of a failure."""
    if df.empty:
        return "<p class='note'>No trials.</p>"
    t = _trial_rows(df, x, metric, direction)
    free = list(meta.get("free") or [])
    view = pd.DataFrame(index=t.index)
    if "run" in t.columns and t["run"].nunique() > 1:
        view["run"] = t["run"]
    if "stage" in t.columns and t["stage"].notna().any():
        view["stage"] = t["stage"].fillna(MISSING)
    for c in ("number", "state", "status"):
        if c in t.columns:
            view[c] = t[c]
    for name in free:
        view[name] = [format_value(_searched_value(r, name)) for _, r in t.iterrows()]
    for col in (metric, *_COSTS):
        if col in t.columns:
            view[col] = [format_metric(col, v) for v in t[col]]
    skip = {
        "_key",
        "point",
        "values",
        "on_front",
        "family",
        "run",
        "stage",
        "feasible",
        "number",
        *_COSTS,
        metric,
    }
    for c in t.columns:
        if c not in skip and c not in view.columns and pd.api.types.is_numeric_dtype(t[c]):
            view[c] = [format_metric(c, v) for v in t[c]]
    view["reason"] = [_reason(r) for _, r in t.iterrows()]
    html = view.to_html(index=False, escape=True, na_rep=MISSING, classes="trials", border=0)
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
    budget: Budget | None = None,
) -> Path:
    """Write the experiment report for a results table and its run metadata; return the path.

    ``references`` are the canonical networks to draw (``{"name", "x_value", "y_value"}``,
    ``x_value`` on the ``x`` column). ``budget_check(row) -> bool`` narrows the best-point
    pick beyond the recorded ``feasible`` flag. ``landscape`` is a dict such as
    ``{"screened": 1000, "feasible": 312}`` or a callable returning one (called once).
    ``metric`` defaults to the first objective of ``meta`` that is a column. ``budget`` is drawn
    on the plot (default: ``meta["budget"]`` parsed by ``parse_budget``, relative bounds included).
    """
    metric, direction = _objective(df, meta, metric)
    name = str(meta.get("name") or "experiment")
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    sections = [
        ("Summary", _summary(df, meta, metric, direction)),
        ("Best point under the budget", _best(df, meta, metric, direction, budget_check)),
        (
            "Pareto front",
            _plot(df, meta, references, x, metric, direction, budget)
            + "<p class='note'>Front: complete, feasible trials no other trial beats on both axes. "
            "Grey: over budget or failed; hollow: pruned; the strip under the plot: trials without "
            f"{escape(metric)} (failed, or rejected before training).</p>",
        ),
        ("Canonical networks", _references(references, x, metric)),
        ("Cost landscape", _landscape(landscape)),
        *science_sections(df, meta),  # error EDFs, scaling-law fit, proxy table: when the run has them
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
