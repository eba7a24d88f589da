"""A per-layer latency table, as once-for-all's lookup tables: conv, linear and norm layers timed
where they run inside the calibration networks, looked up by shape.

Calibration times every conv, ``nn.Linear``, batch, group and layer norm of a network in place
(forward hooks, the median of a few runs in each timing round, then over the rounds), keyed by the
shape the analytic walk records (:attr:`~scalesearch.cost.analytic.Tally.shapes`). A shape the table
holds is read from it; any other is estimated in its group (dense 1x1, dense kxk, depthwise, grouped
and weight-standardised convs, linear, each norm): a trend fitted to the group's measured shapes
(ridge least squares, quadratic in the log of channels, area, kernel, stride, multiply-adds, values
moved and weights) plus the departures from that trend of its nearest measured shapes, so the table
covers points never measured. A network's table latency is the sum over its layers; the latency
model adds what layers alone do not account for (activations, joins, Python per-layer overhead).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch
    from torch import nn

Shape = tuple[Any, ...]
"""``("conv", c_in, c_out, groups, kh, kw, stride, out_area)``, ``("bn", channels, area)``,
``("linear", f_in, f_out, rows)``, ``("ln", channels, rows)`` (rows: vectors per image) or
``("gn", channels, area)``; ``"wsconv"`` in place of ``"conv"`` for a weight-standardised conv."""

CONVS = ("conv", "wsconv")
"""Conv kinds: plain, and weight-standardised (a conv class says ``latency_kind = "wsconv"``)."""
NORMS = ("bn", "ln", "gn")
"""Norm kinds (batch, layer, group): summed apart from the convs and linears for the model."""

NEIGHBOURS = 4
"""Measured shapes whose departures from the trend an unmeasured one takes (inverse-distance weights)."""

SMOOTHING = 0.5
"""Added to the neighbours' distances before inverting them (nearer counts more, never all)."""


def group_of(shape: Shape) -> str:
    """dense 1x1, dense kxk, depthwise, grouped, weight-standardised conv, linear, bn, ln, gn."""
    if shape[0] not in CONVS:
        return str(shape[0])
    if shape[0] == "wsconv":
        return "wsconv"
    _, c_in, c_out, groups, kh, kw, _, _ = shape
    if groups > 1:
        return "conv_dw" if groups == c_in == c_out else "conv_group"
    return "conv1x1" if kh * kw == 1 else "conv_kxk"


def conv_kind(module: nn.Module) -> str | None:
    """A conv module's kind in the table: ``conv`` for ``nn.Conv2d`` itself, a subclass's
    ``latency_kind`` (a conv that does more than convolve times apart), else None (not tabled)."""
    from torch import nn

    if type(module) is nn.Conv2d:
        return "conv"
    return getattr(module, "latency_kind", None) if isinstance(module, nn.Conv2d) else None


