"""xception family: timm-exact counts and state-dict layout, blocks as data, timm's ReLU placement."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from scalesearch.cost.fvcore_count import count
from scalesearch.errors import PointError
from searchspaces.blocks import SeparableConv2d
from searchspaces.xception import FAMILY, Block, XceptionBlock, plan
from tests.searchspaces.golden import state_dict_sha256

# sha256 of the reference state dict's "key shape" lines (276 entries), shape written 32x3x3x3,
# joined by "\n", computed from /work/refdata/golden.json (timm 1.0.31
# create_model('legacy_xception', pretrained=False)):
#   "\n".join(f"{k} {'x'.join(map(str, s))}" for k, s in golden["legacy_xception"]["state_dict"])
STATE_DICT_SHA256 = "2dd378556f9fd1ab972e9f6a3bae67d14dfb3d5548672fffef3927c0ab64d1f1"

PAPER_PARAMS = 22_855_952
"""Chollet 2017, Table 3 ("Size and training speed comparison"): Xception's parameter count."""


def test_canonical() -> None:
    """The analytic counts at 299 px are timm's (fvcore on timm's network, golden.json), fvcore
    on our network equals the analytic path at the canonical widths, and the state-dict layout is
    timm's. fvcore traces at 71 px, not 299: a 299 px forward alone takes seconds on one thread
    (the counts at 299 px were checked with /work/refdata/check.py, logits equal)."""
    (canonical,) = FAMILY.canonical
    assert canonical.name == "legacy_xception"
    point = FAMILY.point(canonical.values)
    analytic = FAMILY.complexity(point)
    assert (analytic.params, analytic.flops) == (canonical.reference.params, canonical.reference.flops)
    assert analytic.params == PAPER_PARAMS
    small = FAMILY.point(point, resolution=71)  # sides 35, 33 (stem), 17, 9, 5 (entry), 3 (exit)
    fv = count(FAMILY.build(small), 71)
    assert FAMILY.complexity(small).as_dict() == {
        "params": fv.params,
        "flops": fv.flops,
        "activations": fv.activations,
    }
    assert fv.unsupported == {"aten::max_pool2d": 4, "aten::add_": 12}  # as fvcore on timm's, golden.json
    with torch.device("meta"):
        assert state_dict_sha256(FAMILY.build(point)) == STATE_DICT_SHA256


def test_plan_is_the_papers_three_flows() -> None:
    blocks = plan(FAMILY.point())
    assert len(blocks) == 12  # 3 entry, 8 middle, 1 exit
    assert blocks[0] == XceptionBlock(64, 128, 2, 2, start_with_relu=False)
    assert [(b.c_out, b.stride, b.has_skip) for b in blocks[:3]] == [
        (128, 2, True),
        (256, 2, True),
        (728, 2, True),
    ]
    assert set(blocks[3:11]) == {XceptionBlock(728, 728, 3)} and not blocks[3].has_skip
    assert blocks[11] == XceptionBlock(728, 1024, 2, 2, grow_first=False)
    assert blocks[11].widths() == [(728, 728), (728, 1024)]  # grows in its last separable conv
    assert blocks[0].widths() == [(64, 128), (128, 128)]  # grows in its first


def test_relu_placement_is_timms() -> None:
    """The golden data's activation modules: each block but the first opens with an out-of-place
    ReLU (its input is also the shortcut), every other ReLU is in place."""
    with torch.device("meta"):
        model = FAMILY.build(FAMILY.point())
    relus = [m.inplace for m in model.modules() if isinstance(m, nn.ReLU)]
    assert (relus.count(True), relus.count(False)) == (24, 11)
    assert isinstance(model.block1.rep[0], SeparableConv2d)
    assert isinstance(model.block2.rep[0], nn.ReLU) and not model.block2.rep[0].inplace


def test_middle_block_is_identity_residual() -> None:
    block = Block(XceptionBlock(8, 8, 3)).eval()
    assert block.skip is None and len(block.rep) == 9
    x = torch.randn(1, 8, 5, 5)
    with torch.no_grad():
        assert torch.allclose(block(x), block.rep(x) + x)


def test_small_point_counts_and_uncounted_ops() -> None:
    """Widths, repeats and convs per block move: fvcore equals the analytic path, and leaves one
    max pool per strided block and one in-place add per block uncounted."""
    point = FAMILY.point(
        stem_widths=[4, 6],
        entry_widths=[8, 12],
        middle_repeats=3,
        middle_convs=2,
        exit_widths=[16, 20, 24],
        resolution=45,
        num_classes=7,
    )
    fv = count(FAMILY.build(point), 45)
    assert fv.unsupported == {"aten::max_pool2d": 3, "aten::add_": 6}
    analytic = FAMILY.complexity(point)
    assert (analytic.params, analytic.flops, analytic.activations) == (fv.params, fv.flops, fv.activations)
    model = FAMILY.build(point)
    assert model.block4.rep[1].pointwise.out_channels == 12 and model.block6.skip.out_channels == 16
    assert model.fc.in_features == 24


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"resolution": 6}, "resolution must be at least 7"),
        ({"exit_widths": [1024, 2048]}, "exit_widths must be a list of 3 integers"),
        ({"stem_widths": [32]}, "stem_widths must be a list of 2 integers"),
        ({"entry_widths": []}, "entry_widths must be a list of 1 to 6 integers"),
    ],
)
def test_bad_points_say_why(values: dict, message: str) -> None:
    with pytest.raises(PointError, match=message):
        FAMILY.point(values)


def test_smallest_resolution_builds() -> None:
    point = FAMILY.point(
        stem_widths=[2, 2], entry_widths=[2], middle_repeats=0, exit_widths=[2, 2, 2], resolution=7
    )
    with torch.no_grad():
        assert FAMILY.build(point).eval()(torch.zeros(1, 3, 7, 7)).shape == (1, 1000)
