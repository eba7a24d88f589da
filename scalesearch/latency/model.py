"""Candidate latency models over :data:`~scalesearch.latency.features.FEATURES`, and the choice
between them by measured held-out error.

- ``additive``: latency = sum of non-negative costs per unit: time per FLOP of each layer-type
  group, per layer run, per activation, per parameter, plus a constant: a per-layer-type lookup
  table fitted from whole networks (once-for-all tabulates blocks one by one instead). Non-negative
  least squares on rows scaled by the measured latency, so relative errors are what it minimises.
- ``loglinear``: log latency = a + sum b_i log(1 + x_i), by (lightly ridged) least squares.
- ``+family``: either one times a factor per family (the median measured/predicted ratio of its
  calibration points), for what a family's implementation adds (concatenations, permutes...).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scalesearch.errors import ScalesearchError
from scalesearch.latency.features import FEATURES

KINDS = ("additive", "loglinear")


@dataclass(frozen=True)
class LatencyModel:
    """A fitted model: its kind, coefficients over FEATURES, and optional factors per family."""

    kind: str
    coef: tuple[float, ...]
    scale: tuple[float, ...] = ()
    """Column scales the coefficients apply to (features divided by these first)."""
    family_factor: Mapping[str, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.kind + ("+family" if self.family_factor else "")

    def predict(self, x: np.ndarray, families: Sequence[str] | None = None) -> np.ndarray:
        """Predicted milliseconds for the rows of ``x`` (features), one family name per row."""
        x = np.atleast_2d(np.asarray(x, dtype=float))
        coef = np.asarray(self.coef)
        if self.kind == "additive":
            out = (x / np.asarray(self.scale)) @ coef
        else:
            out = np.exp(_log_design(x) @ coef)
        if self.family_factor and families is not None:
            out = out * np.array([self.family_factor.get(f, 1.0) for f in families])
        return np.maximum(out, 1e-6)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "features": list(FEATURES),
            "coef": list(self.coef),
            "scale": list(self.scale),
            "family_factor": dict(self.family_factor),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LatencyModel:
        if data.get("kind") not in KINDS or list(data.get("features", [])) != list(FEATURES):
            raise ScalesearchError(
                f"a latency model must be one of {', '.join(KINDS)} over features {', '.join(FEATURES)}, "
                f"but got kind={data.get('kind')} features={data.get('features')}"
            )
        return cls(
            data["kind"],
            tuple(data["coef"]),
            tuple(data.get("scale", ())),
            dict(data.get("family_factor", {})),
        )


def _log_design(x: np.ndarray) -> np.ndarray:
    """[1, log(1 + x_i) for every feature but the constant]."""
    return np.hstack([np.ones((x.shape[0], 1)), np.log1p(np.maximum(x[:, 1:], 0.0))])


def nnls(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """argmin ||a w - b|| subject to w >= 0 (scipy's Lawson-Hanson)."""
    from scipy.optimize import nnls as scipy_nnls

    w, _ = scipy_nnls(a, b, maxiter=50 * a.shape[1])
    return np.asarray(w)


def fit_additive(x: np.ndarray, y: np.ndarray) -> LatencyModel:
    scale = np.maximum(np.abs(x).max(axis=0), 1e-12)
    a = (x / scale) / y[:, None]  # relative residuals: each row divided by its measured latency
    return LatencyModel("additive", tuple(nnls(a, np.ones_like(y))), tuple(scale))


def fit_loglinear(x: np.ndarray, y: np.ndarray, ridge: float = 1e-3) -> LatencyModel:
    d = _log_design(x)
    reg = ridge * np.eye(d.shape[1])
    reg[0, 0] = 0.0
    coef = np.linalg.solve(d.T @ d + reg, d.T @ np.log(y))
    return LatencyModel("loglinear", tuple(coef))


FITS: dict[str, Callable[[np.ndarray, np.ndarray], LatencyModel]] = {
    "additive": fit_additive,
    "loglinear": fit_loglinear,
}


def with_family_factors(
    model: LatencyModel, x: np.ndarray, y: np.ndarray, families: Sequence[str]
) -> LatencyModel:
    """``model`` times each family's median measured/predicted ratio on (x, y)."""
    ratio = y / model.predict(x)
    fams = np.asarray(families)
    factors = {f: float(np.median(ratio[fams == f])) for f in sorted(set(families))}
    return LatencyModel(model.kind, model.coef, model.scale, factors)


def fit(name: str, x: np.ndarray, y: np.ndarray, families: Sequence[str]) -> LatencyModel:
    """Fit candidate ``name`` (``additive``, ``loglinear``, either with ``+family``)."""
    kind, _, extra = name.partition("+")
    model = FITS[kind](x, y)
    return with_family_factors(model, x, y, families) if extra == "family" else model


CANDIDATES = tuple(k + extra for k in KINDS for extra in ("", "+family"))


def folds(families: Sequence[str], k: int) -> np.ndarray:
    """A fold number per row, dealt round-robin within each family (every fold sees every family)."""
    seen: dict[str, int] = {}
    out = []
    for f in families:
        out.append(seen.get(f, 0) % k)
        seen[f] = seen.get(f, 0) + 1
    return np.array(out)


def cv_error(name: str, x: np.ndarray, y: np.ndarray, families: Sequence[str], k: int = 4) -> float:
    """Mean absolute log error of candidate ``name`` under k-fold cross-validation."""
    fold = folds(families, k)
    fams = np.asarray(families)
    errors = []
    for i in range(k):
        test = fold == i
        if not test.any() or test.all():
            continue
        model = fit(name, x[~test], y[~test], list(fams[~test]))
        errors.append(np.abs(np.log(model.predict(x[test], list(fams[test])) / y[test])))
    return float(np.mean(np.concatenate(errors))) if errors else float("inf")


def choose(x: np.ndarray, y: np.ndarray, families: Sequence[str]) -> tuple[LatencyModel, dict[str, float]]:
    """The candidate with the least cross-validated error, refitted on all of (x, y); every
    candidate's error."""
    if len(y) < 3:
        raise ScalesearchError(f"a latency model needs at least 3 measured points, but got {len(y)}")
    errors = {name: cv_error(name, x, y, families) for name in CANDIDATES}
    best = min(errors, key=lambda n: errors[n])
    return fit(best, x, y, families), errors
