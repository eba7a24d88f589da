"""Layer types: the one rule by which the analytic Tally and fvcore's per-module counts classify a
layer ("conv 1x1", "conv dw 3x3", "linear", "batch norm", "pool"...). A leaf module: it imports
nothing of scalesearch, so the Tally and the breakdown can both use it."""

from __future__ import annotations

from collections.abc import Sequence

OTHER = "other"
"""Costs no layer type claims: parameters of modules other than conv/linear/norm, or analytic
counts added outside the Tally's layer methods."""

_OP_TYPES = {"linear": "linear", "addmm": "linear", "batch_norm": "batch norm", "adaptive_avg_pool2d": "pool"}
"""fvcore's operator names (as ``by_operator()`` spells them) -> layer type; any other op keeps its name."""


def layer_type(
    op: str,
    kernel: int | Sequence[int] | None = None,
    groups: int = 1,
    c_in: int = 0,
    c_out: int = 0,
) -> str:
    """The layer type of one counted op: the one rule both paths classify by.

    ``op`` is fvcore's operator name (``"conv"``, ``"linear"``, ``"batch_norm"``,
    ``"adaptive_avg_pool2d"``...). A convolution is depthwise (``"conv dw 3x3"``) when
    ``groups == c_in == c_out > 1``, grouped (``"conv group 3x3"``) for other ``groups > 1``, dense
    (``"conv 3x3"``, ``"conv 1x1"``) otherwise; without a kernel it is just ``"conv"``.
    """
    if op != "conv":
        return _OP_TYPES.get(op, op.replace("_", " "))
    if kernel is None:
        return "conv"
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else tuple(kernel)
    if groups > 1 and groups == c_in == c_out:
        return f"conv dw {kh}x{kw}"
    if groups > 1:
        return f"conv group {kh}x{kw}"
    return f"conv {kh}x{kw}"


def is_mult_add(kind: str) -> bool:
    """Whether a layer type's FLOPs are the papers' mult-adds (conv and linear layers)."""
    return kind == "linear" or kind.startswith("conv")
