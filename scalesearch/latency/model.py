"""Candidate latency models over :data:`~scalesearch.latency.features.FEATURES`, and the choice
between them by measured held-out error.

- ``additive``: latency = sum of non-negative costs per unit: time per FLOP of each layer-type
  group, per layer run, per activation, per parameter, plus a constant: a per-layer-type lookup
  table fitted from whole networks (once-for-all tabulates blocks one by one instead). Non-negative
  least squares on rows scaled by the measured latency, so relative errors are what it minimises.
- ``loglinear``: log latency = a + sum b_i log(1 + x_i), by (lightly ridged) least squares.
- ``+family``: either one times a factor per family (the median measured/predicted ratio of its
  calibration points), for what a family's implementation adds (concatenations, permutes...).
- ``layers``: the per-layer table's milliseconds (conv and linear; norms) (:mod:`~scalesearch.latency.layers`)
  plus non-negative costs per inference, per layer run and per activation, fitted by NNLS on
  relative error for each family on its own points (what a family runs besides its tabled layers
  differs: joins, concatenations, permutes), and once on all points for families not calibrated.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scalesearch.errors import ScalesearchError
from scalesearch.latency.features import FEATURES

KINDS = ("additive", "loglinear", "layers")

LAYER_TERMS = ("const", "calls_dense", "calls_light", "activations")
"""The analytic features the ``layers`` model adds to the table's milliseconds."""


@dataclass(frozen=True)
class LatencyModel:
    """A fitted model: its kind, coefficients over FEATURES, and optional factors per family."""

    kind: str
    coef: tuple[float, ...]
    scale: tuple[float, ...] = ()
    """Column scales the coefficients apply to (features divided by these first)."""
    family_factor: Mapping[str, float] = field(default_factory=dict)
    family_coef: Mapping[str, tuple[tuple[float, ...], tuple[float, ...]]] = field(default_factory=dict)
    """``layers``: (coef, scale) per calibrated family; ``coef``/``scale`` serve the others."""

    @property
    def name(self) -> str:
        return self.kind + ("+family" if self.family_factor else "")

    def predict(
        self, x: np.ndarray, families: Sequence[str] | None = None, sums: np.ndarray | None = None
    ) -> np.ndarray:
        """Predicted milliseconds for the rows of ``x`` (features), one family name per row;
        ``sums``: the table's (conv and linear, norm) milliseconds per row, which ``layers`` needs."""
        x = np.atleast_2d(np.asarray(x, dtype=float))
        coef = np.asarray(self.coef)
        if self.kind == "layers":
            if sums is None:
                raise ScalesearchError("a layers latency model needs the layer table's sums, but got none")
            d = layer_design(x, sums)
            fams = list(families) if families is not None else [""] * len(d)
            out = np.array(
                [
                    (row / np.asarray(sc)) @ np.asarray(c)
                    for row, (c, sc) in zip(
                        d, (self.family_coef.get(f, (self.coef, self.scale)) for f in fams), strict=True
                    )
                ]
            )
        elif self.kind == "additive":
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
            "family_coef": {f: [list(c), list(sc)] for f, (c, sc) in self.family_coef.items()},
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
            {f: (tuple(c), tuple(sc)) for f, (c, sc) in data.get("family_coef", {}).items()},
        )


def _log_design(x: np.ndarray) -> np.ndarray:
    """[1, log(1 + x_i) for every feature but the constant]."""
    return np.hstack([np.ones((x.shape[0], 1)), np.log1p(np.maximum(x[:, 1:], 0.0))])


