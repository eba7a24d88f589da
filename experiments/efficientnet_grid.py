"""EfficientNet's compound-scaling procedure (Tan & Le, 2019, section 3.3).

Stage ``grid``: fix phi = 1 and grid-search alpha, beta, gamma >= 1 under
alpha * beta**2 * gamma**2 ≈ 2 (FLOPs about double), training each candidate.
Stage ``scale``: scale the base network with the best (alpha, beta, gamma) for
phi = 1..phi_max and train those.

The default trains on the embedded digits data at a reduced base resolution (32 px) from a
reduced base (B0 at half width and half depth), with a coarse grid, so it finishes on a 2-core
CPU in minutes. The full study on B0 itself is the same file:

    scalesearch run experiments/efficientnet_grid.py --set dataset=cifar10 --set data_root=~/data \
        --set resolution=224 --set epochs=30 --set base_width=1 --set base_depth=1 \
        --set step=0.05 --set tolerance=0.05 --set phi_max=7
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from scalesearch.experiment import Evaluation, Experiment, SearchSpace, Stage
from scalesearch.space import Constraint, Float, Int
from searchspaces.efficientnet import COMPOUND_CONSTRAINT, compound_scaling

OPTIONS = {
    "step": 0.1,  # grid step of alpha, beta, gamma
    "alpha_max": 1.4,
    "beta_gamma_max": 1.3,
    "tolerance": 0.05,  # |alpha * beta**2 * gamma**2 - 2| <= tolerance * 2
    "phi_max": 3,
    "base_width": 0.5,  # the base network: B0 is base_width=1, base_depth=1
    "base_depth": 0.5,
}


def derive(values: dict[str, Any]) -> dict[str, Any]:
    """Compound scaling of the base network at the run's base resolution."""
    scaled = compound_scaling(
        values["phi"], values["alpha"], values["beta"], values["gamma"], base_resolution=values["resolution"]
    )
    scaled["width_mult"] *= values["base_width"]
    scaled["depth_mult"] *= values["base_depth"]
    return {**values, **scaled}


def _doubling(tolerance: float) -> Constraint:
    return Constraint(
        f"{COMPOUND_CONSTRAINT} (within ±{tolerance:.0%})",
        ("alpha", "beta", "gamma"),
        lambda v: abs(v["alpha"] * v["beta"] ** 2 * v["gamma"] ** 2 - 2) <= 2 * tolerance,
    )


def grid_space(options: dict[str, Any]) -> SearchSpace:
    step = options["step"]
    return SearchSpace(
        family="efficientnet",
        search={
            "alpha": Float(1.0, options["alpha_max"], step=step),
            "beta": Float(1.0, options["beta_gamma_max"], step=step),
            "gamma": Float(1.0, options["beta_gamma_max"], step=step),
        },
        fixed={"phi": 1, "base_width": options["base_width"], "base_depth": options["base_depth"]},
        derive=derive,
        constraints=(_doubling(options["tolerance"]),),
    )


def best_coefficients(results: pd.DataFrame, exp: Experiment) -> dict[str, float]:
    """(alpha, beta, gamma) of the most accurate feasible grid point."""
    done = results[(results["stage"] == "grid") & (results["state"] == "COMPLETE") & results["feasible"]]
    if done.empty:
        raise RuntimeError("the grid stage has no completed feasible trial to scale from")
    best = done.sort_values("accuracy", ascending=False).iloc[0]
    return {k: best["values"][k] for k in ("alpha", "beta", "gamma")}


class CompoundScaling(Experiment):
    """Rebuilds its stages from ``options`` so ``--set step=0.05`` refines the grid."""

    def all_stages(self) -> list[Stage]:
        scale = SearchSpace(
            family="efficientnet",
            search={"phi": Int(1, int(self.options["phi_max"]))},
            fixed={"base_width": self.options["base_width"], "base_depth": self.options["base_depth"]},
            derive=derive,
        )
        return [
            Stage("grid", grid_space(self.options), strategy="grid"),
            Stage("scale", scale, strategy="grid", fix_from=best_coefficients),
        ]


