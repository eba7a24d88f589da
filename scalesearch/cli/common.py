"""What every command module shares: the output format option and the table/JSON/CSV writer."""

from __future__ import annotations

import argparse
import csv
import io
from collections.abc import Sequence
from typing import Any

from scalesearch.formatting import compact, table, to_json


def format_arg(p: argparse.ArgumentParser, choices: Sequence[str] = ("table", "json")) -> None:
    p.add_argument("--format", choices=list(choices), default="table", help="output format")


def out(fmt: str, rows: list[dict[str, Any]], columns: Sequence[str] | None = None) -> None:
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
