"""EfficientNet (Tan & Le, 2019), V1: MBConv blocks with squeeze-excitation, compound scaling.

A stride-2 3x3 stem (BN + SiLU), the stages of :data:`STAGES`, a 1x1 head convolution to
four times the last stage's width, global average pooling, dropout and a linear classifier.
An MBConv block is a 1x1 expansion (skipped when it would not change the width), a kxk
depthwise convolution (both BN + SiLU), squeeze-excitation (squeeze width = block input // 4,
SiLU then sigmoid) and a linear 1x1 projection + BN; blocks with an identity shortcut drop
their residual branch with stochastic depth, its probability rising linearly with the block
index. Widths scale as ``make_divisible(c * width_mult, 8)`` and stage depths as
``ceil(n * depth_mult)``: exactly ``torchvision.models.efficientnet`` for any multipliers.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import torch
from torch import Tensor, nn

from scalesearch.cost.analytic import Counts, Tally
from scalesearch.family import Canonical, Family, Reference
from scalesearch.space import Float, Int, Param, Point, Space, Table
from searchspaces.rounding import make_divisible, round_repeats

STAGES = Table(
    columns=("expand_ratio", "kernel", "stride", "in_channels", "out_channels", "layers"),
    rows=(
        (1, 3, 1, 32, 16, 1),
        (6, 3, 2, 16, 24, 2),
        (6, 5, 2, 24, 40, 2),
        (6, 3, 2, 40, 80, 3),
        (6, 5, 1, 80, 112, 3),
        (6, 5, 2, 112, 192, 4),
        (6, 3, 1, 192, 320, 1),
    ),
)
"""EfficientNet-B0's stages (paper Table 1); the stem outputs the first row's in_channels."""

HEAD_EXPANSION = 4
"""The head convolution widens the last stage by this factor (1280 channels in B0)."""

COMPOUND_CONSTRAINT = "alpha * beta**2 * gamma**2 ≈ 2"
"""The paper's budget rule for the compound coefficients: FLOPs grow about 2**phi."""


def compound_scaling(
    phi: float, alpha: float = 1.2, beta: float = 1.1, gamma: float = 1.15, base_resolution: int = 224
) -> dict[str, Any]:
    """Compound scaling (paper eq. 3): depth alpha**phi, width beta**phi, resolution gamma**phi.

    The defaults are the paper's grid-searched coefficients for B0 (under
    :data:`COMPOUND_CONSTRAINT`). The released B1..B7 round these by hand (see :data:`VARIANTS`).
    """
    return {
        "depth_mult": alpha**phi,
        "width_mult": beta**phi,
        "resolution": round(base_resolution * gamma**phi),
    }


def adjust_channels(channels: float, width_mult: float) -> int:
    return make_divisible(channels * width_mult, 8)


def blocks(p: Point) -> Iterator[tuple[int, int, float, int, int]]:
    """Every MBConv block of a point as ``(c_in, c_out, expand_ratio, kernel, stride)``."""
    for expand, kernel, stride, c_in, c_out, n in STAGES.rows:
        c_in, c_out = adjust_channels(c_in, p["width_mult"]), adjust_channels(c_out, p["width_mult"])
        for i in range(round_repeats(n, p["depth_mult"])):
            yield (c_in, c_out, expand, kernel, stride) if i == 0 else (c_out, c_out, expand, kernel, 1)


def stage_sizes(p: Point) -> list[int]:
    """Blocks in each stage."""
    return [round_repeats(row[-1], p["depth_mult"]) for row in STAGES.rows]


Norm = Callable[[int], nn.Module]


