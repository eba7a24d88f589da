"""The ``scalesearch`` command line: one explicit table of commands. Bad input: one line on stderr, exit 2."""

from __future__ import annotations

import argparse
import contextlib
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import NoReturn

from scalesearch.cli import (
    cluster,
    costs,
    export,
    families,
    latency,
    plots,
    proxies,
    run,
    scale,
    science,
    train,
)
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
    Command(
        "families",
        "list the families, their parameters, domains and defaults",
        format_arg,
        families.cmd_families,
    ),
    Command(
        "fixed-points",
        "every canonical network: its point, params and FLOPs beside the reference",
        families.fixed_points_args,
        families.cmd_fixed_points,
    ),
    Command(
        "cost",
        "build one point and print its params, FLOPs, activations (and latency)",
        costs.cost_args,
        costs.cmd_cost,
    ),
    Command(
        "screen",
        "sample points of a space, cost them, count how many meet a budget",
        costs.screen_args,
        costs.cmd_screen,
    ),
    Command(
        "solve",
        "with all parameters but one fixed, find the value that best meets a target cost",
        costs.solve_args,
        costs.cmd_solve,
    ),
    Command(
        "latency",
        "calibrate, list and show device latency profiles",
        latency.latency_args,
        latency.cmd_latency,
    ),
    Command("run", "run an experiment file (resumes when run again)", run.run_args, run.cmd_run),
    Command("results", "the trials of a run, best feasible point on top", run.results_args, run.cmd_results),
    Command("train", "train a network or a run's winner to completion", train.train_args, train.cmd_train),
    Command(
        "export",
        "a network to ONNX or TorchScript, its parity with PyTorch checked",
        export.export_args,
        export.cmd_export,
    ),
    Command(
        "pareto",
        "Pareto front of one or more runs, canonical networks drawn in",
        plots.pareto_args,
        plots.cmd_pareto,
    ),
    Command("report", "one self-contained HTML page about a run", plots.report_args, plots.cmd_report),
    Command(
        "edf",
        "error EDFs of trained populations (complexity-matched, KS) or complexity EDFs of a space",
        science.edf_args,
        science.cmd_edf,
    ),
    Command(
        "fit",
        "scaling-law fits err = a + b*C^-c per family, extrapolated to a target with intervals",
        science.fit_args,
        science.cmd_fit,
    ),
    Command(
        "proxies",
        "zero-cost proxies beside params/FLOPs/activations, against a run's accuracies",
        proxies.proxies_args,
        proxies.cmd_proxies,
    ),
    Command(
        "scale", "scale a point by a named rule to s x its exact FLOPs", scale.scale_args, scale.cmd_scale
    ),
    Command(
        "submit",
        "run an experiment on a Ray cluster as a Ray job and bring its results back",
        cluster.submit_args,
        cluster.cmd_submit,
    ),
    Command(
        "jobs",
        "Ray jobs of a cluster: status, logs, stop, list, fetch (results of a finished job)",
        cluster.jobs_args,
        cluster.cmd_jobs,
    ),
)


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``scalesearch cost: error: ...``, exit 2) instead of usage + error."""

    argv: Sequence[str] = ()

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}{self._dash_hint(message)} (see {self.prog} --help)\n")

    def _dash_hint(self, message: str) -> str:
        """argparse reads ``--target -1M`` as a missing value: name the value and how to pass it."""
        m = re.match(r"argument (\S+?)(?:/\S+)?: expected one argument", message)
        argv = list(Parser.argv)
        if not m or m[1] not in argv or argv.index(m[1]) + 1 >= len(argv):
            return ""
        value = argv[argv.index(m[1]) + 1]
        return f", but got {m[1]} {value}; a value starting with '-' is written {m[1]}={value}"


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except where there is none to show."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            default is None
            or default is False
            or default == []
            or default == argparse.SUPPRESS
            or "default" in text
        ):
            return text
        return super()._get_help_string(action) or text


def _version() -> str:
    from scalesearch import __version__

    return f"scalesearch {__version__}"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="scalesearch",
        description="Search and scale CNN families under exact cost budgets (FLOPs counted by fvcore).",
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=Parser)
    for cmd in COMMANDS:
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help, formatter_class=HelpFormatter)
        cmd.add_args(p)
        p.set_defaults(handler=cmd.handler)
    return parser


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM stops a command as Ctrl-C does, so files being written are cleaned up (a run's own
    handler, installed inside, stops it at a safe point instead)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    Parser.argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    try:
        with _sigterm_as_interrupt():
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
