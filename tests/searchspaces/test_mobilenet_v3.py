"""mobilenet_v3 family: torchvision-exact params, fvcore FLOPs and state-dict layout; its blocks are
the shared InvertedResidual."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from scalesearch.errors import PointError
from searchspaces.blocks import InvertedResidual
from searchspaces.mobilenet_v3 import FAMILY
from tests.searchspaces.golden import check_canonical, check_golden_point

# sha256 of the reference state dict's "key shape" lines, shape written 16x3x3x3, joined by "\n",
# computed from /work/refdata/golden.json (torchvision 0.28.0 mobilenet_v3_*(weights=None)):
#   "\n".join(f"{k} {'x'.join(map(str, s))}" for k, s in golden[name]["state_dict"])
STATE_DICT_SHA256 = {
    "mobilenet_v3_large": "33a3e5205206cc447e7b3d01ac5c3375741f0b8693a364359eaf357a6e3dd5d6",
    "mobilenet_v3_small": "3ec7fbd252aa89a5bd6e34ceb8165727b82fbf1cf8e8c9b441602755e27f0b8b",
}

# Non-canonical points: (values, params, flops), measured with torchvision 0.28.0
# mobilenet_v3_large/_small(width_mult=..., num_classes=...) and fvcore 0.1.5 FlopCountAnalysis,
# eval mode, on 1x3xRxR.
GOLDEN = [
    ({"arch": "large", "width_mult": 0.75}, 3_377_576, 147_544_928),
    ({"arch": "small", "width_mult": 0.5, "num_classes": 10, "resolution": 160}, 409_394, 10_386_368),
    ({"arch": "large", "width_mult": 1.3, "num_classes": 37, "resolution": 96}, 7_110_077, 73_135_776),
]


@pytest.mark.parametrize("canonical", FAMILY.canonical, ids=lambda c: c.name)
def test_canonical(canonical) -> None:
    check_canonical(FAMILY, canonical, STATE_DICT_SHA256[canonical.name])


@pytest.mark.parametrize(("values", "params", "flops"), GOLDEN, ids=lambda v: "")
def test_golden_points(values, params, flops) -> None:
    check_golden_point(FAMILY, values, params, flops)


def test_blocks_are_the_shared_inverted_residual() -> None:
    model = FAMILY.build({"arch": "large", "width_mult": 0.25, "num_classes": 3})
    blocks = [m for m in model.features if isinstance(m, InvertedResidual)]
    assert len(blocks) == 15 and all(b.layout == "block" for b in blocks)
    assert len(blocks[0].block) == 2  # features.1: expansion 16 == input 16, no 1x1 expansion
    se = blocks[3].block[2]
    assert isinstance(se.scale_activation, nn.Hardsigmoid) and isinstance(se.activation, nn.ReLU)
    assert isinstance(blocks[6].block[0][2], nn.Hardswish) and isinstance(blocks[5].block[0][2], nn.ReLU)
    bns = {(m.eps, m.momentum) for m in model.modules() if isinstance(m, nn.BatchNorm2d)}
    assert bns == {(0.001, 0.01)}


def test_searchable_kernel_and_expansion() -> None:
    base = FAMILY.point(arch="small")
    kernels = {
        m.kernel_size for m in FAMILY.build(base).modules() if isinstance(m, nn.Conv2d) and m.groups > 1
    }
    assert kernels == {(3, 3), (5, 5)}
    seven = FAMILY.build({"arch": "small", "kernel": 7})
    assert {m.kernel_size for m in seven.modules() if isinstance(m, nn.Conv2d) and m.groups > 1} == {(7, 7)}
    wider = FAMILY.complexity({"arch": "small", "expand_mult": 1.5})
    assert wider.params > FAMILY.complexity(base).params
    model = FAMILY.build({"arch": "small", "expand_mult": 0.5, "kernel": 5, "num_classes": 4}).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 64, 64)).shape == (2, 4)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"arch": "tiny"}, "arch must be one of {large, small}, but got arch=tiny"),
        ({"kernel": 4}, "kernel must be one of {3, 5, 7}, but got kernel=4"),
        ({"width_mult": 0}, "width_mult must be a float in [0.1, 4.0], but got width_mult=0.0"),
        ({"resolution": 16}, "resolution must be an int in [32, 1024], but got resolution=16"),
    ],
)
def test_invalid_points(values, message) -> None:
    with pytest.raises(PointError, match=re.escape(message)):
        FAMILY.point(values)