class ConvBNAct(nn.Sequential):
    """Conv (no bias) + BN [+ SiLU], laid out as torchvision's ``Conv2dNormActivation``."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        norm: Norm,
        kernel: int = 3,
        stride: int = 1,
        groups: int = 1,
        act: bool = True,
    ) -> None:
        layers = [
            nn.Conv2d(c_in, c_out, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
            norm(c_out),
        ]
        super().__init__(*layers, *([nn.SiLU(inplace=True)] if act else []))

    @staticmethod
    def complexity(
        t: Tally, c_in: int, c_out: int, size: int, kernel: int = 3, stride: int = 1, groups: int = 1
    ) -> int:
        size = t.conv(c_in, c_out, size, kernel, stride, groups=groups)
        t.bn(c_out, size)
        return size


class SqueezeExcitation(nn.Module):
    """Global pool -> 1x1 conv (squeeze) -> SiLU -> 1x1 conv -> sigmoid, rescaling the input."""

    def __init__(self, channels: int, squeeze: int) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.activation = nn.SiLU(inplace=True)
        self.scale_activation = nn.Sigmoid()

    def forward(self, x: Tensor) -> Tensor:
        scale = self.fc2(self.activation(self.fc1(self.avgpool(x))))
        return self.scale_activation(scale) * x

    @staticmethod
    def complexity(t: Tally, channels: int, squeeze: int, size: int) -> None:
        t.adaptive_avgpool(channels, size)
        t.conv(channels, squeeze, 1, 1, bias=True)
        t.conv(squeeze, channels, 1, 1, bias=True)


class StochasticDepth(nn.Module):
    """Drops the whole residual branch of a sample with probability ``p`` (training only)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        noise = x.new_empty([x.shape[0]] + [1] * (x.ndim - 1)).bernoulli_(keep)
        if keep > 0.0:
            noise.div_(keep)
        return x * noise

    def extra_repr(self) -> str:
        return f"p={self.p}"


def expanded_channels(c_in: int, expand_ratio: float) -> int:
    return adjust_channels(c_in, expand_ratio)


