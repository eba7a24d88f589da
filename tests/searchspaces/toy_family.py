"""A toy family: stages of stride-2 3x3 conv-BN-ReLU, each doubling the width, then global
average pooling and a linear classifier.

A family is one file: a network built from a point, its cost twin (params, FLOPs and
activations exactly as fvcore counts them), the space of its parameters, and a module-level
``FAMILY`` with small test domains and the canonical networks the conformance suite checks.
"""

from __future__ import annotations

from torch import nn

from scalesearch.cost.analytic import Counts, Tally
from scalesearch.family import Family, canonical_table
from scalesearch.space import Choice, Constraint, Int, Param, Point, Space
from searchspaces.blocks import ConvNormAct


def widths(p: Point) -> list[int]:
    return [p["width"] * 2**i for i in range(p["stages"])]


def build(p: Point) -> nn.Module:
    layers, c_in = [], 3
    for c_out in widths(p):
        layers.append(ConvNormAct(c_in, c_out, stride=2))
        c_in = c_out
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, p["num_classes"]))


def complexity(p: Point) -> Counts:
    """Mirrors build() layer by layer with the blocks' cost twins."""
    t, size, c_in = Tally(), p["resolution"], 3
    for c_out in widths(p):
        size = ConvNormAct.complexity(t, c_in, c_out, size, stride=2)
        c_in = c_out
    t.adaptive_avgpool(c_in, size)
    t.linear(c_in, p["num_classes"])
    return t.counts()


SPACE = Space(
    name="toy",
    params=(
        Param("stages", Int(1, 6), 3, "stride-2 conv stages, each doubling the width", search=Int(1, 4)),
        Param("width", Int(1, 256), 16, "channels of the first stage", search=Choice((8, 16, 32))),
        Param("resolution", Int(8, 512), 32, "input image side in pixels"),
        Param("num_classes", Int(1, 1000), 10, "classifier outputs"),
    ),
    constraints=(
        Constraint(
            "resolution must be at least 2**stages (each stage halves the side)",
            ("resolution", "stages"),
            lambda p: p["resolution"] >= 2 ** p["stages"],
        ),
    ),
)

FAMILY = Family(
    name="toy",
    summary="toy plain CNN: stride-2 3x3 conv-BN-ReLU stages doubling the width",
    space=SPACE,
    build_fn=build,
    complexity_fn=complexity,
    canonical=canonical_table(
        ("name", "stages", "width", "params", "flops"),
        [("toy_3_16", 3, 16, 24_346, 716_416)],
        "this file's build(), fvcore 0.1.5 FlopCountAnalysis eval mode on 1x3x32x32",
    ),
    test_domains={"stages": Int(1, 4), "width": Int(1, 12), "resolution": Choice((16, 17, 32))},
)
