"""The ``scalesearch`` command line: one explicit table of commands. Bad input: one line on stderr, exit 2."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from scalesearch.cli import cluster, costs, plots, run
from scalesearch.cli.common import format_arg
from scalesearch.errors import ScalesearchError


@dataclass(frozen=True)
class Command:
    """A sub-command: its name, one-line help, the function adding its options and its handler."""

    name: str
    help: str
    add_args: Callable[[argparse.ArgumentParser], None]
    handler: Callable[[argparse.Namespace], int]


COMMANDS: tuple[Command, ...] = (
    Command("families", "list the families, their parameters, domains and defaults", format_arg,
            costs.cmd_families),
    Command("fixed-points", "every canonical network: its point, params and FLOPs beside the reference",
            costs.fixed_points_args, costs.cmd_fixed_points),
    Command("cost", "build one point and print its params, FLOPs, activations (and latency)",
            costs.cost_args, costs.cmd_cost),
    Command("screen", "sample points of a space, cost them, count how many meet a budget",
            costs.screen_args, costs.cmd_screen),
    Command("solve", "with all parameters but one fixed, find the value that best meets a target cost",
            costs.solve_args, costs.cmd_solve),
    Command("run", "run an experiment file (resumes when run again)", run.run_args, run.cmd_run),
    Command("results", "the trials of a run, best feasible point on top", run.results_args, run.cmd_results),
    Command("pareto", "Pareto front of one or more runs, canonical networks drawn in", plots.pareto_args,
            plots.cmd_pareto),
    Command("report", "one self-contained HTML page about a run", plots.report_args, plots.cmd_report),
    Command("submit", "run an experiment on a Ray cluster as a Ray job and bring its results back",
            cluster.submit_args, cluster.cmd_submit),
    Command("jobs", "Ray jobs of a cluster: status, logs, stop, list, fetch (results of a finished job)",
            cluster.jobs_args, cluster.cmd_jobs),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scalesearch",
        description="Search and scale CNN families under exact cost budgets (FLOPs counted by fvcore).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for cmd in COMMANDS:
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        cmd.add_args(p)
        p.set_defaults(handler=cmd.handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except ScalesearchError as err:
        print(f"scalesearch {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"scalesearch {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
