"""The plain family's canonical layouts as data (searchspaces/plain.py builds them): VGG's
configurations, torchvision's AlexNet, LeNet-5 with its C3 connection table, ZFNet and NiN."""

from __future__ import annotations

VGG_WIDTHS = [64, 128, 256, 512, 512]
VGG_DEPTHS = {
    "vgg11": [1, 1, 2, 2, 2],
    "vgg13": [2, 2, 2, 2, 2],
    "vgg16": [2, 2, 3, 3, 3],
    "vgg19": [2, 2, 4, 4, 4],
}
"""Simonyan & Zisserman (2015) Table 1, configurations A, B, D, E: 3x3 convolutions per stage."""

LENET5_C3_TABLE: tuple[tuple[int, ...], ...] = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (0, 4, 5), (0, 1, 5),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (0, 3, 4, 5), (0, 1, 4, 5), (0, 1, 2, 5),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)  # fmt: skip
"""LeCun et al. 1998 Table I: the S2 maps (of 6) each of the 16 C3 maps reads -- six contiguous
triples, six contiguous quadruples, three discontinuous quadruples, and one map reading all six:
60 input maps x 25 weights + 16 biases = 1,516 parameters."""

ALEXNET = {
    "depths": [1, 1, 1, 2], "widths": [64, 192, 384, 256], "kernels": [11, 5, 3, 3], "strides": [4, 1, 1, 1],
    "paddings": [2, 2, 1, 1], "pools": [1, 1, 0, 1], "pool_kernel": 3, "avgpool": 6, "dropout_position": "before",
}  # fmt: skip
"""torchvision's single-tower AlexNet (the "one weird trick" widths 64-192-384-256-256)."""

LENET5 = {
    "in_channels": 1, "resolution": 32, "num_classes": 10, "depths": [1, 1, 1], "widths": [6, 16, 120],
    "kernels": [5, 5, 5], "paddings": [0, 0, 0], "pools": [1, 1, 0], "pool": "subsample", "activation": "tanh",
    "c3_table": "paper", "avgpool": 0, "head_layers": 1, "head_width": 84, "dropout": 0.0,
}  # fmt: skip
"""LeCun et al. 1998 Fig. 2: C1 6@28x28, S2 6@14x14, C3 16@10x10 (Table I), S4 16@5x5, C5 120, F6 84,
10 outputs. Trainable parameters per layer as the paper's section II.B prints them: C1 156, S2 12,
C3 1,516, S4 32, C5 48,120, F6 10,164 (sum 60,000); the paper's output layer is 10 Euclidean RBF
units on F6 with fixed (hand-set) parameter vectors, here a Linear 84 -> 10 (850 trainable)."""

ZFNET = {
    "depths": [1, 1, 2, 1], "widths": [96, 256, 384, 256], "kernels": [7, 5, 3, 3], "strides": [2, 2, 1, 1],
    "paddings": [1, 0, 1, 1], "pools": [1, 1, 0, 1], "pool_kernel": 3, "pool_ceil": True, "avgpool": 0,
}  # fmt: skip
"""Zeiler & Fergus 2014 Fig. 3: maps 110, 55, 26, 13, 13, 13, 6 on a 224 crop, then fc 4096, 4096."""

NIN = {
    "depths": [1, 1, 1, 1], "widths": [96, 256, 384, 1024], "kernels": [11, 5, 3, 3], "strides": [4, 1, 1, 1],
    "paddings": [0, 2, 1, 1], "pools": [1, 1, 1, 0], "pool_kernel": 3, "pool_ceil": True, "mlpconv": 2,
    "head": "gap",
}  # fmt: skip
"""Lin et al. 2014 NiN for ImageNet: four mlpconv blocks (conv + two 1x1), global average pooling."""
