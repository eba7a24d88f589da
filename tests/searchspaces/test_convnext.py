"""convnext family: torchvision-exact params, fvcore FLOPs (LayerNorm, channels-last Linear) and layout."""

from __future__ import annotations

import re

import pytest
import torch

from scalesearch.errors import PointError
from searchspaces.convnext import FAMILY, CNBlock, drop_probs
from tests.searchspaces.golden import check_counts, check_golden_point, check_layout

# sha256 of the reference state dict's "key shape" lines, shape written 16x3x3x3, joined by "\n",
# computed from /work/refdata/golden.json (torchvision 0.28.0 convnext_*(weights=None)):
#   "\n".join(f"{k} {'x'.join(map(str, s))}" for k, s in golden[name]["state_dict"])
STATE_DICT_SHA256 = {
    "convnext_tiny": "c235a7455f2bc1726d6be3701b704189046e52057a770fc4d42f59e83f51c4ef",
    "convnext_small": "e09a7afd85d742e357fdcca66ba338b3035920e46ff8acaadf91e32481bbd2c9",
    "convnext_base": "89b4f9b74350f16e27f6268d04b5493ba38dcc62587d77cbdda50eff3bbef31f",
    "convnext_large": "14cd69de909f8aa01c1869141618aa3d3dca5e0bdfe15f3e52334ebc06a004f6",
}

# Non-canonical points: (values, params, flops), measured with torchvision 0.28.0
# ConvNeXt([CNBlockConfig(dim, next_dim, depth), ...], num_classes=...) and fvcore 0.1.5
# FlopCountAnalysis, eval mode, on 1x3xRxR.
GOLDEN = [
    (
        {"depths": [2, 2, 6, 2], "dims": [32, 64, 128, 256], "resolution": 64, "num_classes": 10},
        2_179_946,
        29_350_656,
    ),
    ({"depths": [1, 3], "dims": [24, 40], "resolution": 96, "num_classes": 7}, 56_879, 11_224_416),
]

_SLOW = {"convnext_base", "convnext_large"}
CANONICAL = [
    pytest.param(c, id=c.name, marks=[pytest.mark.slow] if c.name in _SLOW else []) for c in FAMILY.canonical
]


@pytest.mark.parametrize("canonical", FAMILY.canonical, ids=lambda c: c.name)
def test_canonical_layout(canonical) -> None:
    check_layout(FAMILY, canonical, STATE_DICT_SHA256[canonical.name])


@pytest.mark.parametrize("canonical", CANONICAL)
def test_canonical_fvcore(canonical) -> None:
    counted = check_counts(FAMILY, canonical)
    # fvcore counts conv, layer_norm, linear and the pool; GELU, mul, add_ and permute are uncounted
    assert set(counted.unsupported) == {"aten::gelu", "aten::mul", "aten::add_"}


@pytest.mark.parametrize(("values", "params", "flops"), GOLDEN, ids=lambda v: "")
def test_golden_points(values, params, flops) -> None:
    check_golden_point(FAMILY, values, params, flops)


def test_stochastic_depth_ramp_layer_scale_and_kernel() -> None:
    point = FAMILY.point(depths=[1, 2], dims=[8, 16], stochastic_depth_prob=0.3, layer_scale=0.5, kernel=3)
    model = FAMILY.build(point)
    blocks = [m for m in model.modules() if isinstance(m, CNBlock)]
    assert [b.stochastic_depth.p for b in blocks] == drop_probs(point) == [0.0, 0.15, 0.3]
    assert all(torch.all(b.layer_scale == 0.5) and b.block[0].kernel_size == (3, 3) for b in blocks)
    assert drop_probs(FAMILY.point(depths=[1], dims=[8])) == [0.0]
    model.train()
    model(torch.randn(2, 3, 32, 32)).sum().backward()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"depths": [3, 3, 9], "dims": [96, 192, 384, 768]}, "depths and dims must have the same length"),
        (
            {"depths": [1] * 6, "dims": [8] * 6, "resolution": 32},
            "resolution must keep the last stage at least 1x1",
        ),
        ({"kernel": 4}, "kernel must be an int in [1, 15], step 2, but got kernel=4"),
        ({"depths": [0, 1, 1, 1]}, "depths must be a list of 1 to 6 integers in [1, 64]"),
    ],
)
def test_invalid_points(values, message) -> None:
    with pytest.raises(PointError, match=re.escape(message)):
        FAMILY.point(values)