def squeeze_channels(c_in: int) -> int:
    return max(1, c_in // 4)


class MBConv(nn.Module):
    """[1x1 expand] -> kxk depthwise -> SE -> 1x1 projection; stochastic depth on the residual."""

    def __init__(
        self, c_in: int, c_out: int, expand_ratio: float, kernel: int, stride: int, sd_prob: float, norm: Norm
    ) -> None:
        super().__init__()
        hidden = expanded_channels(c_in, expand_ratio)
        self.use_res_connect = stride == 1 and c_in == c_out
        layers: list[nn.Module] = [ConvBNAct(c_in, hidden, norm, kernel=1)] if hidden != c_in else []
        layers += [
            ConvBNAct(hidden, hidden, norm, kernel=kernel, stride=stride, groups=hidden),
            SqueezeExcitation(hidden, squeeze_channels(c_in)),
            ConvBNAct(hidden, c_out, norm, kernel=1, act=False),
        ]
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = StochasticDepth(sd_prob)

    def forward(self, x: Tensor) -> Tensor:
        out = self.block(x)
        if self.use_res_connect:
            out = self.stochastic_depth(out)
            out += x
        return out

    @staticmethod
    def complexity(
        t: Tally, c_in: int, c_out: int, expand_ratio: float, kernel: int, stride: int, size: int
    ) -> int:
        hidden = expanded_channels(c_in, expand_ratio)
        if hidden != c_in:
            ConvBNAct.complexity(t, c_in, hidden, size, kernel=1)
        size = ConvBNAct.complexity(t, hidden, hidden, size, kernel=kernel, stride=stride, groups=hidden)
        SqueezeExcitation.complexity(t, hidden, squeeze_channels(c_in), size)
        ConvBNAct.complexity(t, hidden, c_out, size, kernel=1)
        return size


class EfficientNet(nn.Module):
    """Module names and init follow ``torchvision.models.EfficientNet`` (state dicts interchange)."""

    def __init__(self, p: Point) -> None:
        super().__init__()
        norm: Norm = partial(nn.BatchNorm2d, eps=p["bn_eps"], momentum=p["bn_momentum"])
        plan, sizes = list(blocks(p)), stage_sizes(p)
        total, sd = len(plan), p["stochastic_depth_prob"]
        mbconvs = [MBConv(*block, sd * float(i) / total, norm) for i, block in enumerate(plan)]
        ends = list(itertools.accumulate(sizes))
        stages = [nn.Sequential(*mbconvs[end - n : end]) for n, end in zip(sizes, ends, strict=True)]
        stem, last = plan[0][0], plan[-1][1]
        self.features = nn.Sequential(
            ConvBNAct(3, stem, norm, stride=2),
            *stages,
            ConvBNAct(last, HEAD_EXPANSION * last, norm, kernel=1),
        )
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Dropout(p=p["dropout"], inplace=True), nn.Linear(HEAD_EXPANSION * last, p["num_classes"])
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                bound = 1.0 / m.out_features**0.5
                nn.init.uniform_(m.weight, -bound, bound)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def build(p: Point) -> nn.Module:
    return EfficientNet(p)


def complexity(p: Point) -> Counts:
    t = Tally()
    plan = list(blocks(p))
    size = ConvBNAct.complexity(t, 3, plan[0][0], p["resolution"], stride=2)
    for block in plan:
        size = MBConv.complexity(t, *block, size)
    last = plan[-1][1]
    size = ConvBNAct.complexity(t, last, HEAD_EXPANSION * last, size, kernel=1)
    t.adaptive_avgpool(HEAD_EXPANSION * last, size)
    t.linear(HEAD_EXPANSION * last, p["num_classes"])
    return t.counts()


# torchvision evaluates B2 on a 288 crop; the table keeps the paper's native 260 px.
VARIANTS = Table(
    columns=(
        "name", "width_mult", "depth_mult", "resolution", "dropout", "tf_bn",
        "params", "flops", "paper_params", "paper_flops",
    ),
    rows=(
        ("b0", 1.0, 1.0, 224, 0.2, False, 5_288_548, 401_659_392, "5.3M", "0.39B"),
        ("b1", 1.0, 1.1, 240, 0.2, False, 7_794_184, 712_732_416, "7.8M", "0.70B"),
        ("b2", 1.1, 1.2, 260, 0.3, False, 9_109_994, 1_026_579_120, "9.2M", "1.0B"),
        ("b3", 1.2, 1.4, 300, 0.3, False, 12_233_232, 1_883_903_568, "12M", "1.8B"),
        ("b4", 1.4, 1.8, 380, 0.4, False, 19_341_616, 4_512_495_200, "19M", "4.2B"),
        ("b5", 1.6, 2.2, 456, 0.4, True, 30_389_784, 10_505_072_320, "30M", "9.9B"),
        ("b6", 1.8, 2.6, 528, 0.5, True, 43_040_704, 19_472_062_160, "43M", "19B"),
        ("b7", 2.0, 3.1, 600, 0.5, True, 66_347_960, 38_449_437_600, "66M", "37B"),
    ),
)  # fmt: skip
"""EfficientNet-B0..B7 as released: multipliers, paper resolution, dropout, whether torchvision
uses TF batch-norm settings, torchvision's exact params, fvcore FLOPs at that resolution, and
the paper's Table 2 figures."""

TF_BN = {"bn_eps": 1e-3, "bn_momentum": 0.01}
"""TensorFlow's batch-norm settings, used by torchvision's B5..B7 (no effect on counts)."""

SPACE = Space(
    name="efficientnet",
    params=(
        Param(
            "width_mult", Float(0.1, 4.0), 1.0, "w = beta**phi: channels scale as make_divisible(c * w, 8)",
            search=Float(0.5, 2.0, step=0.05),
        ),
        Param("depth_mult", Float(0.1, 6.0), 1.0, "d = alpha**phi: blocks per stage = ceil(n * d)",
              search=Float(0.5, 3.1, step=0.1)),
        Param(
            "resolution",
            Int(32, 1024),
            224,
            "r = gamma**phi * 224: input side in pixels (>= 32: downsampled 32x)",
            search=Int(128, 600, step=8),
        ),
        Param("dropout", Float(0.0, 0.9), 0.2, "dropout before the classifier"),
        Param(
            "stochastic_depth_prob",
            Float(0.0, 1.0),
            0.2,
            "drop probability of the last block (linear ramp from 0)",
        ),
        Param(
            "bn_eps",
            Float(1e-6, 0.1, log=True),
            1e-5,
            "batch-norm epsilon (1e-3 in TF and torchvision B5..B7)",
        ),
        Param(
            "bn_momentum",
            Float(0.0, 1.0),
            0.1,
            "batch-norm running-stat momentum (0.01 in torchvision B5..B7)",
        ),
        Param("num_classes", Int(1, 100_000), 1000, "classifier outputs"),
    ),
)


def _canonical(v: dict[str, Any]) -> Canonical:
    values = {k: v[k] for k in ("width_mult", "depth_mult", "resolution", "dropout")}
    values.update(TF_BN if v["tf_bn"] else {})
    r = v["resolution"]
    source = f"torchvision 0.29.1 efficientnet_{v['name']}(), fvcore 0.1.5 FlopCountAnalysis eval mode on 1x3x{r}x{r}"
    reference = Reference(source, v["params"], v["flops"], v["paper_params"], v["paper_flops"])
    return Canonical(f"efficientnet_{v['name']}", values, reference)


FAMILY = Family(
    name="efficientnet",
    summary="EfficientNet (V1) MBConv + squeeze-excitation, compound width/depth/resolution scaling",
    space=SPACE,
    build_fn=build,
    complexity_fn=complexity,
    canonical=tuple(_canonical(v) for v in VARIANTS.records()),
)
