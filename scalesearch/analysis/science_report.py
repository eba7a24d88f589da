"""The report's design-space science: an error-EDF section and a scaling-law section, each only
when the run has enough trained points for it (otherwise the report is as before), and the run's
zero-cost proxy table as ``scalesearch proxies`` saved it (or the one line saying how to fill it in)."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from html import escape
from typing import Any

import numpy as np
import pandas as pd

from scalesearch.errors import ScalesearchError
from scalesearch.formatting import MISSING

MIN_EDF_POINTS = 8
"""Complete trials with an accuracy and FLOPs a run needs for its EDF section."""


def _img(fig: Any, alt: str) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f"<img class='plot' alt='{escape(alt)}' src='data:image/png;base64,{data}'>"


def _trained(df: pd.DataFrame) -> pd.DataFrame:
    if not {"state", "accuracy", "flops"} <= set(df.columns):
        return df.iloc[0:0]
    return df[(df["state"] == "COMPLETE") & df["accuracy"].notna() & df["flops"].notna()]


def _by(df: pd.DataFrame) -> str:
    for column in ("run", "family", "stage"):
        if column in df.columns and df[column].nunique() > 1:
            return column
    return "family" if "family" in df.columns and df["family"].notna().all() else "state"


def edf_section(df: pd.DataFrame, n_boot: int = 100) -> str | None:
    """Error EDFs of the run's populations (complexity-matched on FLOPs when there are several)."""
    from scalesearch.analysis.edf import edf_result, trained_populations
    from scalesearch.analysis.science_plots import edf_figure

    trained = _trained(df)
    if len(trained) < MIN_EDF_POINTS:
        return None
    pops = trained_populations(trained, _by(trained), "flops")
    pops = {k: v for k, v in pops.items() if len(v[0]) >= 2}
    if not pops:
        return None
    try:
        result = edf_result(pops, "error", "flops", reweight=True, n_boot=n_boot)
    except ScalesearchError:  # populations without a shared FLOP range: compare them as they are
        result = edf_result(pops, "error", "flops", reweight=False, n_boot=n_boot)
    rows = "".join(
        f"<tr><td>{escape(r['population'])}</td><td>{r['n']}</td><td>{r['mean']:.2f}%</td>"
        f"<td>{r['median']:.2f}%</td><td>{_number(r['ks_vs_first'], '.3f')}</td></tr>"
        for r in result.rows()
    )
    how = (
        "weighted so that every population has the same distribution of log FLOPs (Radosavovic et al. 2019)"
        if result.reweighted
        else "unweighted"
    )
    return (
        f"<p>Top-1 error EDFs of the trained models ({how}); a curve further up and left is the "
        f"better population. Shaded: {int(100 * result.level)}% bootstrap bands.</p>"
        + _img(edf_figure(result), "error EDFs")
        + "<table><tr><th>population</th><th>models</th><th>mean error</th><th>median error</th>"
        f"<th>KS vs first</th></tr>{rows}</table>"
        + "".join(f"<p class='note'>{escape(n)}</p>" for n in result.notes)
    )


def fit_section(df: pd.DataFrame) -> str | None:
    """err = a + b·(FLOPs/1G)^(−c) fitted to each family's front, flagged families named."""
    from scalesearch.analysis.fits import MIN_POINTS, MIN_R2, fit_run, run_points
    from scalesearch.analysis.science_plots import fit_figure

    trained = _trained(df)
    if trained.empty or "family" not in trained.columns:
        return None
    try:
        fits = fit_run(run_points(trained.assign(family=trained["family"].fillna("run")), "flops"), "flops")
    except ScalesearchError:
        return None
    rows = "".join(
        f"<tr><td>{escape(f.name)}</td><td>{len(f.x)}</td>"
        + "".join(f"<td>{_number(v, '.4g')}</td>" for v in _abc(f))
        + f"<td>{_number(f.r2, '.3f')}</td><td>{escape(f.flag or 'ok')}</td></tr>"
        for f in fits
    )
    return (
        "<p>Scaling law err = a + b·(FLOPs/1G)<sup>−c</sup> fitted to each family's front of top-1 "
        f"error against FLOPs. A family is flagged, not fitted, with fewer than {MIN_POINTS} distinct "
        f"FLOP counts, with c ≤ 0 (error does not fall with FLOPs) or with R² below {MIN_R2}. "
        "Extrapolate with <code>scalesearch fit RUN_DIR --target flops=8G</code>.</p>"
        + _img(fit_figure(fits), "scaling-law fits")
        + "<table><tr><th>family</th><th>points</th><th>a</th><th>b</th><th>c</th><th>R²</th>"
        f"<th>status</th></tr>{rows}</table>"
    )