def module_shape(module: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Shape | None:
    """The shape key of a conv (:func:`conv_kind`), linear or norm layer run on ``x`` giving ``y``
    (None: not tabled)."""
    from torch import nn

    kind = conv_kind(module)
    if kind is not None and isinstance(module, nn.Conv2d) and y.dim() == 4:
        kh, kw = module.kernel_size
        area = int(y.shape[2] * y.shape[3])
        return (kind, module.in_channels, module.out_channels, module.groups, kh, kw, module.stride[0], area)
    if isinstance(module, nn.BatchNorm2d) and x.dim() == 4:
        return ("bn", int(x.shape[1]), int(x.shape[2] * x.shape[3]))
    if type(module) is nn.Linear:
        return (
            "linear",
            module.in_features,
            module.out_features,
            x.numel() // (module.in_features * x.shape[0]),
        )
    if isinstance(module, nn.LayerNorm) and len(module.normalized_shape) == 1:
        c = module.normalized_shape[0]
        return ("ln", c, x.numel() // (c * x.shape[0]))
    if isinstance(module, nn.GroupNorm) and x.dim() == 4:
        return ("gn", int(x.shape[1]), int(x.shape[2] * x.shape[3]))
    return None


def time_layers(model: nn.Module, x: torch.Tensor, runs: int = 5) -> dict[Shape, float]:
    """Milliseconds per run of each conv, linear or norm shape inside ``model`` (summed over the layers of a
    shape, divided by their number: the time of one), the median over ``runs`` runs. On a GPU each
    layer is bracketed by synchronisations, so its own kernels are what is timed."""
    import torch
    from torch import nn

    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    starts: dict[int, float] = {}
    per_run: dict[Shape, list[float]] = {}
    counts: dict[Shape, int] = {}
    run = [0]

    def pre(m: nn.Module, _: Any) -> None:
        sync()
        starts[id(m)] = time.perf_counter()

    def post(m: nn.Module, inputs: tuple[Any, ...], out: Any) -> None:
        sync()
        dt = time.perf_counter() - starts[id(m)]
        shape = module_shape(m, inputs[0], out)
        if shape is None:
            return
        times = per_run.setdefault(shape, [0.0] * runs)
        times[run[0]] += dt * 1000
        if run[0] == 0:
            counts[shape] = counts.get(shape, 0) + 1

    hooks = []
    for m in model.modules():
        if (
            conv_kind(m)
            or type(m) is nn.Linear
            or isinstance(m, nn.BatchNorm2d | nn.LayerNorm | nn.GroupNorm)
        ):
            hooks += [m.register_forward_pre_hook(pre), m.register_forward_hook(post)]
    try:
        with torch.inference_mode():
            model(x)  # warm-up, not recorded
            per_run.clear()
            counts.clear()
            for run[0] in range(runs):
                model(x)
    finally:
        for h in hooks:
            h.remove()
    return {s: float(np.median(t)) / counts[s] for s, t in per_run.items()}


def terms(shapes: Sequence[Shape]) -> tuple[np.ndarray, np.ndarray]:
    """Where shapes of one group lie for interpolation (log2 channels per group, log2 area, kernel,
    stride, log2 groups; a norm's or linear's log2 sizes), then those columns and log2 of the work
    the shapes do (multiply-adds, values read and written, weights: what time grows with): the
    trend's terms. One row per shape; the first array is a view of the second's first columns."""
    a = np.array([s[1:] for s in shapes], dtype=float).reshape(len(shapes), -1)
    log2 = np.log2
    if shapes and shapes[0][0] in CONVS:
        c_in, c_out, groups, kh, kw, stride, area = a.T
        weights = c_out * c_in / groups * kh * kw
        cols = [
            log2(c_in / groups),
            log2(c_out / groups),
            log2(np.maximum(area, 1)),
            np.sqrt(kh * kw),
            stride,
            log2(groups),
            log2(area * weights + 1),
            log2(c_in * area * stride**2 + 1),
            log2(c_out * area + 1),
            log2(weights + 1),
        ]
        n_where = 6
    else:
        size = a.prod(axis=1)
        cols = [*log2(np.maximum(a, 1)).T, log2(size + 1)]
        if a.shape[1] == 3:  # linear: weights too
            cols.append(log2(a[:, 0] * a[:, 1] + 1))
        n_where = a.shape[1]
    f = np.stack(cols, axis=1)
    return f[:, :n_where], f


def trend_design(f: np.ndarray, quadratic: bool) -> np.ndarray:
    """[1, terms, and their pairwise products when ``quadratic``]: the trend's regressors."""
    cols = [np.ones((len(f), 1)), f]
    if quadratic:
        i, j = np.triu_indices(f.shape[1])
        cols.append(f[:, i] * f[:, j])
    return np.hstack(cols)


RIDGE = 1e-2
"""Ridge penalty of the trend (its intercept is not penalised)."""


@dataclass(frozen=True)
class _Group:
    tree: Any
    residual: np.ndarray
    """log ms minus the trend, at each measured shape."""
    coef: np.ndarray | None = None
    """The trend's constant and linear coefficients (None: no trend, too few shapes)."""
    q: np.ndarray | None = None
    """The trend's quadratic coefficients, upper-triangular (``f' q f``; None: a linear trend)."""

    def trend(self, f: np.ndarray) -> np.ndarray:
        """The trend at terms ``f``: ``c0 + f c1 (+ f' q f)``, :func:`trend_design` times the fitted
        coefficients without building the design (screening asks it for every new shape)."""
        if self.coef is None:
            return np.zeros(len(f))
        out = self.coef[0] + f @ self.coef[1:]
        return out if self.q is None else out + ((f @ self.q) * f).sum(axis=1)

    @classmethod
    def fit(cls, shapes: Sequence[Shape], ms: Sequence[float]) -> _Group:
        """The trend (quadratic in log terms with enough rows, linear with fewer, none with very
        few) and the tree over which its residuals are interpolated."""
        from scipy.spatial import cKDTree  # built here, with the profile, not during screening

        log_ms = np.log(np.asarray(ms, dtype=float))
        where, f = terms(shapes)
        n = f.shape[1]
        group = cls(cKDTree(where), log_ms)
        for quad in (True, False):
            d = trend_design(f, quad)
            if len(shapes) >= 3 * d.shape[1]:
                reg = RIDGE * np.eye(d.shape[1])
                reg[0, 0] = 0.0
                coef = np.linalg.solve(d.T @ d + reg, d.T @ log_ms)
                q = None
                if quad:
                    q = np.zeros((n, n))
                    q[np.triu_indices(n)] = coef[n + 1 :]
                group = cls(group.tree, log_ms, coef[: n + 1], q)
                break
        return cls(group.tree, log_ms - group.trend(f), group.coef, group.q)

    def estimate(self, shapes: Sequence[Shape]) -> np.ndarray:
        """Milliseconds: the trend plus the inverse-distance mean of the nearest shapes' residuals."""
        where, f = terms(shapes)
        k = min(NEIGHBOURS, len(self.residual))
        dist, idx = self.tree.query(where, k=k)
        dist, idx = dist.reshape(len(shapes), k), idx.reshape(len(shapes), k)
        w = 1.0 / (dist + SMOOTHING)
        return np.exp(self.trend(f) + (self.residual[idx] * w).sum(1) / w.sum(1))


class LayerTable:
    """Measured milliseconds by layer shape; any other shape estimated from its group's trend
    and the nearest measured shapes' departures from it."""

    def __init__(self, rows: Mapping[Shape, float]) -> None:
        self.rows = dict(rows)
        self._memo: dict[Shape, float] = dict(self.rows)
        by_group: dict[str, list[Shape]] = {}
        for s in self.rows:
            by_group.setdefault(group_of(s), []).append(s)
        self._groups = {
            g: _Group.fit(shapes, [self.rows[s] for s in shapes]) for g, shapes in by_group.items()
        }

    def lookup(self, shapes: Iterable[Shape]) -> dict[Shape, float]:
        """Milliseconds of each shape: measured, or estimated (NaN where its group has no rows)."""
        missing = [s for s in dict.fromkeys(shapes) if s not in self._memo]
        by_group: dict[str, list[Shape]] = {}
        for s in missing:
            by_group.setdefault(group_of(s), []).append(s)
        for name, todo in by_group.items():
            group = self._groups.get(name)
            if group is None:
                self._memo.update(dict.fromkeys(todo, math.nan))
            else:
                self._memo.update(zip(todo, group.estimate(todo).tolist(), strict=True))
        return self._memo

    def sums(self, shapes: Mapping[Shape, int]) -> tuple[float, float]:
        """(conv and linear ms, norm ms) of a network with ``shapes`` (shape -> layers run)."""
        ms = self.lookup(shapes)
        conv = bn = 0.0
        for s, n in shapes.items():
            v = ms[s]
            if math.isnan(v):
                continue
            if s[0] in NORMS:
                bn += n * v
            else:
                conv += n * v
        return conv, bn

    def as_rows(self) -> list[list[Any]]:
        return [[*s, round(v, 6)] for s, v in self.rows.items()]

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[Any]]) -> LayerTable:
        return cls({tuple(r[:-1]): float(r[-1]) for r in rows})


def merge_timings(timings: Iterable[Mapping[Shape, float]]) -> dict[Shape, float]:
    """One row per shape: the median of its timings across networks."""
    pooled: dict[Shape, list[float]] = {}
    for t in timings:
        for s, v in t.items():
            pooled.setdefault(s, []).append(v)
    return {s: float(np.median(v)) for s, v in pooled.items()}
