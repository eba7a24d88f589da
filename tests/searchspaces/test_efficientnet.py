"""efficientnet (V1) family: torchvision-exact params and fvcore FLOPs, compound scaling, MBConv."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from scalesearch.cost.fvcore_count import count
from scalesearch.errors import PointError
from searchspaces.blocks import InvertedResidual
from searchspaces.efficientnet import COMPOUND_CONSTRAINT, FAMILY, compound_scaling

# Non-canonical points: (values, params, flops). Measured with torchvision 0.29.1:
# setting, last = torchvision.models.efficientnet._efficientnet_conf("efficientnet_b0",
# width_mult=..., depth_mult=...); EfficientNet(setting, dropout, num_classes=..., last_channel=last),
# and fvcore 0.1.5 FlopCountAnalysis, eval mode, on 1x3xRxR at the point's resolution.
GOLDEN = [
    ({"width_mult": 1.3, "depth_mult": 1.5}, 13_954_106, 1_114_896_416),
    ({"width_mult": 1.3, "depth_mult": 1.5, "resolution": 96, "num_classes": 10}, 12_305_756, 206_234_656),
    ({"depth_mult": 1.2, "width_mult": 1.1, "resolution": 258}, 9_109_994, 1_025_526_544),  # phi=1
    ({"depth_mult": 1.2**-1, "width_mult": 1.1**-1, "resolution": 195}, 4_537_832, 313_941_024),  # phi=-1
    ({"width_mult": 0.5, "depth_mult": 0.5, "resolution": 128}, 1_298_120, 26_461_696),
    ({"width_mult": 0.25, "depth_mult": 0.3, "resolution": 64}, 487_920, 2_704_096),
    ({"width_mult": 2.2, "depth_mult": 0.7, "resolution": 64, "num_classes": 37}, 16_237_515, 139_329_248),
]

# fvcore at B4..B7's native 380-600 px takes seconds each; they still run in the suite.
_SLOW = {"efficientnet_b4", "efficientnet_b5", "efficientnet_b6", "efficientnet_b7"}
CANONICAL = [
    pytest.param(c, id=c.name, marks=[pytest.mark.slow] if c.name in _SLOW else []) for c in FAMILY.canonical
]


@pytest.mark.parametrize("canonical", CANONICAL)
def test_canonical(canonical) -> None:
    point = FAMILY.point(canonical.values)
    counted = count(FAMILY.build(point), point["resolution"])
    assert counted.params == canonical.reference.params
    assert counted.flops == canonical.reference.flops
    assert FAMILY.complexity(point).as_dict() == {
        "params": counted.params,
        "flops": counted.flops,
        "activations": counted.activations,
    }


def test_canonical_set_is_b0_to_b7() -> None:
    assert [c.name for c in FAMILY.canonical] == [f"efficientnet_b{i}" for i in range(8)]
    b2 = FAMILY.canonical_point("efficientnet_b2")
    assert (b2["width_mult"], b2["depth_mult"], b2["resolution"], b2["dropout"]) == (1.1, 1.2, 260, 0.3)
    b7 = FAMILY.canonical_point("efficientnet_b7")
    assert (b7["bn_eps"], b7["bn_momentum"]) == (1e-3, 0.01)


@pytest.mark.parametrize(("values", "params", "flops"), GOLDEN, ids=lambda v: "")
def test_golden_points(values, params, flops) -> None:
    point = FAMILY.point(values)
    counted = count(FAMILY.build(point), point["resolution"])
    assert (counted.params, counted.flops) == (params, flops)
    assert (FAMILY.complexity(point).params, FAMILY.complexity(point).flops) == (params, flops)


def test_compound_scaling() -> None:
    assert compound_scaling(0) == {"depth_mult": 1.0, "width_mult": 1.0, "resolution": 224}
    scaled = compound_scaling(1)
    assert scaled == pytest.approx({"depth_mult": 1.2, "width_mult": 1.1, "resolution": 258})
    assert FAMILY.point(compound_scaling(3))["resolution"] == round(224 * 1.15**3)
    assert "alpha * beta**2 * gamma**2" in COMPOUND_CONSTRAINT
    assert pytest.approx(2, abs=0.1) == 1.2 * 1.1**2 * 1.15**2


def test_stochastic_depth_ramp_and_forward() -> None:
    model = FAMILY.build(
        {"width_mult": 0.25, "depth_mult": 0.5, "num_classes": 5, "stochastic_depth_prob": 0.4}
    )
    probs = [m.stochastic_depth.p for m in model.modules() if isinstance(m, InvertedResidual)]
    assert probs == [0.4 * i / len(probs) for i in range(len(probs))]
    model.eval()
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 5)
    model.train()
    model(torch.randn(2, 3, 32, 32)).sum().backward()


def test_batch_norm_settings() -> None:
    model = FAMILY.build(FAMILY.canonical_point("efficientnet_b5") | {"depth_mult": 0.1, "width_mult": 0.1})
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert {(m.eps, m.momentum) for m in bns} == {(1e-3, 0.01)}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"width_mult": 0}, "width_mult must be a float in [0.1, 4.0], but got width_mult=0.0"),
        ({"depth_mult": 0}, "depth_mult must be a float in [0.1, 6.0], but got depth_mult=0.0"),
        ({"resolution": 16}, "resolution must be an int in [32, 1024], but got resolution=16"),
        ({"stochastic_depth_prob": 1.5}, "stochastic_depth_prob must be a float in [0.0, 1.0]"),
        ({"dropout": -0.1}, "dropout must be a float in [0.0, 0.9], but got dropout=-0.1"),
        ({"bn_eps": 0}, "bn_eps must be a float in [1e-06, 0.1], log, but got bn_eps=0.0"),
    ],
)
def test_invalid_points(values, message) -> None:
    with pytest.raises(PointError, match=re.escape(message)):
        FAMILY.point(values)
