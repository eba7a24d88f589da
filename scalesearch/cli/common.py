"""What every command module shares: the output format option, the table/JSON/CSV writer, progress."""

from __future__ import annotations

import argparse
import csv
import io
import sys
import textwrap
import time
from collections.abc import Sequence
from typing import Any, TextIO

from scalesearch.formatting import compact, table, to_json


def format_arg(p: argparse.ArgumentParser, choices: Sequence[str] = ("table", "json")) -> None:
    p.add_argument("--format", choices=list(choices), default="table", help="output format")


def set_arg(p: argparse.ArgumentParser, help: str, metavar: str = "KEY=VALUE") -> None:
    """``--set KEY=VALUE`` (repeatable) into ``args.overrides``: the one override option of the CLI."""
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar=metavar, help=help)


def out(fmt: str, rows: list[dict[str, Any]], columns: Sequence[str] | None = None) -> None:
    if fmt == "json":
        print(to_json(rows))
    elif fmt == "csv":
        buf = io.StringIO()
        cols = list(columns or rows[0].keys()) if rows else []
        w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow(
                {c: compact(r.get(c)) if isinstance(r.get(c), (dict, list)) else r.get(c) for c in cols}
            )
        print(buf.getvalue(), end="")
    else:
        print(table(rows, columns))


class Ticker:
    """A one-line progress counter on stderr, shown only on a terminal; ``close`` clears it.

    Redrawn at most ten times a second, so a fast loop is not slowed by its own progress.
    """

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last = 0.0
        self._shown = False

    def __call__(self, done: int, total: int, note: str = "") -> None:
        now = time.monotonic()
        if not self.live or (now - self._last < 0.1 and done < total):
            return
        self._last = now
        self.stream.write(f"\r\033[K{self.label} {done}/{total}{' ' + note if note else ''}")
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._shown = False


WIDTH = 100
"""Text output (families, cost --by type) fits a terminal this wide."""


def wrap(text: str, indent: str) -> str:
    """``text`` folded to :data:`WIDTH` columns, continuation lines indented by ``indent``."""
    return textwrap.fill(
        text, WIDTH, subsequent_indent=indent, break_on_hyphens=False, break_long_words=False
    )
