"""BN-Inception family (searchspaces/bn_inception.py): the paper's Figure 5 (no reference
implementation exists), its map sizes, the printed cost, pinned counts, modules per stage."""

from __future__ import annotations

import pytest
import torch

from scalesearch.cost.fvcore_count import count
from scalesearch.errors import PointError
from searchspaces.bn_inception import BN_INCEPTION_TABLE, FAMILY, REDUCTIONS
from tests.searchspaces.test_inception import layout_digest

# sha256 of this family's own state-dict "key shape" lines (as in test_inception.py) for the
# canonical point: no reference implementation exists, so this pins our layout against drift.
LAYOUT = (417, "81f58ebe23080ce8675ea638ed16c93f0496d4f39673c5e04ce98ff0d0765022")


def test_state_dict_layout_is_pinned() -> None:
    with torch.device("meta"):
        model = FAMILY.build(FAMILY.canonical_point("bn_inception"))
    assert layout_digest(model) == LAYOUT


def test_counts_are_pinned_and_match_the_printed_cost() -> None:
    point = FAMILY.canonical_point("bn_inception")
    fv = count(FAMILY.build(point), 224)
    ref = FAMILY.canonical[0].reference
    assert (fv.params, fv.flops) == (ref.params, ref.flops) == (11_278_528, 1_956_128_704)
    assert f"{fv.flops / 1e9:.1f}G" == ref.paper_flops == "2.0G"  # "Rethinking ..." Table 3: 2.0 Bn ops
    assert ref.paper_params is None  # the paper prints no parameter count
    assert fv.unsupported == {"aten::avg_pool2d": 7, "aten::max_pool2d": 5}
    assert FAMILY.complexity(point).as_dict() == {
        "params": fv.params,
        "flops": fv.flops,
        "activations": fv.activations,
    }
    plain = FAMILY.complexity(FAMILY.point(stem_depth_multiplier=0))  # the Caffe ports' plain 7x7 stem
    assert (plain.params, f"{plain.flops / 1e9:.1f}G") == (11_285_224, "2.0G")


def test_map_sizes_are_figure_5s() -> None:
    """Figure 5's output sizes at 224 px; 4c/4d/4e follow its filter columns (608, 608, 1056), not
    its output column (576, 576, 1024)."""
    model = FAMILY.build(FAMILY.canonical_point("bn_inception")).eval()
    x, shapes = torch.randn(1, 3, 224, 224), {}
    with torch.no_grad():
        for name, module in model.named_children():
            if name == "avgpool":
                break
            x = module(x)
            shapes[name] = tuple(x.shape[1:])
    assert shapes["conv1"] == (64, 112, 112) and shapes["maxpool2"] == (192, 28, 28)
    assert [shapes[f"inception3{m}"] for m in "abc"] == [(256, 28, 28), (320, 28, 28), (576, 14, 14)]
    assert [shapes[f"inception4{m}"][0] for m in "abcde"] == [576, 576, 608, 608, 1056]
    assert shapes["inception4e"][1:] == (7, 7) and shapes["inception5b"] == (1024, 7, 7)


def test_modules_are_the_tables_rows() -> None:
    with torch.device("meta"):
        model = FAMILY.build(FAMILY.canonical_point("bn_inception"))
    assert model.conv1.depthwise.out_channels == 24 and model.conv1.depthwise.groups == 3  # multiplier 8
    m = model.inception3a
    assert [m.branch1.conv.out_channels, m.branch3[2].conv.out_channels, m.branch4[1].conv.out_channels] == [
        64,
        96,
        32,
    ]
    assert isinstance(m.branch4[0], torch.nn.AvgPool2d) and isinstance(
        model.inception5b.branch4[0], torch.nn.MaxPool2d
    )
    r = model.inception4e  # stride-2: no 1x1 branch, the max pool passed through
    assert not hasattr(r, "branch1") and len(r.branch4) == 1 and r.branch3[2].conv.stride == (2, 2)
    assert REDUCTIONS[4] == (r.branch2[0].conv.out_channels, r.branch2[1].conv.out_channels, 192, 256)
    assert [len(rows) for rows in BN_INCEPTION_TABLE.values()] == FAMILY.point()["modules"] == [2, 4, 2]


def test_modules_per_stage_and_small_resolution() -> None:
    point = FAMILY.point(
        modules=[1, 0, 3], width_mult=0.1, resolution=17, num_classes=5, stem_depth_multiplier=1
    )
    model = FAMILY.build(point)
    names = [n for n in dict(model.named_children()) if n.startswith("inception")]
    assert names == ["inception3a", "inception3b", "inception4a", "inception5a", "inception5b", "inception5c"]
    fv = count(model, 17)
    assert FAMILY.complexity(point).as_dict() == {
        "params": fv.params,
        "flops": fv.flops,
        "activations": fv.activations,
    }
    with torch.no_grad():
        assert model.eval()(torch.randn(2, 3, 17, 17)).shape == (2, 5)


def test_bad_points() -> None:
    with pytest.raises(PointError, match="modules must be a list of 3 integers"):
        FAMILY.point(modules=[2, 4])
    with pytest.raises(PointError, match=r"resolution must be an int in \[1, 2048\]"):
        FAMILY.point(resolution=0)
