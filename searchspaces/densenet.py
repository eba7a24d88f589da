"""DenseNet-BC (Huang et al., 2017) in two forms: torchvision's ImageNet DenseNet and the CIFAR one.

Both forms share the dense block: layer i sees the concatenation of the block input and
every earlier layer's output and adds ``growth_rate`` (k) channels through
BN-ReLU-conv1x1(bn_size*k)-BN-ReLU-conv3x3(k). Between blocks a transition
BN-ReLU-conv1x1-avgpool2 keeps ``floor(channels * compression)`` channels. The network
ends with BN, ReLU, global average pooling and a linear classifier.

- ``form=imagenet`` is ``torchvision.models.densenet.DenseNet``: stem conv7x7/2-BN-ReLU-
  maxpool3/2, any ``block_config``.
- ``form=cifar`` is the paper's CIFAR DenseNet-BC of depth L: stem conv3x3 with 2k
  outputs (stride 1, no pooling) and three blocks of n = (L-4)/6 layers, so
  ``block_config = [n, n, n]`` and ``num_init_features = 2k`` are derived from ``depth``.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from scalesearch.cost.analytic import Counts, Tally, conv_out
from scalesearch.errors import PointError
from scalesearch.family import TORCHVISION, Family, canonical_table
from scalesearch.space import Choice, Constraint, Float, Int, IntList, Param, Point, Space

FORMS = ("imagenet", "cifar")
# Defaults per form for the parameters whose default is None (block_config and
# num_init_features of the CIFAR form are derived from depth and growth_rate instead).
FORM_DEFAULTS: dict[str, dict[str, Any]] = {
    "imagenet": {
        "growth_rate": 32,
        "block_config": (6, 12, 24, 16),
        "num_init_features": 64,
        "resolution": 224,
        "num_classes": 1000,
    },
    "cifar": {"growth_rate": 12, "depth": 100, "resolution": 32, "num_classes": 10},
}


def compressed(channels: int, compression: float) -> int:
    """Channels after a transition: floor(channels * compression), robust to float error.

    The epsilon makes e.g. 100 * 0.29 (28.999999999999996 in floats) give 29; at
    compression 0.5 this equals torchvision's ``channels // 2``.
    """
    return int(channels * compression + 1e-9)


def layers_per_block(depth: int) -> int:
    """n of the CIFAR DenseNet-BC: L = 6n + 4 (two convs per layer, stem, 2 transitions, fc)."""
    return (depth - 4) // 6


class DenseLayer(nn.Module):
    """BN-ReLU-conv1x1(bn_size*k)-BN-ReLU-conv3x3(k) on the concatenated earlier features."""

    def __init__(self, c_in: int, growth_rate: int, bn_size: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(c_in)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(c_in, bn_size * growth_rate, 1, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, 3, 1, 1, bias=False)
        self.drop_rate = float(dropout)

    def forward(self, features: list[Tensor]) -> Tensor:
        out = self.conv1(self.relu1(self.norm1(torch.cat(features, 1))))
        out = self.conv2(self.relu2(self.norm2(out)))
        if self.drop_rate > 0:
            out = F.dropout(out, p=self.drop_rate, training=self.training)
        return out

    @staticmethod
    def complexity(t: Tally, c_in: int, growth_rate: int, bn_size: int, size: int) -> None:
        t.bn(c_in, size)
        t.conv(c_in, bn_size * growth_rate, size, 1)
        t.bn(bn_size * growth_rate, size)
        t.conv(bn_size * growth_rate, growth_rate, size, 3)


class DenseBlock(nn.ModuleDict):
    """``num_layers`` dense layers; the output concatenates the input and every layer's output."""

    def __init__(self, num_layers: int, c_in: int, growth_rate: int, bn_size: int, dropout: float) -> None:
        super().__init__()
        for i in range(num_layers):
            self.add_module(
                f"denselayer{i + 1}", DenseLayer(c_in + i * growth_rate, growth_rate, bn_size, dropout)
            )

    def forward(self, x: Tensor) -> Tensor:
        features = [x]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)

    @staticmethod
    def complexity(t: Tally, num_layers: int, c_in: int, growth_rate: int, bn_size: int, size: int) -> int:
        """Returns the output channels."""
        for i in range(num_layers):
            DenseLayer.complexity(t, c_in + i * growth_rate, growth_rate, bn_size, size)
        return c_in + num_layers * growth_rate


