"""The ``scalesearch`` command line. Bad input: one line on stderr, exit status 2."""

from __future__ import annotations

import argparse
import csv
import io
import sys
from collections.abc import Callable, Sequence
from typing import Any

from scalesearch.errors import ScalesearchError, UsageError
from scalesearch.formatting import compact, table, to_json

Handler = Callable[[argparse.Namespace], int]
_COMMANDS: dict[str, tuple[Handler, Callable[[argparse.ArgumentParser], None], str]] = {}


def command(name: str, help: str) -> Callable[[Handler], Handler]:
    """Register a sub-command; its ``args`` function (``<handler>.args``) adds the options."""

    def register(fn: Handler) -> Handler:
        _COMMANDS[name] = (fn, getattr(fn, "add_args", lambda p: None), help)
        return fn

    return register


def _args(setup: Callable[[argparse.ArgumentParser], None]) -> Callable[[Handler], Handler]:
    def attach(fn: Handler) -> Handler:
        fn.add_args = setup  # type: ignore[attr-defined]
        return fn

    return attach


def _format_arg(p: argparse.ArgumentParser, choices: Sequence[str] = ("table", "json")) -> None:
    p.add_argument("--format", choices=list(choices), default="table", help="output format")


def _out(fmt: str, rows: list[dict[str, Any]], columns: Sequence[str] | None = None) -> None:
    if fmt == "json":
        print(to_json(rows))
    elif fmt == "csv":
        buf = io.StringIO()
        cols = list(columns or rows[0].keys()) if rows else []
        w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({c: compact(r.get(c)) if isinstance(r.get(c), (dict, list)) else r.get(c) for c in cols})
        print(buf.getvalue(), end="")
    else:
        print(table(rows, columns))


# --------------------------------------------------------------------------- families


@command("families", "list the families, their parameters, domains and defaults")
@_args(_format_arg)
def cmd_families(args: argparse.Namespace) -> int:
    from scalesearch.registry import families

    rows = [
        {"family": f.name, "parameter": p.name, "domain": p.domain.describe(),
         "default": "derived" if p.default is None else p.default,
         "search": p.search.describe() if p.search else "-", "help": p.help}
        for f in families() for p in f.space.params
    ]
    if args.format == "json":
        print(to_json([
            {"family": f.name, "summary": f.summary,
             "parameters": [r for r in rows if r["family"] == f.name],
             "constraints": [c.rule for c in f.space.constraints],
             "canonical": [c.name for c in f.canonical]} for f in families()
        ]))
        return 0
    for f in families():
        print(f"{f.name}: {f.summary}")
        print(table([r for r in rows if r["family"] == f.name], ["parameter", "domain", "default", "search", "help"]))
        for c in f.space.constraints:
            print(f"  rule: {c.rule}")
        print(f"  canonical: {', '.join(c.name for c in f.canonical)}\n")
    return 0


# --------------------------------------------------------------------------- fixed points


def _fixed_points_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--family", help="only this family")
    p.add_argument("--method", choices=["fvcore", "analytic"], default="fvcore",
                   help="count with fvcore (default, builds and traces) or analytically")
    _format_arg(p, ("table", "json", "csv"))


@command("fixed-points", "every canonical network: its point, params and FLOPs beside the reference")
@_args(_fixed_points_args)
def cmd_fixed_points(args: argparse.Namespace) -> int:
    from scalesearch.cost.fvcore_count import FLOP_CONVENTION
    from scalesearch.cost.record import cost_of
    from scalesearch.registry import families, get_family

    fams = [get_family(args.family)] if args.family else families()
    rows = []
    for fam in fams:
        defaults = fam.point()
        for c in fam.canonical:
            rec = cost_of(fam, fam.point(c.values), args.method)
            ref = c.reference
            rows.append({
                "name": c.name, "family": fam.name, "point": rec.point, "resolution": rec.resolution,
                "params": rec.params, "ref_params": ref.params if ref.params is not None else ref.paper_params,
                "flops": rec.flops, "ref_flops": ref.flops if ref.flops is not None else ref.paper_flops,
                "activations": rec.activations, "method": args.method,
                "point_diff": {k: v for k, v in rec.point.items() if v != defaults.get(k)},
                "reference": {"params": ref.params, "flops": ref.flops, "paper_params": ref.paper_params,
                              "paper_flops": ref.paper_flops, "source": ref.source},
                "unsupported_ops": rec.unsupported,
            })
    if args.format == "table":
        print(f"FLOPs: {FLOP_CONVENTION}; counted by {args.method}")
        print(table(rows, ["name", "family", "resolution", "params", "ref_params", "flops", "ref_flops",
                           "point_diff"]))
    else:
        for r in rows:
            r.pop("point_diff")
            r["flop_convention"] = FLOP_CONVENTION
        _out(args.format, rows, ["name", "family", "resolution", "params", "ref_params", "flops", "ref_flops",
                                 "activations", "point", "method"])
    return 0


# --------------------------------------------------------------------------- cost


def _point_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("family", help="family name (see `scalesearch families`)")
    p.add_argument("values", nargs="*", metavar="key=value", help="parameter values; lists as a,b,c")
    p.add_argument("--resolution", type=int, help="input resolution (same as resolution=R)")


