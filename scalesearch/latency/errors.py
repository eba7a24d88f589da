"""Held-out error of predicted against measured latency, overall and by family."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

WITHIN = 0.10
"""The tolerance of the "within" share: ±10 % of the measured latency."""


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation (ties ranked by their mean); NaN below 3 points or constant input."""
    from scipy.stats import rankdata

    if len(a) < 3:
        return float("nan")
    ra, rb = rankdata(a), rankdata(b)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def error_row(predicted: np.ndarray, measured: np.ndarray) -> dict[str, Any]:
    """n, Spearman, share within ±10 %, median and 90th percentile of the absolute % error."""
    rel = np.abs(predicted / measured - 1.0)
    return {
        "n": int(len(measured)),
        "spearman": round(spearman(predicted, measured), 4),
        "within_10pct": round(float(np.mean(rel <= WITHIN)), 4),
        "median_abs_pct": round(100 * float(np.median(rel)), 2),
        "p90_abs_pct": round(100 * float(np.quantile(rel, 0.9)), 2),
    }


def error_table(
    predicted: np.ndarray, measured: np.ndarray, families: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """:func:`error_row` for each family, then ``all``."""
    fams = np.asarray(families)
    table = {f: error_row(predicted[fams == f], measured[fams == f]) for f in dict.fromkeys(families)}
    table["all"] = error_row(predicted, measured)
    return table
