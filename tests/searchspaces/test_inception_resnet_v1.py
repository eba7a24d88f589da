"""Inception-ResNet-v1 family (searchspaces/inception_resnet_v1.py): the paper's figures (no
reference implementation exists), its grids, Reduction-A row and block widths, pinned counts."""

from __future__ import annotations

import pytest
import torch

from scalesearch.cost.fvcore_count import count
from scalesearch.errors import PointError
from searchspaces.inception_resnet_v1 import FAMILY
from searchspaces.inception_v4 import REDUCTION_A
from tests.searchspaces.test_inception import layout_digest

# sha256 of this family's own state-dict "key shape" lines (as in test_inception.py) for the
# canonical point: no reference implementation exists, so this pins our layout against drift.
LAYOUT = (684, "a8ea651f3c0f7704d705080f81ff1cdaca26cd905367ae2ebf9f1b28e85fd026")


def _canonical_meta() -> torch.nn.Module:
    with torch.device("meta"):
        return FAMILY.build(FAMILY.canonical_point("inception_resnet_v1"))


def test_state_dict_layout_is_pinned() -> None:
    assert layout_digest(_canonical_meta()) == LAYOUT


def test_counts_are_pinned_and_analytic_equals_fvcore() -> None:
    point = FAMILY.canonical_point("inception_resnet_v1")
    fv = count(FAMILY.build(point), 299)
    ref = FAMILY.canonical[0].reference
    assert (fv.params, fv.flops) == (ref.params, ref.flops) == (22_756_328, 6_223_281_920)
    assert ref.paper_params is None and ref.paper_flops is None  # the paper prints neither
    assert fv.unsupported == {"aten::add": 20, "aten::max_pool2d": 3, "aten::mul": 20}
    assert FAMILY.complexity(point).as_dict() == {
        "params": fv.params,
        "flops": fv.flops,
        "activations": fv.activations,
    }


def test_grids_are_figure_15s() -> None:
    """Figure 15's grids at 299 px: 35x35x256 after the stem, 17x17x896 after Reduction-A,
    8x8x1792 after Reduction-B (sides from a thin network, widths from the canonical one)."""
    thin = FAMILY.build(FAMILY.point(width_mult=0.05, modules=[1, 1, 1])).eval()
    x, sides = torch.randn(1, 3, 299, 299), {}
    with torch.no_grad():
        for name, module in thin.named_children():
            if name == "global_pool":
                break
            x = module(x)
            sides[name] = tuple(x.shape[2:])
    assert sides["conv2d_4b"] == sides["repeat"] == (35, 35)
    assert sides["mixed_6a"] == sides["repeat_1"] == (17, 17)
    assert sides["mixed_7a"] == sides["repeat_2"] == (8, 8)
    model = _canonical_meta()
    assert model.conv2d_4b.conv.out_channels == model.repeat[0].conv2d.out_channels == 256
    assert model.repeat_1[0].conv2d.out_channels == 896 and model.repeat_2[0].conv2d.out_channels == 1792
    assert (len(model.repeat), len(model.repeat_1), len(model.repeat_2)) == (5, 10, 5)


def test_blocks_are_the_papers_figures() -> None:
    point = FAMILY.point()
    assert tuple(point["reduction_a"]) == REDUCTION_A["inception_resnet_v1"] == (192, 192, 256, 384)
    model = _canonical_meta()
    a, b, c = model.repeat[0], model.repeat_1[0], model.repeat_2[0]
    assert [a.branch2[i].conv.out_channels for i in range(3)] == [32, 32, 32] and a.conv2d.out_channels == 256
    assert (
        b.branch1[1].conv.kernel_size == (1, 7)
        and b.conv2d.in_channels == 256
        and b.conv2d.out_channels == 896
    )
    assert (
        c.branch1[2].conv.kernel_size == (3, 1)
        and c.conv2d.in_channels == 384
        and c.conv2d.out_channels == 1792
    )
    assert [a.scale, b.scale, c.scale] == [0.17, 0.10, 0.20] and c.relu is not None
    ra = model.mixed_6a  # k -> l -> m/2 | n/2 | max
    assert [m.conv.out_channels for m in ra.branch1] + [ra.branch0.conv.out_channels] == [192, 192, 256, 384]
    rb = model.mixed_7a  # Figure 12: 256 -> 384/2 | 256 -> 256/2 | 256 -> 256 -> 256/2 | max
    assert [m.conv.out_channels for m in (*rb.branch0, *rb.branch1, *rb.branch2)] == [256, 384, 256, 256] + [
        256
    ] * 3
    assert model.conv2d_4b.conv.stride == (2, 2) and model.classif.in_features == 1792


def test_small_point_runs_and_counts_agree() -> None:
    point = FAMILY.point(modules=[1, 2, 1], width_mult=0.1, resolution=80, num_classes=5, scale_c=0.3)
    model = FAMILY.build(point)
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
        FAMILY.point(resolution=74)
    with pytest.raises(PointError, match="modules must be a list of 3 integers"):
        FAMILY.point(modules=[5, 10])
    with pytest.raises(PointError, match="reduction_a must be a list of 4 integers"):
        FAMILY.point(reduction_a=[192, 192, 256])
