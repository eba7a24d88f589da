"""Inception-v3 family (searchspaces/inception_v3.py): torchvision layout with and without the
auxiliary head, exact counts, widths as data, modules per grid, the resolution rules."""

from __future__ import annotations

import pytest
import torch

from scalesearch.cost.fvcore_count import count
from scalesearch.errors import PointError
from searchspaces.inception_v3 import FAMILY, InceptionOutputs
from tests.searchspaces.test_inception import layout_digest

# sha256 of the reference state dict's "key shape" lines (as in test_inception.py), computed from
# /work/refdata/golden.json: torchvision 0.28.0 inception_v3(weights=None, aux_logits=False|True,
# init_weights=True).
LAYOUTS = {
    "inception_v3": (566, "4ca192256a04d175cf7b1eebbac3a5861c01c5ac68d20214c865a912aee43d4e"),
    "inception_v3_aux": (580, "311b9aadb9a0c28a633b2470f509dfc5267ec1f32d3b82d9c48750772b5fdcd1"),
}


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_state_dict_layout_equals_torchvision(name: str) -> None:
    with torch.device("meta"):
        model = FAMILY.build(FAMILY.canonical_point(name))
    assert layout_digest(model) == LAYOUTS[name]


def test_inception_v3_fvcore_equals_reference_and_analytic() -> None:
    point = FAMILY.canonical_point("inception_v3_aux")
    fv = count(FAMILY.build(point), 299)
    assert (fv.params, fv.flops) == (27_161_264, 5_731_282_144)  # the aux head: params, no eval FLOPs
    assert fv.unsupported == {"aten::avg_pool2d": 9, "aten::max_pool2d": 4}
    assert FAMILY.complexity(point).as_dict() == {
        "params": fv.params,
        "flops": fv.flops,
        "activations": fv.activations,
    }


def test_aux_head_returns_both_logits_while_training() -> None:
    model = FAMILY.build(FAMILY.point(aux_logits=True, width_mult=0.05, num_classes=4))
    out = model.train()(torch.randn(2, 3, 299, 299))
    assert isinstance(out, InceptionOutputs) and out.aux_logits.shape == (2, 4)
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 3, 299, 299)).shape == (1, 4)


def test_modules_per_grid_and_per_module_widths() -> None:
    point = FAMILY.point(modules=[1, 5, 0], channels_7x7=[16, 24], pool_features=[8], resolution=75)
    model = FAMILY.build(point)
    names = [n for n, _ in model.named_children() if n.startswith("Mixed")]
    assert names == [
        "Mixed_5b",
        "Mixed_6a",
        "Mixed_6b",
        "Mixed_6c",
        "Mixed_6d",
        "Mixed_6e",
        "Mixed_6f",
        "Mixed_7a",
    ]
    assert [model.get_submodule(f"Mixed_6{c}").branch7x7_1.conv.out_channels for c in "bcdef"] == [
        16,
        24,
        24,
        24,
        24,
    ]
    assert model.fc.in_features == 320 + 192 + 768  # Mixed_7a: 3x3/2 + 7x7x3 branch + the pooled input
    fv = count(model, 75)
    assert FAMILY.complexity(point).as_dict() == {
        "params": fv.params,
        "flops": fv.flops,
        "activations": fv.activations,
    }


def test_resolution_rules() -> None:
    with pytest.raises(PointError, match=r"resolution must be an int in \[75, 2048\]"):
        FAMILY.point(resolution=74)
    with pytest.raises(PointError, match="aux_logits needs a 17x17 grid .*resolution=298"):
        FAMILY.point(aux_logits=True, resolution=298)
    FAMILY.point(aux_logits=True, resolution=299)
