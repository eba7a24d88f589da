"""Commands over the families themselves: families (their spaces) and fixed-points (the canonical networks)."""

from __future__ import annotations

import argparse
from typing import Any

from scalesearch.cli.common import Ticker, format_arg, out, wrap
from scalesearch.formatting import table, to_json


def cmd_families(args: argparse.Namespace) -> int:
    from scalesearch.registry import families

    rows = [
        {
            "family": f.name,
            "parameter": p.name,
            "domain": p.domain.describe(),
            "default": "derived" if p.default is None else p.default,
            "search": p.search.describe() if p.search else "-",
            "help": p.help,
        }
        for f in families()
        for p in f.space.params
    ]
    if args.format == "json":
        print(
            to_json(
                [
                    {
                        "family": f.name,
                        "summary": f.summary,
                        "parameters": [r for r in rows if r["family"] == f.name],
                        "constraints": [c.rule for c in f.space.constraints],
                        "canonical": [c.name for c in f.canonical],
                    }
                    for f in families()
                ]
            )
        )
        return 0
    for f in families():
        print(wrap(f"{f.name}: {f.summary}", "    "))
        print(_parameter_lines([r for r in rows if r["family"] == f.name]))
        for c in f.space.constraints:
            print(wrap(f"  rule: {c.rule}", "        "))
        print(wrap(f"  canonical: {', '.join(c.name for c in f.canonical)}", "             ") + "\n")
    return 0


def _parameter_lines(rows: list[dict[str, Any]]) -> str:
    """Each parameter on a line (name, domain, default, search domain), its meaning wrapped beneath."""
    width = max(len(r["parameter"]) for r in rows)
    pad = " " * (width + 4)
    lines = []
    for r in rows:
        search = f"; searched over {r['search']}" if r["search"] != "-" else ""
        lines.append(wrap(f"  {r['parameter']:<{width}}  {r['domain']}; default {r['default']}{search}", pad))
        if r["help"]:
            lines.append(wrap(pad + r["help"], pad))
    return "\n".join(lines)


# --------------------------------------------------------------------------- fixed points

FIXED_COLUMNS = [
    "name",
    "family",
    "resolution",
    "params",
    "ref_params",
    "paper_params",
    "flops",
    "ref_flops",
    "paper_flops",
    "activations",
    "point",
    "method",
]


def fixed_points_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--family", help="only this family (default: every family)")
    p.add_argument(
        "--method",
        choices=["fvcore", "analytic"],
        default="fvcore",
        help="count with fvcore (builds and traces each network) or analytically",
    )
    format_arg(p, ("table", "json", "csv"))


def short_source(source: str, limit: int = 40) -> str:
    """The first clause of a reference's source ("timm 1.0.31 legacy_xception()", "LeCun et al. 1998
    section II.B"), at most ``limit`` characters."""
    for stop in (", ", " (", ": ", "; "):
        source = source.split(stop, 1)[0]
    return source if len(source) <= limit else source[: limit - 3] + "..."


def _paper(row: dict) -> str:
    figures = [row["paper_params"] or "", row["paper_flops"] or ""]
    return " / ".join(f for f in figures if f) if any(figures) else ""


def cmd_fixed_points(args: argparse.Namespace) -> int:
    from scalesearch.cost.record import cost_of
    from scalesearch.metrics import FLOP_CONVENTION
    from scalesearch.registry import families, get_family

    fams = [get_family(args.family)] if args.family else families()
    todo = [(fam, c) for fam in fams for c in fam.canonical]
    tick = Ticker(f"fixed-points ({args.method}):")
    rows = []
    try:
        for i, (fam, c) in enumerate(todo):
            tick(i, len(todo), c.name)
            rec = cost_of(fam, fam.point(c.values), args.method)
            ref = c.reference
            defaults = fam.point()
            rows.append(
                {
                    "name": c.name,
                    "family": fam.name,
                    "point": rec.point,
                    "resolution": rec.resolution,
                    "params": rec.params,
                    "ref_params": ref.params,
                    "paper_params": ref.paper_params,
                    "flops": rec.flops,
                    "ref_flops": ref.flops,
                    "paper_flops": ref.paper_flops,
                    "activations": rec.activations,
                    "method": args.method,
                    "non_default": {k: v for k, v in rec.point.items() if v != defaults.get(k)},
                    "reference": {
                        "params": ref.params,
                        "flops": ref.flops,
                        "paper_params": ref.paper_params,
                        "paper_flops": ref.paper_flops,
                        "source": ref.source,
                    },
                    "unsupported_ops": rec.unsupported,
                }
            )
    finally:
        tick.close()
    if args.format == "table":
        print(f"FLOPs: {FLOP_CONVENTION}; counted by {args.method}")
        print(
            "ref_*: the exact count the family pins (the reference implementation's, or the family's "
            "own where only a paper defines the network); paper: the paper's printed figure "
            "(params / FLOPs); source: where the row comes from (--format json: in full); "
            "non_default: the values where the network differs from its family's defaults"
        )
        shown = [{**r, "paper": _paper(r), "source": short_source(r["reference"]["source"])} for r in rows]
        print(
            table(
                shown,
                [
                    "name",
                    "family",
                    "resolution",
                    "params",
                    "ref_params",
                    "flops",
                    "ref_flops",
                    "paper",
                    "source",
                    "non_default",
                ],
            )  # fmt: skip
        )
    else:
        for r in rows:
            r.pop("non_default")
            r["flop_convention"] = FLOP_CONVENTION
        out(args.format, rows, FIXED_COLUMNS)
    return 0


# --------------------------------------------------------------------------- cost
