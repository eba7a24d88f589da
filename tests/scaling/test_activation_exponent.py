"""Activations grow about s^0.6 under fast scaling and s^0.83 under uniform scaling (Dollár et al. 2021).

Measured on EfficientNet-B0 at 224 px with the framework's analytic counts (equal to fvcore's),
fitting log(activations ratio) against log(FLOPs ratio) over s = 1, 2, 4, 8, 16. Measured when
written: fast 0.611, uniform 0.798, compound 0.823 (nominal 0.600, 0.833, 0.854).
"""

import numpy as np
import pytest

from scalesearch.scaling import RULES, scale

FACTORS = (1, 2, 4, 8, 16)


def activation_exponent(rule: str) -> float:
    results = [scale("efficientnet", {}, RULES[rule], s) for s in FACTORS]
    x = np.log([r.ratio("flops") for r in results])
    y = np.log([r.ratio("activations") for r in results])
    return float(np.polyfit(x, y, 1)[0])


def test_fast_scaling_grows_activations_slower_than_uniform():
    fast, uniform = activation_exponent("fast"), activation_exponent("uniform")
    print(f"activation exponent: fast {fast:.3f}, uniform {uniform:.3f}")
    assert fast < uniform
    assert fast == pytest.approx(0.6, abs=0.04)
    assert uniform == pytest.approx(5 / 6, abs=0.06)