class Transition(nn.Sequential):
    """BN-ReLU-conv1x1-avgpool2 between dense blocks."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(c_in)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(c_in, c_out, 1, 1, bias=False)
        self.pool = nn.AvgPool2d(kernel_size=2, stride=2)

    @staticmethod
    def complexity(t: Tally, c_in: int, c_out: int, size: int) -> int:
        t.bn(c_in, size)
        t.conv(c_in, c_out, size, 1)
        return size // 2


def stem(form: str, c_out: int) -> list[tuple[str, nn.Module]]:
    """ImageNet: conv7x7/2-BN-ReLU-maxpool3/2. CIFAR: one conv3x3, stride 1."""
    if form == "cifar":
        return [("conv0", nn.Conv2d(3, c_out, 3, 1, 1, bias=False))]
    return [
        ("conv0", nn.Conv2d(3, c_out, 7, 2, 3, bias=False)),
        ("norm0", nn.BatchNorm2d(c_out)),
        ("relu0", nn.ReLU(inplace=True)),
        ("pool0", nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),
    ]


def stem_complexity(t: Tally, form: str, c_out: int, size: int) -> int:
    if form == "cifar":
        return t.conv(3, c_out, size, 3)
    size = t.conv(3, c_out, size, 7, 2)
    t.bn(c_out, size)
    return conv_out(size, 3, 2, 1)


class DenseNet(nn.Module):
    """Stem, dense blocks joined by transitions, BN, ReLU, global pool, linear (torchvision layout)."""

    def __init__(
        self,
        form: str,
        growth_rate: int,
        block_config: list[int],
        num_init_features: int,
        bn_size: int,
        compression: float,
        dropout: float,
        num_classes: int,
    ) -> None:
        super().__init__()
        self.features = nn.Sequential(OrderedDict(stem(form, num_init_features)))
        c = num_init_features
        for i, num_layers in enumerate(block_config):
            self.features.add_module(
                f"denseblock{i + 1}", DenseBlock(num_layers, c, growth_rate, bn_size, dropout)
            )
            c += num_layers * growth_rate
            if i != len(block_config) - 1:
                self.features.add_module(f"transition{i + 1}", Transition(c, compressed(c, compression)))
                c = compressed(c, compression)
        self.features.add_module(f"norm{len(block_config) + 1}", nn.BatchNorm2d(c))
        self.classifier = nn.Linear(c, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.features(x), inplace=True)
        out = torch.flatten(F.adaptive_avg_pool2d(out, (1, 1)), 1)
        return self.classifier(out)


def build(p: Point) -> nn.Module:
    """DenseNet's arguments are the point's parameters, less depth (derived) and resolution."""
    return DenseNet(**{k: v for k, v in p.items() if k not in ("depth", "resolution")})


def complexity(p: Point) -> Counts:
    t = Tally()
    c = p["num_init_features"]
    size = stem_complexity(t, p["form"], c, p["resolution"])
    for i, num_layers in enumerate(p["block_config"]):
        c = DenseBlock.complexity(t, num_layers, c, p["growth_rate"], p["bn_size"], size)
        if i != len(p["block_config"]) - 1:
            size = Transition.complexity(t, c, compressed(c, p["compression"]), size)
            c = compressed(c, p["compression"])
    t.bn(c, size)
    t.adaptive_avgpool(c, size)
    t.linear(c, p["num_classes"])
    return t.counts()


def resolve(p: Point) -> Point:
    """Fill the per-form defaults; in the CIFAR form derive block_config and num_init_features.

    ``form`` defaults to cifar when ``depth`` is given (only the CIFAR form has a depth),
    else to imagenet; ``depth`` with ``form=imagenet`` is an error rather than ignored.
    """
    p = dict(p)
    if p["form"] is None:
        p["form"] = "imagenet" if p["depth"] is None else "cifar"
    if p["form"] == "imagenet" and p["depth"] is not None:
        raise PointError(
            "densenet: depth applies only to form=cifar (ImageNet DenseNets are set by block_config, "
            f"e.g. 6,12,24,16 for densenet121), but got form=imagenet, depth={p['depth']}"
        )
    defaults = FORM_DEFAULTS[p["form"]]
    if p["form"] == "cifar":
        if p["depth"] is None:
            # depth follows a given block_config (checked to be n,n,n by a constraint)
            p["depth"] = defaults["depth"] if p["block_config"] is None else 6 * p["block_config"][0] + 4
        if p["growth_rate"] is None:
            p["growth_rate"] = defaults["growth_rate"]
        if p["block_config"] is None:
            p["block_config"] = [layers_per_block(p["depth"])] * 3
        if p["num_init_features"] is None:
            p["num_init_features"] = 2 * p["growth_rate"]
    for name, value in defaults.items():
        if p[name] is None:
            p[name] = list(value) if isinstance(value, tuple) else value
    return p


def _cifar(rule: Callable[[Mapping[str, Any]], bool]) -> Callable[[Mapping[str, Any]], bool]:
    """A CIFAR-only rule: it holds trivially for form=imagenet."""
    return lambda p: p["form"] != "cifar" or rule(p)


def _min_side(p: Mapping[str, Any]) -> int:
    """Feature-map side entering the first dense block."""
    r = p["resolution"]
    return r if p["form"] == "cifar" else conv_out(conv_out(r, 7, 2, 3), 3, 2, 1)


def _widths_ok(p: Mapping[str, Any]) -> bool:
    c = p["num_init_features"]
    for num_layers in p["block_config"][:-1]:
        c = compressed(c + num_layers * p["growth_rate"], p["compression"])
        if c < 1:
            return False
    return True


SPACE = Space(
    name="densenet",
    params=(
        Param(
            "form",
            Choice(FORMS),
            None,
            "imagenet: torchvision DenseNet; cifar: DenseNet-BC of depth L (default cifar if depth is given)",
        ),
        Param(
            "depth",
            Int(10, 1000),
            None,
            "L of the CIFAR DenseNet-BC, 6n+4: three blocks of n layers (default 100)",
            when={"form": ("cifar",)},
        ),
        Param(
            "growth_rate",
            Int(1, 256),
            None,
            "k: channels each dense layer adds (default 32 imagenet, 12 cifar)",
            search=Int(8, 48, step=4),
        ),
        Param(
            "block_config",
            IntList(1, 256, 1, 8),
            None,
            "dense layers per block (default 6,12,24,16 imagenet; n,n,n from depth for cifar)",
        ),
        Param(
            "num_init_features",
            Int(1, 1024),
            None,
            "stem output channels (default 64 imagenet; 2k for cifar)",
        ),
        Param(
            "bn_size",
            Int(1, 16),
            4,
            "bottleneck width factor: the 1x1 conv outputs bn_size * k channels",
            search=Choice((2, 4)),
        ),
        Param(
            "compression",
            Float(0.1, 1.0),
            0.5,
            "theta: a transition keeps floor(channels * theta) channels",
            search=Float(0.3, 1.0, step=0.1),
        ),
        Param("dropout", Float(0.0, 0.9), 0.0, "dropout after each dense layer (torchvision drop_rate)"),
        Param(
            "resolution", Int(8, 1024), None, "input image side in pixels (default 224 imagenet, 32 cifar)"
        ),
        Param("num_classes", Int(1, 100_000), None, "classifier outputs (default 1000 imagenet, 10 cifar)"),
    ),
    constraints=(
        Constraint(
            "depth must be 6n+4 with n >= 1 for form=cifar (e.g. 40, 100, 190, 250)",
            ("depth",),
            _cifar(lambda p: (p["depth"] - 4) % 6 == 0),
        ),
        Constraint(
            "block_config must be n,n,n with n = (depth-4)/6 for form=cifar",
            ("depth", "block_config"),
            _cifar(lambda p: p["block_config"] == [layers_per_block(p["depth"])] * 3),
        ),
        Constraint(
            "num_init_features must be 2 * growth_rate for form=cifar",
            ("growth_rate", "num_init_features"),
            _cifar(lambda p: p["num_init_features"] == 2 * p["growth_rate"]),
        ),
        Constraint(
            "compression must leave at least 1 channel after every transition",
            ("compression", "growth_rate", "num_init_features", "block_config"),
            _widths_ok,
        ),
        Constraint(
            "resolution must leave a map of at least 2x2 before every transition "
            "(the imagenet stem divides the side by 4, each transition by 2)",
            ("form", "resolution", "block_config"),
            lambda p: _min_side(p) >> (len(p["block_config"]) - 1) >= 1,
        ),
    ),
    resolve=resolve,
)


def _test_structure(rng: random.Random) -> Point:
    """The form first: a small CIFAR depth, or a short ImageNet block config with a narrow stem."""
    if rng.choice(FORMS) == "cifar":
        return {"form": "cifar", "depth": rng.choice((10, 16, 22))}
    block_config = rng.choice(([1, 1, 1, 1], [2, 1, 2, 1], [1, 2, 3]))
    return {"form": "imagenet", "block_config": block_config, "num_init_features": rng.randint(4, 32)}


FAMILY = Family(
    name="densenet",
    summary="DenseNet-BC: torchvision's ImageNet DenseNet (form=imagenet) or the CIFAR DenseNet-BC-L-k (form=cifar)",
    space=SPACE,
    build_fn=build,
    complexity_fn=complexity,
    canonical=canonical_table(
        ("name", "growth_rate", "block_config", "num_init_features", "params", "flops"),
        (
            ("densenet121", 32, [6, 12, 24, 16], 64, 7_978_856, 2_865_546_752),
            ("densenet161", 48, [6, 12, 36, 24], 96, 28_681_000, 7_786_843_488),
            ("densenet169", 32, [6, 12, 32, 32], 64, 14_149_480, 3_397_970_816),
            ("densenet201", 32, [6, 12, 48, 32], 64, 20_013_928, 4_340_870_784),
        ),
        TORCHVISION,
        resolution=224,
    )
    + canonical_table(
        ("name", "depth", "growth_rate", "paper_params"),
        (
            ("densenet_bc_100_12", 100, 12, "0.8M"),
            ("densenet_bc_250_24", 250, 24, "15.3M"),
            ("densenet_bc_190_40", 190, 40, "25.6M"),
        ),
        "Huang et al., Densely Connected Convolutional Networks (CVPR 2017), Table 2; CIFAR-10 (10 classes)",
        form="cifar",
    ),
    test_domains={
        "growth_rate": Int(2, 16),
        "bn_size": Int(1, 4),
        "compression": Float(0.3, 1.0, step=0.1),
        "resolution": Choice((32, 48, 64)),
        "num_classes": Int(2, 20),
    },
    test_structure=_test_structure,
    year=2017,
)
