"""EfficientNet's compound-scaling procedure (Tan & Le, 2019, section 3.3).

Stage ``grid``: fix phi = 1 and grid-search alpha, beta, gamma >= 1 under
alpha * beta**2 * gamma**2 ≈ 2 (FLOPs about double), training each candidate.
Stage ``scale``: scale the base network with the best (alpha, beta, gamma) for
phi = 1..phi_max and train those.

The default trains on the embedded digits data at a reduced base resolution (32 px)
so it finishes on a 2-core CPU in minutes. The full study is the same file:

    scalesearch run experiments/efficientnet_grid.py --set dataset=cifar10 \
        --set data_root=~/data --set resolution=224 --set epochs=30 --set step=0.05
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
}


def derive(values: dict[str, Any]) -> dict[str, Any]:
    """Compound scaling of B0 at the run's base resolution."""
    scaled = compound_scaling(values["phi"], values["alpha"], values["beta"], values["gamma"],
                              base_resolution=values["resolution"])
    return {**values, **scaled}


def _doubling(tolerance: float) -> Constraint:
    return Constraint(
        f"{COMPOUND_CONSTRAINT} (within ±{tolerance:.0%})", ("alpha", "beta", "gamma"),
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
        fixed={"phi": 1},
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
        scale = SearchSpace(family="efficientnet", search={"phi": Int(1, int(self.options["phi_max"]))},
                            derive=derive)
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
    evaluation=Evaluation(dataset="digits", resolution=32, epochs=2, batch_size=64, lr=0.05),
    options=dict(OPTIONS),
    references=[f"efficientnet_b{i}" for i in range(8)],
)
