"""Named scaling rules as data: how depth, width and resolution share a FLOPs increase.

A rule is a direction in (log d, log w, log r): along it ``d = t**e_d``, ``w = t**e_w``,
``r = t**e_r`` for a scalar ``t > 0``. The exponents are normalised so that
``e_d + 2 e_w + 2 e_r = 1``: the nominal FLOPs of a conv net (``∝ d w² r²``) then grow as ``t``,
so ``t = s`` *nominally*. Stems, heads, SE layers and rounding make the exact counts differ;
:mod:`scalesearch.scaling.solve` finds the ``t`` whose rounded network costs ``s``x the base.
Nominal activations (``∝ d w r²``) grow as ``t**(e_d + e_w + 2 e_r)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scalesearch.errors import UsageError

DIMENSIONS = ("depth", "width", "resolution")
"""The three scaling dimensions, in the order of a rule's exponents."""


@dataclass(frozen=True)
class Rule:
    """A scaling rule: name, exponents (depth, width, resolution) per unit log-FLOPs, and its source."""

    name: str
    exponents: tuple[float, float, float]
    summary: str
    citation: str

    def __post_init__(self) -> None:
        e_d, e_w, e_r = self.exponents
        total = e_d + 2 * e_w + 2 * e_r
        if min(self.exponents) < 0 or not math.isclose(total, 1.0, rel_tol=1e-9):
            raise ValueError(f"rule {self.name}: e_d + 2 e_w + 2 e_r must be 1, but got {total}")

    @property
    def dimensions(self) -> tuple[str, ...]:
        """The dimensions this rule moves (non-zero exponent)."""
        return tuple(d for d, e in zip(DIMENSIONS, self.exponents, strict=True) if e > 0)

    @property
    def activation_exponent(self) -> float:
        """Nominal growth of activations (``∝ d w r²``) per unit log-FLOPs: ``e_d + e_w + 2 e_r``."""
        e_d, e_w, e_r = self.exponents
        return e_d + e_w + 2 * e_r

    def multipliers(self, t: float) -> tuple[float, float, float]:
        """(d, w, r) at position ``t`` along the rule (``t = s`` nominally)."""
        e_d, e_w, e_r = self.exponents
        return t**e_d, t**e_w, t**e_r


DOLLAR = (
    "Dollár, Singh & Girshick 2021, 'Fast and Accurate Model Scaling', CVPR: "
    "d = s^((1-a)/2), w = s^(a/2), r = s^((1-a)/4)"
)


def dollar(alpha: float) -> Rule:
    """Dollár et al.'s activation-aware family: ``d = s^((1−α)/2)``, ``w = s^(α/2)``, ``r = s^((1−α)/4)``.

    ``α = 0.8`` is their fast scaling (activations ``∝ s^0.6``); ``α = 1/3`` is uniform scaling
    (``d``, ``w²`` and ``r²`` grow alike; activations ``∝ s^(5/6)``).
    """
    if not 0 <= alpha <= 1:
        raise UsageError(f"alpha must be in [0, 1] (Dollár et al.'s family), but got alpha={alpha}")
    name = (
        "fast"
        if math.isclose(alpha, 0.8)
        else "uniform"
        if math.isclose(alpha, 1 / 3)
        else f"dollar{alpha:g}"
    )
    return Rule(
        name,
        ((1 - alpha) / 2, alpha / 2, (1 - alpha) / 4),
        f"Dollár et al. with alpha={alpha:.3g}: width takes a share alpha of the FLOPs increase",
        DOLLAR,
    )


COMPOUND_COEFFICIENTS = (1.2, 1.1, 1.15)
"""EfficientNet's alpha (depth), beta (width), gamma (resolution) per unit phi (Tan & Le 2019, eq. 3)."""


def _compound() -> Rule:
    logs = [math.log(c) for c in COMPOUND_COEFFICIENTS]
    per_phi = logs[0] + 2 * logs[1] + 2 * logs[2]  # ln(alpha beta² gamma²) = ln 1.92
    e_d, e_w, e_r = (x / per_phi for x in logs)
    return Rule(
        "compound",
        (e_d, e_w, e_r),
        "EfficientNet compound scaling: d = 1.2^phi, w = 1.1^phi, r = 1.15^phi (FLOPs about 1.92^phi)",
        "Tan & Le 2019, 'EfficientNet: Rethinking Model Scaling for CNNs', ICML, eq. 3 and section 3.3",
    )


COMPOUND = _compound()

RESNET_RS_RESOLUTION_SHARE = 0.5
"""ResNet-RS grows resolution at this fraction of compound scaling's rate (per log-FLOPs)."""


def _resnet_rs() -> Rule:
    e_r = RESNET_RS_RESOLUTION_SHARE * COMPOUND.exponents[2]
    return Rule(
        "resnet_rs",
        (1 - 2 * e_r, 0.0, e_r),
        "ResNet-RS: depth and resolution, not width; resolution at half compound scaling's rate "
        f"(r = s^{e_r:.3f}), depth takes the rest (d = s^{1 - 2 * e_r:.3f})",
        "Bello et al. 2021, 'Revisiting ResNets: Improved Training and Scaling Strategies', NeurIPS, "
        "section 7: scale depth where overfitting can occur (long training), not width, and "
        "increase image resolution more slowly than Tan & Le 2019; the half rate is this rule's choice",
    )


RULES: dict[str, Rule] = {
    rule.name: rule
    for rule in (
        COMPOUND,
        dollar(0.8),
        dollar(1 / 3),
        _resnet_rs(),
        Rule("depth", (1.0, 0.0, 0.0), "depth alone: d = s", "Tan & Le 2019, section 3.2 (Figure 3)"),
        Rule("width", (0.0, 0.5, 0.0), "width alone: w = s^(1/2)", "Tan & Le 2019, section 3.2 (Figure 3)"),
        Rule(
            "resolution",
            (0.0, 0.0, 0.5),
            "resolution alone: r = s^(1/2)",
            "Tan & Le 2019, section 3.2 (Figure 3)",
        ),
    )
}
"""Every named rule: compound, fast (alpha 0.8), uniform (alpha 1/3), resnet_rs, depth, width, resolution."""


def get_rule(name: str, alpha: float | None = None) -> Rule:
    """The rule called ``name``; ``alpha`` (Dollár et al.'s family) replaces fast's 0.8."""
    if alpha is not None:
        if name not in ("fast", "uniform"):
            raise UsageError(f"--alpha applies to the fast and uniform rules only, but got --rule {name}")
        return dollar(alpha)
    if name not in RULES:
        raise UsageError(f"unknown scaling rule {name!r}; known rules: {', '.join(RULES)}")
    return RULES[name]