experiment = CompoundScaling(
    name="efficientnet_grid",
    description="EfficientNet compound scaling: grid-search alpha, beta, gamma at phi=1, then scale phi=1..K",
    stages=[Stage("grid", grid_space(OPTIONS), strategy="grid")],  # rebuilt by all_stages()
    budget="params<=3*efficientnet_b0",
    objectives={"accuracy": "maximize"},
    pruner="none",
    evaluation=Evaluation(
        dataset="digits", resolution=32, epochs=4, batch_size=64, lr=0.003, optimizer="adamw"
    ),
    options=dict(OPTIONS),
    references=[f"efficientnet_b{i}" for i in range(8)],
)


def summarize(results: pd.DataFrame, exp: Experiment) -> str:
    """Grid candidates with their FLOPs ratio to the base (fvcore), then the scaled family beside B0..B7."""
    from scalesearch.analysis.references import reference_costs
    from scalesearch.cost.fvcore_count import count
    from scalesearch.formatting import format_metric, table
    from scalesearch.registry import get_family

    fam = get_family("efficientnet")
    res, classes = exp.evaluation.resolution, int(results["point"].dropna().iloc[0]["num_classes"])
    base_point = fam.point(
        resolution=res,
        num_classes=classes,
        width_mult=exp.options["base_width"],
        depth_mult=exp.options["base_depth"],
    )
    base = count(fam.build(base_point), res).flops  # fvcore is the authority for the ~2x check
    lines = [
        f"base (phi=0: width {exp.options['base_width']}, depth {exp.options['base_depth']}) at {res} px: "
        f"{base / 1e6:.2f} MFLOPs (fvcore)",
        "",
    ]
    grid = results[results["stage"] == "grid"]
    rows = []
    for _, r in grid.iterrows():
        v = r["values"]
        if not v:
            continue
        rows.append(
            {
                "alpha": v["alpha"],
                "beta": v["beta"],
                "gamma": v["gamma"],
                "a*b^2*g^2": round(v["alpha"] * v["beta"] ** 2 * v["gamma"] ** 2, 3),
                "flops/base": None if pd.isna(r["flops"]) else round(r["flops"] / base, 3),
                "accuracy": None if pd.isna(r["accuracy"]) else round(r["accuracy"], 4),
                "state": r["state"],
            }
        )
    lines += ["stage grid (phi=1): FLOPs ratio to the base, counted by fvcore", table(rows), ""]
    best = results[(results["stage"] == "grid") & (results["state"] == "COMPLETE")]
    if not best.empty:
        top = best.sort_values("accuracy", ascending=False).iloc[0]
        exact = count(fam.build(top["point"]), top["point"]["resolution"]).flops
        lines.append(f"best grid point {top['values']}: fvcore FLOPs {exact / base:.3f}x the base")
    refs = {
        r["name"].split(" ")[0]: r
        for r in reference_costs(
            {"resolution": res, "num_classes": classes}, [f"efficientnet_b{i}" for i in range(8)]
        )
    }
    rows = []
    for _, r in results[results["stage"] == "scale"].sort_values("number").iterrows():
        p, v = r["point"] or {}, r["values"] or {}
        if not v:
            continue
        ref = refs.get(f"efficientnet_b{v.get('phi')}")
        rows.append(
            {
                "phi": v.get("phi"),
                "width": round(p.get("width_mult", 0), 3),
                "depth": round(p.get("depth_mult", 0), 3),
                "res": p.get("resolution"),
                "params": format_metric("params", r["params"]),
                "flops": format_metric("flops", r["flops"]),
                "accuracy": None if pd.isna(r["accuracy"]) else round(r["accuracy"], 4),
                "state": r["state"],
                "canonical": ref and ref["name"],
                "canon_params": ref and format_metric("params", ref["params"]),
                "canon_flops": ref and format_metric("flops", ref["flops"]),
            }
        )
    if rows:
        lines += [
            "",
            "stage scale: the base scaled by the best (alpha, beta, gamma), beside the released "
            "B-phi at this run's setting",
            table(rows),
        ]
    return "\n".join(lines)


experiment.summarize = summarize
