"""Named channel, depth and map-size rounding rules shared by the families.

These are the rules torchvision and timm use, so widths, depths and map sides derived from
fractional multipliers match the reference implementations exactly.
"""

from __future__ import annotations

import math


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round ``value`` to the nearest multiple of ``divisor`` (at least ``min_value``,
    default ``divisor``), never shrinking it by more than 10%.

    The TF-slim / torchvision ``_make_divisible`` rule: ``make_divisible(20) == 24`` (halves
    round up), ``make_divisible(11.2) == 16`` (8 would lose more than 10%).
    """
    if min_value is None:
        min_value = divisor
    new_value = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new_value < 0.9 * value:
        new_value += divisor
    return new_value


def round_repeats(n: int, depth_mult: float) -> int:
    """Blocks in a stage of ``n`` base blocks scaled by ``depth_mult``: ``ceil(n * depth_mult)``."""
    return int(math.ceil(n * depth_mult))


def scaled(width: int, multiplier: float) -> int:
    """A width times the width multiplier, rounded half up to a channel count (at least 1)."""
    return max(1, math.floor(width * multiplier + 0.5))


def pool_out(size: int, kernel: int, stride: int, padding: int = 0, ceil_mode: bool = False) -> int:
    """Side after max/avg pooling, PyTorch's rule (``pooling_output_shape``) including ceil mode;
    0 or less where PyTorch refuses the input as too small."""
    out = math.floor((size + 2 * padding - kernel + (stride - 1 if ceil_mode else 0)) / stride) + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out