def nnls(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """argmin ||a w - b|| subject to w >= 0 (scipy's Lawson-Hanson)."""
    from scipy.optimize import nnls as scipy_nnls

    w, _ = scipy_nnls(a, b, maxiter=50 * a.shape[1])
    return np.asarray(w)


def _relative_nnls(d: np.ndarray, y: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Non-negative weights on the scaled columns of ``d`` minimising the relative error to ``y``."""
    scale = np.maximum(np.abs(d).max(axis=0), 1e-12)
    a = (d / scale) / y[:, None]  # relative residuals: each row divided by its measured latency
    return tuple(nnls(a, np.ones_like(y)).tolist()), tuple(scale.tolist())


def fit_additive(x: np.ndarray, y: np.ndarray) -> LatencyModel:
    coef, scale = _relative_nnls(x, y)
    return LatencyModel("additive", coef, scale)


def layer_design(x: np.ndarray, sums: np.ndarray) -> np.ndarray:
    """The ``layers`` model's columns: the table's conv and linear ms, its norm ms, then :data:`LAYER_TERMS`."""
    cols = [FEATURES.index(t) for t in LAYER_TERMS]
    return np.hstack([np.atleast_2d(np.asarray(sums, dtype=float)), x[:, cols]])


MIN_FAMILY_POINTS = 4
"""A family's own ``layers`` fit needs this many points; with fewer it uses the all-family fit."""


def fit_layers(x: np.ndarray, y: np.ndarray, families: Sequence[str], sums: np.ndarray) -> LatencyModel:
    d = layer_design(x, sums)
    coef, scale = _relative_nnls(d, y)
    fams = np.asarray(families)
    own = {
        f: _relative_nnls(d[fams == f], y[fams == f])
        for f in sorted(set(families))
        if (fams == f).sum() >= MIN_FAMILY_POINTS
    }
    return LatencyModel("layers", coef, scale, family_coef=own)


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


def fit(
    name: str, x: np.ndarray, y: np.ndarray, families: Sequence[str], sums: np.ndarray | None = None
) -> LatencyModel:
    """Fit candidate ``name`` (``additive``, ``loglinear``, either with ``+family``, or ``layers``
    on the table's ``sums``)."""
    if name == "layers":
        if sums is None:
            raise ScalesearchError("the layers latency model needs the layer table's sums, but got none")
        return fit_layers(x, y, families, sums)
    kind, _, extra = name.partition("+")
    model = FITS[kind](x, y)
    return with_family_factors(model, x, y, families) if extra == "family" else model


CANDIDATES = (*(k + extra for k in KINDS[:2] for extra in ("", "+family")), "layers")


def folds(families: Sequence[str], k: int) -> np.ndarray:
    """A fold number per row, dealt round-robin within each family (every fold sees every family)."""
    seen: dict[str, int] = {}
    out = []
    for f in families:
        out.append(seen.get(f, 0) % k)
        seen[f] = seen.get(f, 0) + 1
    return np.array(out)


def cv_error(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    families: Sequence[str],
    k: int = 4,
    sums: np.ndarray | None = None,
) -> float:
    """Mean absolute log error of candidate ``name`` under k-fold cross-validation."""
    fold = folds(families, k)
    fams = np.asarray(families)
    errors = []
    for i in range(k):
        test = fold == i
        if not test.any() or test.all():
            continue
        train_sums, test_sums = (None, None) if sums is None else (sums[~test], sums[test])
        model = fit(name, x[~test], y[~test], list(fams[~test]), train_sums)
        errors.append(np.abs(np.log(model.predict(x[test], list(fams[test]), test_sums) / y[test])))
    return float(np.mean(np.concatenate(errors))) if errors else float("inf")


def choose(
    x: np.ndarray, y: np.ndarray, families: Sequence[str], sums: np.ndarray | None = None
) -> tuple[LatencyModel, dict[str, float]]:
    """The candidate with the least cross-validated error, refitted on all of (x, y); every
    candidate's error (``layers`` only where the table's ``sums`` are given)."""
    if len(y) < 3:
        raise ScalesearchError(f"a latency model needs at least 3 measured points, but got {len(y)}")
    names = [n for n in CANDIDATES if n != "layers" or sums is not None]
    errors = {name: cv_error(name, x, y, families, sums=sums) for name in names}
    best = min(errors, key=lambda n: errors[n])
    return fit(best, x, y, families, sums), errors
