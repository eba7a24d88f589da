"""``scalesearch scale``: a base point scaled by a named rule to ``s``x its exact FLOPs."""

from __future__ import annotations

import argparse
from typing import Any

from scalesearch.cli.common import format_arg, wrap
from scalesearch.cli.costs import _parse_point, _point_args
from scalesearch.formatting import compact, human, to_json


def scale_args(p: argparse.ArgumentParser) -> None:
    from scalesearch.scaling.rules import RULES

    _point_args(p)
    p.add_argument("--rule", required=True, choices=list(RULES), help="the scaling rule")
    p.add_argument(
        "--factor", required=True, type=float, help="target FLOPs as a multiple of the base's, e.g. 2"
    )
    p.add_argument(
        "--alpha",
        type=float,
        help="Dollár et al.'s alpha for --rule fast/uniform (fast: 0.8, uniform: 1/3)",
    )
    p.add_argument(
        "--tolerance", type=float, default=0.05, help="largest allowed |FLOPs / (factor x base) - 1|"
    )
    format_arg(p)


def _rows(result: Any) -> list[dict[str, Any]]:
    from scalesearch.registry import get_family
    from scalesearch.scaling.knobs import knobs_of

    knobs = knobs_of(get_family(result.family))
    params = [k.param for d in result.rule.dimensions for k in knobs[d]]
    rows = []
    for name, point, counts in (
        ("base", result.base, result.base_counts),
        (f"{result.rule.name} x{result.factor:g}", result.point, result.counts),
    ):
        row: dict[str, Any] = {"network": name, **{p: compact(point[p]) for p in params}}
        for m in ("params", "flops", "activations"):
            row[m] = human(getattr(counts, m))
            row[f"{m}_x"] = round(getattr(counts, m) / getattr(result.base_counts, m), 3)
        rows.append(row)
    return rows


def cmd_scale(args: argparse.Namespace) -> int:
    from scalesearch.errors import UsageError
    from scalesearch.formatting import table
    from scalesearch.metrics import FLOP_CONVENTION
    from scalesearch.scaling.rules import get_rule
    from scalesearch.scaling.solve import scale

    if not 0 < args.tolerance < 1:
        raise UsageError(f"--tolerance must be in (0, 1), but got --tolerance {args.tolerance}")
    fam, values = _parse_point(args)
    rule = get_rule(args.rule, args.alpha)
    result = scale(fam, values, rule, args.factor, args.tolerance)
    if args.format == "json":
        print(to_json({**result.as_dict(), "citation": rule.citation, "flop_convention": FLOP_CONVENTION}))
        return 0
    mults = ", ".join(f"{d}={m:.4g}" for d, m in result.multipliers.items())
    print(wrap(f"{fam.name} scaled by {rule.name}: {rule.summary}", "    "))
    print(wrap(f"  source: {rule.citation}", "    "))
    print(
        wrap(
            f"  solved t={result.t:.4g} along the rule (nominal multipliers {mults}): "
            f"{result.ratio():.3f}x the base FLOPs after rounding, counted analytically "
            f"(equal to fvcore; {FLOP_CONVENTION})",
            "    ",
        )
    )
    if result.off_path:
        print(
            wrap(
                f"  no rounding along the rule lands within {args.tolerance:.0%}: dimensions rounded "
                f"separately, {result.deviation:.3f} off the rule's direction (in log-multipliers)",
                "    ",
            )
        )
    print(table(_rows(result)))
    return 0