def _number(value: float | None, spec: str) -> str:
    return MISSING if value is None or np.isnan(value) else format(value, spec)


def _abc(fit: Any) -> tuple[float, float, float]:
    law = fit.law
    return (np.nan, np.nan, np.nan) if law is None else (law.a, law.b, law.c)


def proxy_section(df: pd.DataFrame, meta: Mapping[str, Any]) -> str | None:
    """The run's saved proxy table (RUN_DIR/proxies.json; nothing is scored here), or a one-line
    hint where the run could have one; ``None`` for a run without a directory or enough points."""
    from scalesearch.proxies.evaluate import MIN_POINTS
    from scalesearch.proxies.saved import best_baseline, describe, hint, load_saved, table, trained_rows

    run_dir = meta.get("run_dir")
    if not run_dir:
        return None
    try:
        saved = load_saved(run_dir)
    except ScalesearchError as err:
        return f"<p class='note'>{escape(str(err))}</p>"
    if saved is None:
        return None if len(trained_rows(df)) < MIN_POINTS else f"<p class='note'>{_code(hint(run_dir))}</p>"
    rows = table(saved)
    cells = "".join(
        f"<tr><td>{escape(str(r.score))}</td><td>{escape(str(r.kind))}</td><td>{_int(r.n)}</td>"
        + "".join(f"<td>{_number(_float(v), '.3f')}</td>" for v in (r.spearman, r.kendall, r.top10_precision))
        + "</tr>"
        for r in rows.itertuples()
    )
    best = best_baseline(rows)
    verdict = "" if best is None else _verdict(rows, *best)
    return (
        "<p>Each row ranks the run's trained networks by one score, a zero-cost proxy of the untrained "
        "network or a cost baseline, and compares that order with their trained accuracy: Spearman ρ "
        "and Kendall τ near 1 mean the same order, top-10 % precision is the share of the score's top "
        "10 % that is also in the accuracy's; a proxy earns its cost only where it beats the "
        f"baselines.{verdict}</p>"
        f"<p class='note'>{_code(describe(saved, df, run_dir))}</p>"
        "<table><tr><th>score</th><th>kind</th><th>networks</th><th>Spearman ρ</th><th>Kendall τ</th>"
        f"<th>top-10 % precision</th></tr>{cells}</table>"
    )


def _verdict(rows: pd.DataFrame, baseline: str, rho: float) -> str:
    spearman = pd.to_numeric(rows["spearman"], errors="coerce")
    above = rows[(rows["kind"] == "proxy") & (spearman > rho)]["score"].astype(str).tolist()
    return (
        f" Best baseline: {escape(baseline)} (ρ = {rho:.3f}); "
        f"{'proxies above it: ' + escape(', '.join(above)) if above else 'no proxy beats it'}."
    )


def _code(line: str) -> str:
    """``line`` escaped, its `backquoted` spans as <code>."""
    parts = escape(line).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> str:
    number = _float(value)
    return MISSING if number is None or np.isnan(number) else str(int(number))


def science_sections(df: pd.DataFrame, meta: Mapping[str, Any] | None = None) -> list[tuple[str, str]]:
    """``(title, html)`` of the sections this run has enough trained points for (and, given the
    run's ``meta`` with its ``run_dir``, its saved zero-cost proxy table)."""
    out = []
    edf = edf_section(df)
    if edf:
        out.append(("Error EDFs", edf))
    fit = fit_section(df)
    if fit:
        out.append(("Scaling-law fit", fit))
    proxies = proxy_section(df, meta or {})
    if proxies:
        out.append(("Zero-cost proxies", proxies))
    return out
