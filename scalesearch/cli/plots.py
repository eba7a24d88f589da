"""Commands over finished runs: pareto (figures) and report (one HTML page)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from scalesearch.errors import ScalesearchError, UsageError

AXES = ("flops", "params", "latency_ms", "activations", "accuracy", "val_loss", "duration_s")
"""Plot axes: the cost columns first (x), then what trials measure (y); names from scalesearch.metrics."""


def _load(run_dirs: list[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Results tables by run label, and the runs' metadata; a clear error when nothing finished."""
    from scalesearch.analysis.results import load_results, load_run_meta

    frames, metas = {}, []
    for d in run_dirs:
        meta = load_run_meta(d)
        df = load_results(d)
        if not (df["state"] == "COMPLETE").any():
            raise ScalesearchError(
                f"run {d} has no finished trials yet (states: "
                f"{', '.join(sorted(set(df['state']))) or 'none'})"
            )
        label = meta["name"] if meta["name"] not in frames else f"{meta['name']} ({d})"
        frames[label] = df
        metas.append(meta)
    return frames, metas


def _budget(text: str | None):
    from scalesearch.verdict.budget import parse_budget

    return parse_budget(text) if text else None


def _check(budget: Any):
    if budget is None:
        return None
    return lambda row: budget.check({m: row.get(m) for m in budget.metrics}).feasible


def pareto_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--x", default="flops", help=f"cost column: one of {', '.join(AXES[:4])}")
    p.add_argument("--y", default="accuracy", help="metric column (default accuracy)")
    scale = p.add_mutually_exclusive_group()
    scale.add_argument(
        "--logx",
        dest="logx",
        action="store_const",
        const=True,
        default=None,
        help="logarithmic x axis (default: log when the x values span more than 30x)",
    )
    scale.add_argument(
        "--linearx",
        dest="logx",
        action="store_const",
        const=False,
        help="linear x axis, however wide the x values span",
    )
    p.add_argument("--budget", help="draw these bounds, e.g. flops<=1.05*efficientnet_b0")
    p.add_argument("--out", default="pareto.png", help="output .png, .svg or .html (plotly, interactive)")


def cmd_pareto(args: argparse.Namespace) -> int:
    from scalesearch.analysis.pareto import best_under_budget
    from scalesearch.analysis.references import as_markers, reference_costs

    for axis in (args.x, args.y):
        if axis not in AXES:
            raise UsageError(f"unknown column {axis!r}; valid columns: {', '.join(AXES)}")
    out = Path(args.out)
    if out.suffix not in (".png", ".svg", ".html"):
        raise UsageError(f"--out must end in .png, .svg or .html, but got {out}")
    budget = _budget(args.budget)
    frames, metas = _load(args.run_dirs)
    if budget is not None:
        for df in frames.values():
            best_under_budget(df, _check(budget))  # raises when no trial meets the budget
    refs = as_markers([r for m in metas for r in reference_costs(m)], args.x)
    labels = sorted({n for m in metas for n in m.get("free", [])})
    kwargs = dict(x=args.x, y=args.y, logx=args.logx, references=refs, budget_lines=budget, labels=labels)
    if out.suffix == ".html":
        from scalesearch.analysis.plots_html import pareto_html

        pareto_html(frames, out, **kwargs)
    else:
        import matplotlib

        matplotlib.use("Agg")
        from scalesearch.analysis.plots import pareto_figure, save_figure

        save_figure(pareto_figure(frames, **kwargs), out)
    print(f"wrote {out}")
    return 0


def report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir")
    p.add_argument("--out", help="output HTML (default RUN_DIR/report.html)")
    p.add_argument("--x", default="flops", help="cost column of the plot")
    p.add_argument("--budget", help="budget for the best point (default: the run's own)")
    p.add_argument("--samples", type=int, default=2000, help="points screened for the cost landscape")


def cmd_report(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    from scalesearch.analysis.references import reference_costs
    from scalesearch.analysis.report import render_report

    if args.x not in AXES[:4]:
        raise UsageError(f"unknown column {args.x!r}; valid columns: {', '.join(AXES[:4])}")
    frames, metas = _load([args.run_dir])
    df, meta = next(iter(frames.values())), metas[0]
    budget = _budget(args.budget or meta.get("budget") or None)
    refs = [{**r, "x_value": r[args.x], "y_value": None} for r in reference_costs(meta)]

    def landscape() -> dict[str, Any] | None:
        from scalesearch.analysis.landscape import run_landscape

        return run_landscape(meta, df, budget, args.samples)

    out = Path(args.out or Path(args.run_dir) / "report.html")
    meta = {**meta, "budget": budget.text if budget else ""}
    render_report(
        df, meta, refs, out, budget_check=_check(budget), landscape=landscape, x=args.x, budget=budget
    )
    print(f"wrote {out}")
    return 0