def _latency_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--latency", action="store_true", help="also measure latency on --device")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--dtype", choices=["fp32", "fp16", "bf16"], default="fp32")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--repeats", type=int, default=10, help="timed runs (median reported)")
    p.add_argument("--warmup", type=int, default=3)


def _parse_point(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    from scalesearch.registry import get_family

    fam = get_family(args.family)
    values = fam.space.parse(args.values)
    if getattr(args, "resolution", None) is not None:
        values["resolution"] = args.resolution
    return fam, values


def _cost_args(p: argparse.ArgumentParser) -> None:
    _point_args(p)
    p.add_argument("--method", choices=["analytic", "fvcore"], default="fvcore")
    _latency_args(p)
    _format_arg(p)


@command("cost", "build one point and print its params, FLOPs, activations (and latency)")
@_args(_cost_args)
def cmd_cost(args: argparse.Namespace) -> int:
    from scalesearch.cost.latency import LatencySpec
    from scalesearch.cost.record import cost_of

    fam, values = _parse_point(args)
    spec = None
    if args.latency:
        spec = LatencySpec(args.device, args.batch_size, args.dtype, args.channels_last, args.warmup, args.repeats)
    rec = cost_of(fam, values, args.method, latency=spec)
    data = rec.as_dict()
    if args.format == "json":
        print(to_json(data))
    else:
        for k in ("family", "point", "resolution", "method", "params", "flops", "activations", "latency_ms",
                  "latency_spread_ms", "latency", "unsupported", "flop_convention"):
            if data.get(k) is not None:
                print(f"{k:>18}: {compact(data[k])}")
    return 0


# --------------------------------------------------------------------------- screen / solve


def _screen_args(p: argparse.ArgumentParser) -> None:
    _point_args(p)
    p.add_argument("--budget", action="append", default=[], help="e.g. flops<=4.2e9 or params~resnet50±2%%")
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--method", choices=["analytic", "fvcore"], default="analytic")
    _format_arg(p)


@command("screen", "sample points of a space, cost them, count how many meet a budget")
@_args(_screen_args)
def cmd_screen(args: argparse.Namespace) -> int:
    from scalesearch.budget import format_number, parse_budget
    from scalesearch.screen import screen

    fam, fixed = _parse_point(args)
    budget = parse_budget(args.budget)
    result = screen(fam, budget, args.samples, fixed, method=args.method, seed=args.seed)
    if args.format == "json":
        print(to_json(result.as_dict()))
        return 0
    print(f"{fam.name}: screened {result.screened} points by {result.method} in {result.seconds:.3f} s "
          f"({result.points_per_second:,.0f} points/s)")
    print(f"budget {budget.text or '(none)'}: {result.feasible} of {result.screened} feasible")
    for label, s in (("cheapest", result.cheapest), ("dearest", result.dearest),
                     ("cheapest feasible", result.cheapest_feasible)):
        if s is not None:
            r = s.record
            print(f"{label:>18}: params={format_number(r.params)} flops={format_number(r.flops)} "
                  f"{compact({k: v for k, v in r.point.items() if k in fam.space.search_domains(fixed)})}")
    return 0


def _solve_args(p: argparse.ArgumentParser) -> None:
    _point_args(p)
    p.add_argument("--free", required=True, help="the parameter to solve for")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--match", help="a canonical network whose cost to match, e.g. resnet50")
    g.add_argument("--target", help="a target cost, e.g. 25.5M")
    p.add_argument("--metric", choices=["params", "flops", "activations"], default="params")
    _format_arg(p)


@command("solve", "with all parameters but one fixed, find the value that best meets a target cost")
@_args(_solve_args)
def cmd_solve(args: argparse.Namespace) -> int:
    from scalesearch.budget import canonical_resolver, format_number, parse_number
    from scalesearch.screen import solve

    fam, fixed = _parse_point(args)
    if args.match:
        target = canonical_resolver()(args.match, args.metric)
    else:
        try:
            target = parse_number(args.target)
        except ValueError:
            raise UsageError(f"--target must be a number such as 25.5M or 4.1e9, but got {args.target}") from None
    sol = solve(fam, fixed, args.free, args.metric, target)
    if args.format == "json":
        print(to_json({**sol.as_dict(), "match": args.match}))
    else:
        print(sol.value)
        print(f"# {args.free}={sol.value}: {args.metric}={format_number(sol.achieved)} vs target "
              f"{format_number(target)}{' (' + args.match + ')' if args.match else ''}, "
              f"{sol.relative_error:+.2%}", file=sys.stderr)
    return 0


# --------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    import scalesearch.cli_plots  # noqa: F401  (registers pareto and report)
    import scalesearch.cli_ray  # noqa: F401  (registers submit and jobs)
    import scalesearch.cli_run  # noqa: F401  (registers run/results/... commands)

    parser = argparse.ArgumentParser(
        prog="scalesearch",
        description="Search and scale CNN families under exact cost budgets (FLOPs counted by fvcore).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (fn, setup, help) in _COMMANDS.items():
        p = sub.add_parser(name, help=help, description=help)
        setup(p)
        p.set_defaults(handler=fn)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except ScalesearchError as err:
        print(f"scalesearch {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"scalesearch {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0


if __name__ == "__main__":  # `python -m scalesearch.cli`: use the imported module, whose registry is filled
    from scalesearch.cli import main as _main

    sys.exit(_main())
