"""Commands over costs: cost (one point, optionally by layer type), screen (many points), solve (one value)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from scalesearch.cli.common import Ticker, format_arg, wrap
from scalesearch.cli.latency import profile_arg, use_threads
from scalesearch.errors import UsageError
from scalesearch.formatting import compact, table, to_json

# --------------------------------------------------------------------------- families


def _point_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("family", help="family name (see `scalesearch families`)")
    p.add_argument("values", nargs="*", metavar="key=value", help="parameter values; lists as a,b,c")
    p.add_argument("--resolution", type=int, help="input resolution (same as resolution=R)")


def _latency_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--latency", action="store_true", help="also measure latency on --device")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or onnxruntime (exported, CPU)")
    p.add_argument("--batch-size", type=int, default=1, help="images per timed forward pass (latency)")
    p.add_argument(
        "--dtype",
        choices=["fp32", "fp16", "bf16"],
        default="fp32",
        help="number format of weights and inputs while timing (latency)",
    )
    p.add_argument(
        "--channels-last", action="store_true", help="time in channels-last memory format (latency)"
    )
    p.add_argument("--repeats", type=int, default=10, help="timed runs (median reported)")
    p.add_argument("--warmup", type=int, default=3, help="untimed runs before the timed ones (latency)")


def _parse_point(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    from scalesearch.errors import PointError
    from scalesearch.registry import get_family

    fam = get_family(args.family)
    values = fam.space.parse(args.values)
    flag = getattr(args, "resolution", None)
    if flag is not None:
        given = values.get("resolution")
        if "resolution" in values and given != flag:
            raise PointError(
                f"resolution is given twice with different values: resolution={given} and --resolution {flag}"
            )
        values["resolution"] = fam.space.param("resolution").domain.check("resolution", flag)
    return fam, values


def cost_args(p: argparse.ArgumentParser) -> None:
    _point_args(p)
    p.add_argument(
        "--method",
        choices=["analytic", "fvcore"],
        default="fvcore",
        help="fvcore builds and traces the network (the authority); analytic counts from the "
        "point without building it (equal, and fast)",
    )
    p.add_argument(
        "--by",
        choices=["type"],
        help="break params and FLOPs down by layer type (conv 1x1, conv dw 3x3, linear, batch norm...)",
    )
    _latency_args(p)
    profile_arg(p)
    format_arg(p)


def cmd_cost(args: argparse.Namespace) -> int:
    from scalesearch.cost.latency import LatencySpec, emulated_dtype
    from scalesearch.cost.record import cost_of

    fam, values = _parse_point(args)
    if args.by:
        if args.latency:
            raise UsageError("--by type breaks down counts only; run --latency without --by")
        return _cost_by_type(fam, values, args.method, args.format)
    spec = None
    tick = Ticker("latency:")
    if args.latency:
        spec = LatencySpec(
            args.device, args.batch_size, args.dtype, args.channels_last, args.warmup, args.repeats
        )
        warning = emulated_dtype(spec.device, spec.dtype)
        if warning:
            print(f"scalesearch cost: warning: {warning}", file=sys.stderr)
    from scalesearch.latency.predict import resolve_profile

    profile = resolve_profile(args.latency_profile, args.batch_size, args.dtype, use_threads(args))
    try:
        rec = cost_of(fam, values, args.method, latency=spec, progress=tick)
    finally:
        tick.close()
    data = rec.as_dict()
    if profile is not None:
        data.update(profile.predict(fam, rec.point).as_dict())
    if args.format == "json":
        print(to_json(data))
    else:
        for k in (
            "family",
            "point",
            "resolution",
            "method",
            "params",
            "flops",
            "activations",
            "latency_ms",
            "latency_spread_ms",
            "latency",
            "latency_ms_predicted",
            "latency_band_ms",
            "latency_profile",
            "unsupported",
            "flop_convention",
        ):
            if data.get(k) is not None:
                print(f"{k:>18}: {compact(data[k])}")
    return 0


BY_TYPE_NOTES = (
    "params: all parameters (biases and batch norm included); weights: conv and linear kernels only "
    "(no biases, no norm parameters: the MobileNet paper's count)",
    "flops: fvcore's count (1 multiply-add = 1 flop; batch norm 2 per element in eval mode, adaptive pooling "
    "1 per input element); mult_adds: conv and linear multiply-adds only (batch norm and pooling excluded)",
)


def _cost_by_type(fam: Any, values: dict[str, Any], method: str, fmt: str) -> int:
    """``cost --by type``: one row per layer type with its counts and shares in %."""
    from scalesearch.cost.breakdown import breakdown
    from scalesearch.metrics import FLOP_CONVENTION

    point = fam.point(values)
    b = breakdown(fam, point, method)
    columns = ("params", "weights", "flops", "mult_adds")
    rows = b.records()
    totals = {c: b.total(c) for c in columns}
    if fmt == "json":
        print(
            to_json(
                {
                    "family": fam.name,
                    "point": point,
                    "resolution": point["resolution"],
                    "method": method,
                    "by": "type",
                    "rows": rows,
                    "totals": totals,
                    "notes": list(BY_TYPE_NOTES),
                    "flop_convention": FLOP_CONVENTION,
                }
            )
        )
        return 0
    from scalesearch.formatting import human

    print(wrap(f"{fam.name} {compact(point)}: by layer type, counted by {method}", "    "))
    print(wrap("  total: " + ", ".join(f"{c} {totals[c]:,}" for c in columns), "    "))
    for note in BY_TYPE_NOTES:
        print(wrap(f"  {note}", "    "))
    shown = [{**r, **{c: human(r[c]) for c in columns}} for r in rows]
    print(
        table(
            shown,
            [
                "type",
                "params",
                "params_%",
                "weights",
                "weights_%",
                "flops",
                "flops_%",
                "mult_adds",
                "mult_adds_%",
            ],
        )
    )
    return 0


# --------------------------------------------------------------------------- screen / solve


def screen_args(p: argparse.ArgumentParser) -> None:
    _point_args(p)
    p.add_argument("--budget", action="append", default=[], help="e.g. flops<=4.2e9 or params~resnet50±2%%")
    p.add_argument(
        "--samples",
        type=int,
        default=1000,
        help="random points to draw from the default search domains of the unfixed parameters",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed of the sampling (same seed, same points)")
    p.add_argument(
        "--method",
        choices=["analytic", "fvcore"],
        default="analytic",
        help="count each point analytically (fast) or build and trace it with fvcore (slow)",
    )
    profile_arg(p)
    format_arg(p)


def cmd_screen(args: argparse.Namespace) -> int:
    from scalesearch.latency.predict import resolve_profile
    from scalesearch.verdict.budget import format_number, parse_budget
    from scalesearch.verdict.screen import screen

    fam, fixed = _parse_point(args)
    budget = parse_budget(args.budget)
    profile = resolve_profile(args.latency_profile, threads=use_threads(args))
    tick = Ticker(f"screen {fam.name}:")
    try:
        result = screen(
            fam,
            budget,
            args.samples,
            fixed,
            method=args.method,
            seed=args.seed,
            progress=tick,
            latency_profile=profile,
        )
    finally:
        tick.close()
    if args.format == "json":
        print(to_json(result.as_dict()))
        return 0
    print(
        f"{fam.name}: screened {result.screened} points by {result.method} in {result.seconds:.3f} s "
        f"({result.points_per_second:,.0f} points/s)"
    )
    print(f"budget {budget.text or '(none)'}: {result.feasible} of {result.screened} feasible")
    for label, s in (
        ("cheapest", result.cheapest),
        ("dearest", result.dearest),
        ("cheapest feasible", result.cheapest_feasible),
    ):
        if s is not None:
            r = s.record
            latency = f"latency_ms={r.latency_ms:.3g} (predicted) " if r.latency_ms is not None else ""
            print(
                f"{label:>18}: params={format_number(r.params)} flops={format_number(r.flops)} {latency}"
                f"{compact({k: v for k, v in r.point.items() if k in fam.space.search_domains(fixed)})}"
            )
            if s.violations and label == "cheapest":
                print(f"{'':>18}  {s.violations[0]}")
    return 0


def solve_args(p: argparse.ArgumentParser) -> None:
    _point_args(p)
    p.add_argument("--free", required=True, help="the parameter to solve for")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--match", help="a canonical network whose cost to match, e.g. resnet50")
    g.add_argument("--target", help="a target cost, e.g. 25.5M")
    p.add_argument(
        "--metric",
        choices=["params", "flops", "activations", "latency_ms"],
        default="params",
        help="the cost to match (latency_ms: predicted by --latency-profile)",
    )
    profile_arg(p)
    format_arg(p)


def cmd_solve(args: argparse.Namespace) -> int:
    import math

    from scalesearch.latency.predict import resolve_profile
    from scalesearch.verdict.budget import canonical_resolver, format_number, parse_number
    from scalesearch.verdict.screen import solve

    fam, fixed = _parse_point(args)
    profile = resolve_profile(args.latency_profile, threads=use_threads(args))
    if args.metric == "latency_ms" and profile is None:
        raise UsageError(
            "--metric latency_ms needs --latency-profile NAME (see scalesearch latency profiles)"
        )
    if args.match and profile is not None and args.metric == "latency_ms":
        from scalesearch.registry import find_canonical

        ref, canonical = find_canonical(args.match)
        target = profile.predict(ref, canonical.values).ms
    elif args.match:
        target = canonical_resolver()(args.match, args.metric)
    else:
        try:
            target = parse_number(args.target)
        except ValueError:
            raise UsageError(
                f"--target must be a number such as 25.5M or 4.1e9, but got {args.target}"
            ) from None
        if not math.isfinite(target) or target <= 0:
            raise UsageError(f"--target must be a positive finite cost, but got --target {args.target}")
    sol = solve(fam, fixed, args.free, args.metric, target, latency_profile=profile)
    if args.format == "json":
        print(to_json({**sol.as_dict(), "match": args.match}))
    else:
        print(sol.value)
        print(
            f"# {args.free}={sol.value}: {args.metric}={format_number(sol.achieved)} vs target "
            f"{format_number(target)}{' (' + args.match + ')' if args.match else ''}, "
            f"{sol.relative_error:+.2%}",
            file=sys.stderr,
        )
    return 0
