"""Named scaling rules (compound, Dollár et al.'s fast/uniform, ResNet-RS, one dimension alone)
and the solver that scales a base point to ``s``x its exact FLOPs."""

from scalesearch.scaling.knobs import KNOBS, Knob, knobs_of
from scalesearch.scaling.rules import DIMENSIONS, RULES, Rule, dollar, get_rule
from scalesearch.scaling.solve import TOLERANCE, Scaled, ScalingError, check_applies, scale

__all__ = [
    "DIMENSIONS",
    "KNOBS",
    "RULES",
    "TOLERANCE",
    "Knob",
    "Rule",
    "Scaled",
    "ScalingError",
    "check_applies",
    "dollar",
    "get_rule",
    "knobs_of",
    "scale",
]
