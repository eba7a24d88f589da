"""Inception-ResNet-v2 family (searchspaces/inception_resnet_v2.py): timm layout, exact counts,
Reduction-A from the paper's table, blocks per grid, residual scales."""

from __future__ import annotations

import pytest
import torch

from scalesearch.cost.fvcore_count import count
from scalesearch.errors import PointError
from searchspaces.inception_resnet_v2 import FAMILY
from searchspaces.inception_v4 import REDUCTION_A
from tests.searchspaces.test_inception import layout_digest

# sha256 of the reference state dict's "key shape" lines (as in test_inception.py), computed from
# /work/refdata/golden.json: timm 1.0.31 create_model('inception_resnet_v2', pretrained=False).
LAYOUT = (1306, "e607b9ac19258ec73bcc5b9eab52722b3c0b21613c39037ec687855d00cdcb82")


def test_state_dict_layout_equals_timm() -> None:
    with torch.device("meta"):
        model = FAMILY.build(FAMILY.canonical_point("inception_resnet_v2"))
    assert layout_digest(model) == LAYOUT


def test_fvcore_equals_reference_and_analytic() -> None:
    point = FAMILY.canonical_point("inception_resnet_v2")
    fv = count(FAMILY.build(point), 299)
    assert (fv.params, fv.flops) == (55_843_464, 13_182_930_592)
    # the residual scale and add are fvcore's uncounted aten::mul / aten::add, one per block
    assert fv.unsupported == {"aten::add": 40, "aten::avg_pool2d": 1, "aten::max_pool2d": 4, "aten::mul": 40}
    assert FAMILY.complexity(point).as_dict() == {
        "params": fv.params,
        "flops": fv.flops,
        "activations": fv.activations,
    }


def test_reduction_a_is_the_papers_row_and_scales_are_timms() -> None:
    point = FAMILY.point()
    assert tuple(point["reduction_a"]) == REDUCTION_A["inception_resnet_v2"] == (256, 256, 384, 384)
    with torch.device("meta"):
        model = FAMILY.build(point)
    assert [model.repeat[0].scale, model.repeat_1[0].scale, model.repeat_2[0].scale, model.block8.scale] == [
        0.17, 0.10, 0.20, 1.0,
    ]  # fmt: skip
    assert model.block8.relu is None and model.mixed_6a.branch1[2].conv.out_channels == 384


def test_blocks_per_grid_and_counts() -> None:
    point = FAMILY.point(modules=[2, 1, 0], width_mult=0.25, resolution=80, num_classes=5, scale_b=0.3)
    model = FAMILY.build(point)
    assert (len(model.repeat), len(model.repeat_1), len(model.repeat_2)) == (2, 1, 0)
    fv = count(model, 80)
    assert FAMILY.complexity(point).as_dict() == {
        "params": fv.params,
        "flops": fv.flops,
        "activations": fv.activations,
    }
    with torch.no_grad():
        assert model.eval()(torch.randn(2, 3, 80, 80)).shape == (2, 5)


def test_bad_points() -> None:
    with pytest.raises(PointError, match=r"resolution must be an int in \[75, 2048\]"):
        FAMILY.point(resolution=32)
    with pytest.raises(PointError, match="modules must be a list of 3 integers"):
        FAMILY.point(modules=[10, 20])
