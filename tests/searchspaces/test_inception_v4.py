"""Inception-v4 family (searchspaces/inception_v4.py): timm layout, exact counts, the paper's
Reduction-A table as data, modules per grid, the resolution rule."""

from __future__ import annotations

import pytest
import torch

from scalesearch.cost.fvcore_count import count
from scalesearch.errors import PointError
from searchspaces.inception_v4 import FAMILY, REDUCTION_A
from tests.searchspaces.test_inception import layout_digest

# sha256 of the reference state dict's "key shape" lines (as in test_inception.py), computed from
# /work/refdata/golden.json: timm 1.0.31 create_model('inception_v4', pretrained=False), 896 entries.
INCEPTION_V4_LAYOUT = (896, "4d1f08c5c0310444c10354e84f228e1ef47122f7bf282dffbbc6585f6f13b6ed")


def test_state_dict_layout_equals_timm() -> None:
    with torch.device("meta"):
        model = FAMILY.build(FAMILY.canonical_point("inception_v4"))
    assert layout_digest(model) == INCEPTION_V4_LAYOUT


def test_inception_v4_fvcore_equals_reference_and_analytic() -> None:
    point = FAMILY.canonical_point("inception_v4")
    fv = count(FAMILY.build(point), 299)
    assert (fv.params, fv.flops) == (42_679_816, 12_284_251_296)
    assert fv.unsupported == {"aten::avg_pool2d": 14, "aten::max_pool2d": 4}
    assert FAMILY.complexity(point).as_dict() == {
        "params": fv.params,
        "flops": fv.flops,
        "activations": fv.activations,
    }


def test_reduction_a_table_is_the_papers() -> None:
    """Szegedy et al. 2016, Table 1 (k, l, m, n); the default is Inception-v4's row."""
    assert REDUCTION_A == {
        "inception_v4": (192, 224, 256, 384),
        "inception_resnet_v1": (192, 192, 256, 384),
        "inception_resnet_v2": (256, 256, 384, 384),
    }
    assert tuple(FAMILY.point()["reduction_a"]) == REDUCTION_A["inception_v4"]
    k, l_, m, n = REDUCTION_A["inception_resnet_v2"]
    model = FAMILY.build(FAMILY.point(reduction_a=[k, l_, m, n], modules=[1, 1, 1], resolution=75))
    ra = model.features[7]  # stem (3) + Mixed3a/4a/5a + one Inception-A
    assert (ra.branch0.conv.out_channels, *(c.conv.out_channels for c in ra.branch1)) == (n, k, l_, m)
    assert model.features[8].branch0.conv.in_channels == n + m + 384


def test_modules_per_grid_and_counts() -> None:
    point = FAMILY.point(modules=[2, 0, 1], width_mult=0.25, resolution=80, num_classes=5)
    model = FAMILY.build(point)
    kinds = [getattr(m, "kind", "") for m in model.features]
    assert kinds[3:] == [
        "Mixed3a",
        "Mixed4a",
        "Mixed5a",
        "A",
        "A",
        "RA",
        "RB",
        "C",
    ]
    fv = count(model, 80)
    assert FAMILY.complexity(point).as_dict() == {
        "params": fv.params,
        "flops": fv.flops,
        "activations": fv.activations,
    }


def test_bad_points() -> None:
    with pytest.raises(PointError, match=r"resolution must be an int in \[75, 2048\]"):
        FAMILY.point(resolution=64)
    with pytest.raises(PointError, match="reduction_a must be a list of 4 integers"):
        FAMILY.point(reduction_a=[192, 224, 256])
