"""GoogLeNet family (searchspaces/inception.py): torchvision layout, exact counts, Table 1 as
data, modules per stage, the resolution rule, and the parameter count beside AlexNet's."""

from __future__ import annotations

import hashlib

import pytest
import torch

from scalesearch.cost.fvcore_count import count
from scalesearch.errors import PointError
from searchspaces.inception import FAMILY, GOOGLENET_TABLE, MIN_RESOLUTION, pool_out

# sha256 of the reference state dict's "key shape" lines (shape as 64x3x7x7, empty for scalars),
# joined by "\n", in order: computed from /work/refdata/golden.json ("state_dict" of googlenet:
# torchvision 0.28.0 googlenet(weights=None, aux_logits=False, init_weights=True), 344 entries).
GOOGLENET_LAYOUT = ("googlenet", 344, "23991e766e7a5885cac51adddee16c81ee3ee9c4461eaf85615d310ff11f6ee8")
ALEXNET_PARAMS = 61_100_840  # torchvision 0.28.0 alexnet(weights=None), same golden file


def layout_digest(model: torch.nn.Module) -> tuple[int, str]:
    sd = model.state_dict()
    lines = "\n".join(f"{k} {'x'.join(map(str, v.shape))}" for k, v in sd.items())
    return len(sd), hashlib.sha256(lines.encode()).hexdigest()


def test_state_dict_layout_equals_torchvision() -> None:
    name, n, digest = GOOGLENET_LAYOUT
    with torch.device("meta"):
        model = FAMILY.build(FAMILY.canonical_point(name))
    assert layout_digest(model) == (n, digest)


def test_googlenet_fvcore_equals_reference_and_analytic() -> None:
    point = FAMILY.canonical_point("googlenet")
    fv = count(FAMILY.build(point), 224)
    ref = FAMILY.canonical[0].reference
    assert (fv.params, fv.flops) == (ref.params, ref.flops) == (6_624_904, 1_504_878_688)
    assert fv.unsupported == {"aten::max_pool2d": 13}
    assert FAMILY.complexity(point).as_dict() == {
        "params": fv.params,
        "flops": fv.flops,
        "activations": fv.activations,
    }


def test_parameters_beside_alexnet() -> None:
    """The seeds' "12x fewer parameters than AlexNet" is 60M / ~5M as the papers round them; the
    networks counted here give 9.2x (torchvision, 3x3 "5x5" branch) and 8.7x with the paper's 5x5.
    The ~5M is close to GoogLeNet without its 1024x1000 classifier (5.6M)."""
    googlenet = FAMILY.complexity(FAMILY.point()).params
    assert round(ALEXNET_PARAMS / googlenet, 2) == 9.22
    assert FAMILY.complexity(FAMILY.point(kernel_5x5=5)).params == 7_005_832
    assert googlenet - (1024 * 1000 + 1000) == 5_599_904


def test_table_is_data_and_modules_per_stage() -> None:
    assert [len(rows) for rows in GOOGLENET_TABLE.values()] == [2, 5, 2]
    model = FAMILY.build(FAMILY.point(modules=[3, 1, 0], resolution=32))
    names = [n for n, _ in model.named_children() if n.startswith("inception")]
    assert names == ["inception3a", "inception3b", "inception3c", "inception4a"]
    # a stage past the table repeats its last row: 3c takes 3b's widths on 3b's output
    assert model.inception3c.branch1.conv.weight.shape == (128, 480, 1, 1)
    assert model.fc.in_features == 192 + 208 + 48 + 64


def test_width_multiplier_scales_every_width() -> None:
    model = FAMILY.build(FAMILY.point(width_mult=0.5, resolution=32))
    assert model.conv1.conv.out_channels == 32 and model.conv3.conv.out_channels == 96
    assert model.inception3a.branch3[0].conv.out_channels == 8 and model.fc.in_features == 512


def test_paper_kernel_and_transform_input_run() -> None:
    point = FAMILY.point(
        kernel_5x5=5, transform_input=True, width_mult=0.1, resolution=MIN_RESOLUTION, num_classes=3
    )
    assert FAMILY.build(point).inception5b.branch3[1].conv.kernel_size == (5, 5)
    fv = count(FAMILY.build(point), MIN_RESOLUTION)
    assert FAMILY.complexity(point).as_dict() == {
        "params": fv.params,
        "flops": fv.flops,
        "activations": fv.activations,
    }


def test_small_resolutions() -> None:
    """15 px leaves a 1x1 map after maxpool4 (torchvision's min_size); 14 px is refused."""
    model = FAMILY.build(FAMILY.point(resolution=MIN_RESOLUTION, width_mult=0.1)).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, MIN_RESOLUTION, MIN_RESOLUTION)).shape == (1, 1000)
    with pytest.raises(PointError, match="resolution must be at least 15 .*but got resolution=14"):
        FAMILY.point(resolution=14)


@pytest.mark.parametrize(("size", "kernel", "stride", "padding", "ceil"), [(16, 3, 2, 0, True), (7, 3, 2, 0, True), (8, 2, 2, 0, True), (2, 3, 2, 0, True), (9, 3, 1, 1, True), (35, 3, 2, 0, False)])  # fmt: skip
def test_pool_out_is_pytorch_rule(size: int, kernel: int, stride: int, padding: int, ceil: bool) -> None:
    pool = torch.nn.MaxPool2d(kernel, stride, padding, ceil_mode=ceil)
    assert pool(torch.zeros(1, 1, size, size)).shape[-1] == pool_out(size, kernel, stride, padding, ceil)


def test_bad_points_raise_one_line() -> None:
    with pytest.raises(PointError, match=r"modules must be a list of 3 integers"):
        FAMILY.point(modules=[2, 5])
    with pytest.raises(PointError, match="kernel_5x5 must be one of"):
        FAMILY.point(kernel_5x5=7)
