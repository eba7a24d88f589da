"""Scaling rules at equal FLOPs: compound, fast (Dollár et al. alpha = 0.8) and one dimension alone.

The EfficientNet paper's Figure 3 question: from one base network, which way of spending s x its
FLOPs (depth, width, resolution, or all three as a rule prescribes) trains best? Every scaled
network is solved against the exact counts (:func:`scalesearch.scaling.scale`), so the rules are
compared at the same FLOPs (within 5 %), not at the nominal ``alpha beta² gamma² ≈ 2``.

The default scales a small EfficientNet-B0-like base (width 0.4, depth 0.7, 64 px: every rule
lands within 5 % there at s = 2 and 4) by s = 2 and trains each network (6 in all) on the embedded
digits data for 4 epochs. `--set factors=2,4` adds the 4x networks (11 in all, about 13 CPU-minutes
measured on a loaded 2-core machine; depth x4 is the slowest). The study on B0 itself:

    scalesearch run experiments/scaling_rules.py --set dataset=cifar10 --set data_root=~/data \
        --set resolution=224 --set epochs=30 --set base_width=1 --set base_depth=1
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from scalesearch.experiment import Evaluation, Experiment, SearchSpace, Stage
from scalesearch.space import Choice, Constraint

OPTIONS = {
    "base_width": 0.4,  # the base network: B0 is base_width=1, base_depth=1
    "base_depth": 0.7,
    "rules": "compound,fast,depth,width,resolution",  # any of `scalesearch scale --help`'s rules
    "factors": "2",  # FLOPs multiples of the base; --set factors=2,4 adds the 4x networks
}


def _base(values: dict[str, Any]) -> dict[str, Any]:
    return {
        "width_mult": values["base_width"],
        "depth_mult": values["base_depth"],
        "resolution": values["resolution"],
        "num_classes": values["num_classes"],
    }


def derive(values: dict[str, Any]) -> dict[str, Any]:
    """The base, or the base scaled by ``rule`` to ``factor`` x its exact FLOPs."""
    from scalesearch.scaling import RULES, scale

    base = _base(values)
    if values["rule"] == "base":
        return {**values, **base}
    return {**values, **scale("efficientnet", base, RULES[values["rule"]], values["factor"]).point}


def rules_space(options: dict[str, Any]) -> SearchSpace:
    rules = tuple(r.strip() for r in str(options["rules"]).split(","))
    factors = tuple(float(f) for f in str(options["factors"]).split(","))
    return SearchSpace(
        family="efficientnet",
        search={"rule": Choice(("base", *rules)), "factor": Choice((1.0, *factors))},
        fixed={"base_width": options["base_width"], "base_depth": options["base_depth"]},
        derive=derive,
        constraints=(
            Constraint(
                "the base is trained once, at factor 1",
                ("rule", "factor"),
                lambda v: (v["rule"] == "base") == (v["factor"] == 1.0),
            ),
        ),
    )


class ScalingRules(Experiment):
    """Rebuilds its stage from ``options`` so ``--set rules=...`` or ``--set factors=...`` apply."""

    def all_stages(self) -> list[Stage]:
        return [Stage("rules", rules_space(self.options), strategy="grid")]


experiment = ScalingRules(
    name="scaling_rules",
    description="compound vs fast vs single-dimension scaling of a small B0 at equal FLOPs (s = 2, 4)",
    stages=[Stage("rules", rules_space(OPTIONS), strategy="grid")],  # rebuilt by all_stages()
    objectives={"accuracy": "maximize"},
    pruner="none",
    evaluation=Evaluation(
        dataset="digits", resolution=64, epochs=4, batch_size=64, lr=0.003, optimizer="adamw"
    ),
    options=dict(OPTIONS),
)


def summarize(results: pd.DataFrame, exp: Experiment) -> str:
    """FLOPs, activations and accuracy per rule and factor, each as a multiple of the base."""
    from scalesearch.formatting import human, table
    from scalesearch.metrics import FLOP_CONVENTION
    from scalesearch.registry import get_family

    fam = get_family("efficientnet")
    done = results[results["values"].map(bool)]
    if done.empty:
        return "no trials yet"
    run_level = {"resolution": exp.evaluation.resolution, "num_classes": done.iloc[0]["point"]["num_classes"]}
    base = fam.complexity(fam.point(_base({**exp.options, **run_level})))
    rows = []
    for _, r in done.iterrows():
        v, p = r["values"], r["point"]
        c = fam.complexity(p)
        rows.append(
            {
                "factor": v["factor"],
                "rule": v["rule"],
                "width": p["width_mult"],
                "depth": p["depth_mult"],
                "res": p["resolution"],
                "params": human(c.params),
                "flops": human(c.flops),
                "flops_x": round(c.flops / base.flops, 3),
                "activations": human(c.activations),
                "acts_x": round(c.activations / base.activations, 3),
                "accuracy": None if pd.isna(r["accuracy"]) else round(float(r["accuracy"]), 4),
                "state": r["state"],
            }
        )
    rows.sort(key=lambda row: (row["factor"], -(row["accuracy"] or 0)))
    return "\n".join(
        [
            f"base: efficientnet width {exp.options['base_width']}, depth {exp.options['base_depth']} at "
            f"{exp.evaluation.resolution} px: {human(base.flops)} FLOPs, {human(base.activations)} activations",
            f"every scaled network solved to within 5% of s x the base FLOPs ({FLOP_CONVENTION});",
            "rows by factor, most accurate first; one seed per network: read a point or two as noise",
            table(rows),
        ]
    )


experiment.summarize = summarize
