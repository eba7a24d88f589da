"""Number formatting and plain-text tables: the one home for how scalesearch shows a value (torch-free).

One style everywhere:

- counts (params, FLOPs, activations) in tables and plots: human units, ``8.95M``, ``4.2G``,
  never ``0.00895G`` or ``8.029e+05``; in CSV/JSON they stay integers (``303706``);
- accuracy as a percent (``81.2%``); latency in ms below one second, else in s;
- other floats with 4 significant digits; point values as written (lists joined by commas).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

_SUFFIXES = (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3))
COUNT_COLUMNS = ("params", "flops", "activations")
"""Columns that count things: integers in data files, human units in tables."""
MISSING = "–"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def human(value: float, digits: int = 3) -> str:
    """A count with a K/M/G/T suffix: ``8_950_000`` → ``"8.95M"``; ``digits`` significant digits."""
    value = float(value)
    for suffix, scale in _SUFFIXES:
        if abs(value) >= scale:
            return f"{value / scale:.{digits}g}{suffix}"
    return f"{value:.{digits}g}"


def format_number(value: float) -> str:
    """Short human form with 4 significant digits: 4.21e9 → '4.21G' (budgets and their reasons)."""
    return human(value, 4)


def format_latency(ms: float) -> str:
    """Milliseconds below one second (``"12.3 ms"``), seconds above (``"143 s"``)."""
    ms = float(ms)
    return f"{ms:.3g} ms" if abs(ms) < 1000 else f"{ms / 1000:.3g} s"


def format_metric(column: str, value: Any) -> str:
    """A value of a results column for a table or a label: ``flops`` 4.2e9 → ``"4.2G"``."""
    if _missing(value):
        return MISSING
    if isinstance(value, str):
        return value
    value = float(value)
    if column in COUNT_COLUMNS:
        return human(value)
    if column == "accuracy":
        return f"{100 * value:.4g}%"
    if column == "latency_ms":
        return format_latency(value)
    if column in ("duration_s", "train_seconds"):
        return format_latency(1000 * value)
    return f"{value:.4g}"


def tidy(value: Any) -> Any:
    """A value without floating-point noise: ``0.6050000000000001`` → ``0.605`` (lists and dicts too)."""
    if isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.12g}")
    if isinstance(value, (list, tuple)):
        return type(value)(tidy(v) for v in value)
    if isinstance(value, Mapping):
        return {k: tidy(v) for k, v in value.items()}
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return tidy(value.item())
    return value


def format_value(value: Any) -> str:
    """A point or searched value: floats with 4 significant digits, lists joined by commas."""
    if _missing(value):
        return MISSING
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ",".join(format_value(v) for v in value)
    return str(tidy(value))


def compact(value: Any) -> str:
    """A cell of a plain-text table: ints with thousands separators, floats with 4 digits."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    if isinstance(value, Mapping):
        return " ".join(
            f"{k}={compact(v).replace(',', '') if isinstance(v, int) else compact(v)}"
            for k, v in value.items()
        )
    return str(value)


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """Left-aligned text columns; numbers right-aligned."""
    if not rows:
        return "(no rows)"
    columns = list(columns or rows[0].keys())
    cells = [[compact(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    numeric = [all(isinstance(r.get(c), (int, float)) or r.get(c) is None for r in rows) for c in columns]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)
        ).rstrip()

    return "\n".join([line(columns), line(["-" * w for w in widths]), *(line(r) for r in cells)])


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, default=str)
