"""Xception: a deep narrow middle flow or a shallow wide one, at equal FLOPs? (Chollet 2017, Fig. 5).

Xception's middle flow is 8 residual blocks of three 728-wide separable convolutions, and it
holds most of the network's compute. For each number of middle blocks R, the middle-flow width W
(the last entry-flow width) is solved so the whole network costs what the base (R = base_repeats,
W = base_width) costs, in fvcore FLOPs (1 multiply-add = 1 flop, batch norm and global pooling
included). Each (R, W) is trained on the same data; does depth or width buy more accuracy?

Default: a small Xception (stem 8,16; entry 16,32,W; exit 64,96,128) at 32 px on digits (the
middle flow runs at 2x2; --set resolution=64 for 4x4), base R = 8, W = 48, 4 epochs of SGD.
Closer to the paper: --set base_width=728 --set resolution=299
--set dataset=imagefolder:PATH (and a real number of epochs; the stem and exit widths stay small
unless you edit STEM/ENTRY/EXIT).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

import pandas as pd

from scalesearch.experiment import Evaluation, Experiment, SearchSpace, Stage
from scalesearch.registry import get_family
from scalesearch.space import Choice

STEM, ENTRY, EXIT = [8, 16], [16, 32], [64, 96, 128]
"""Stem widths, entry-flow widths before the middle flow's, exit-flow widths: fixed."""
OPTIONS = {"base_repeats": 8, "base_width": 48}
REPEATS = (1, 2, 4, 8, 12)


def _values(repeats: int, width: int, resolution: int, num_classes: int) -> dict[str, Any]:
    return {
        "stem_widths": STEM,
        "entry_widths": [*ENTRY, width],
        "middle_repeats": repeats,
        "exit_widths": EXIT,
        "resolution": resolution,
        "num_classes": num_classes,
    }


@cache
def flops(repeats: int, width: int, resolution: int, num_classes: int) -> int:
    """fvcore FLOPs of the network with ``repeats`` middle blocks of ``width`` channels (analytic)."""
    return get_family("xception").complexity(_values(repeats, width, resolution, num_classes)).flops


def derive(values: Mapping[str, Any]) -> dict[str, Any]:
    """The middle-flow width that brings ``middle_repeats`` blocks to the base network's FLOPs."""
    res, classes = values["resolution"], values["num_classes"]
    target = flops(values["base_repeats"], values["base_width"], res, classes)
    repeats = values["middle_repeats"]
    width = min(range(8, 1025), key=lambda w: abs(flops(repeats, w, res, classes) - target))
    return _values(repeats, width, res, classes)


def _space(options: dict[str, Any]) -> SearchSpace:
    return SearchSpace(
        family="xception",
        search={"middle_repeats": Choice(REPEATS)},
        fixed=dict(options),
        derive=derive,
    )


class MiddleFlowStudy(Experiment):
    """Rebuilds its stage from ``options`` so ``--set base_width=...`` takes effect."""

    def all_stages(self) -> list[Stage]:
        return [Stage("search", _space(self.options), strategy="grid", trials=self.trials)]


def summarize(results: pd.DataFrame, exp: Experiment) -> str:
    """Each network's middle flow, FLOPs against the base's, params and accuracy."""
    from scalesearch.formatting import table

    rows = []
    for _, r in results.sort_values("number").iterrows():
        p = r["point"] or {}
        if not p:
            continue
        base = flops(
            exp.options["base_repeats"], exp.options["base_width"], p["resolution"], p["num_classes"]
        )
        ours = flops(p["middle_repeats"], p["entry_widths"][-1], p["resolution"], p["num_classes"])
        rows.append(
            {
                "middle_repeats": p["middle_repeats"],
                "middle_width": p["entry_widths"][-1],
                "flops": ours,
                "of_base": round(ours / base, 3),
                "params": r["params"],
                "accuracy": None if pd.isna(r.get("accuracy")) else round(r["accuracy"], 4),
                "state": r["state"],
            }
        )
    return "flops: fvcore FLOPs, 1 multiply-add = 1 flop, eval mode, batch 1\n" + table(rows)


experiment = MiddleFlowStudy(
    name="xception_middle_flow",
    description="Xception middle flow: blocks R vs width W at the base network's FLOPs",
    space=_space(OPTIONS),
    strategy="grid",
    pruner="none",
    trials=None,
    objectives={"accuracy": "maximize"},
    evaluation=Evaluation(
        dataset="digits", resolution=32, epochs=4, batch_size=64, lr=0.05, max_batches_per_epoch=None
    ),
    options=dict(OPTIONS),
    references=["legacy_xception"],
    summarize=summarize,
)
