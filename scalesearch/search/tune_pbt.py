"""Population-based training (``pruner="pbt"``, Ray backend only): Tune's PBT scheduler over a stage
that searches ``lr`` and/or ``weight_decay`` beside the network.

- The population is the stage's points drawn up front (strategy grid or random), checked against
  the budget on the driver: a rejected point is recorded PRUNED and never launched. (Tune's PBT
  accepts no searcher, so there is no TPE/NSGA-II population.)
- Every ``perturbation_interval`` epochs (``options={"perturbation_interval": N}``; default a
  quarter of the epochs) a trial in the bottom quarter by the first objective continues from the
  checkpoint of one in the top quarter with that trial's config, its ``lr`` / ``weight_decay``
  perturbed (×0.8 or ×1.2, or redrawn with probability 1/4; a stepped or Choice domain moves to a
  neighbouring value), kept inside the searched domain. So it takes that trial's network too: a
  checkpoint only loads into its own architecture.
- The exploiting trial keeps its number, so ``trials.jsonl`` keeps one record per trial; the
  record's ``values`` are its final config and its ``note`` the schedule it ran.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ray.tune.schedulers import PopulationBasedTraining, TrialScheduler

from scalesearch.errors import ExperimentError
from scalesearch.experiment import TRAINING_FIELDS, Experiment, Stage
from scalesearch.search.ray_records import NUMBER_KEY, StageRun
from scalesearch.search.tune_searchers import make_searcher
from scalesearch.space import Choice, Domain, Float, Int

INTERVAL = "perturbation_interval"


def interval(exp: Experiment) -> int:
    """Epochs between perturbations: ``options["perturbation_interval"]``, else a quarter of the epochs."""
    value = exp.options.get(INTERVAL, max(1, exp.evaluation.epochs // 4))
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value < exp.evaluation.epochs:
        raise ExperimentError(
            f"{INTERVAL} must be a whole number of epochs in [1, epochs) = [1, {exp.evaluation.epochs}), "
            f"but got {INTERVAL}={value}"
        )
    return value


def check_pbt(exp: Experiment) -> None:
    """One line for a ``pruner="pbt"`` experiment that can never run (before anything is written)."""
    if exp.pruner != "pbt":
        return
    if exp.multi_objective:
        raise ExperimentError(
            f"pruner=pbt ranks trials by one objective, but got objectives={', '.join(exp.objectives)}"
        )
    if exp.evaluation.epochs < 2:
        raise ExperimentError(
            f"pruner=pbt perturbs trials between epochs: it needs epochs >= 2, but got epochs={exp.evaluation.epochs}"
        )
    interval(exp)
    for stage in exp.all_stages():
        if stage.strategy not in ("grid", "random"):
            raise ExperimentError(
                f"pruner=pbt trains a population drawn up front: stage {stage.name} needs strategy grid or "
                f"random, but got strategy={stage.strategy}"
            )
        if not any(name in stage.space.search for name in TRAINING_FIELDS):
            raise ExperimentError(
                f"pruner=pbt perturbs {' and '.join(TRAINING_FIELDS)}: stage {stage.name} must search at least "
                f"one of them (e.g. 'lr': Float(0.01, 0.5, log=True)), but it searches {', '.join(stage.space.search)}"
            )


class KeepInDomains:
    """PBT's ``custom_explore_fn``: a perturbed value clipped into its domain (and onto its step)."""

    def __init__(self, domains: Mapping[str, Domain]) -> None:
        self.domains = dict(domains)

    def __call__(self, config: dict[str, Any]) -> dict[str, Any]:
        for name, d in self.domains.items():
            if isinstance(d, (Int, Float)) and name in config:
                value = min(max(float(config[name]), d.low), d.high)
                if d.step:
                    value = min(d.low + round((value - d.low) / d.step) * d.step, d.high)
                config[name] = int(round(value)) if isinstance(d, Int) else value
        return config


class NumberedPBT(PopulationBasedTraining):
    """Tune's PBT, except that a trial keeps its own number when it clones another's config, and that
    nothing is perturbed at the last epoch (the trial is done)."""

    def __init__(self, epochs: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.epochs = epochs

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        if result.get("epoch", 0) >= self.epochs:
            return TrialScheduler.CONTINUE
        return super().on_trial_result(tune_controller, trial, result)

    def _get_new_config(self, trial: Any, trial_to_clone: Any) -> tuple[dict, dict]:
        config, operations = super()._get_new_config(trial, trial_to_clone)
        config[NUMBER_KEY] = trial.config[NUMBER_KEY]  # the key of its record
        return config, operations


def mutations(stage: Stage) -> dict[str, Any]:
    """PBT's ``hyperparam_mutations``: a Choice or stepped domain as its list of values, else a Tune domain."""
    from scalesearch.search.tune_space import domain_to_tune

    out: dict[str, Any] = {}
    for name in TRAINING_FIELDS:
        d = stage.space.search.get(name)
        if d is None:
            continue
        if isinstance(d, Choice):
            out[name] = list(d.choices)
        elif isinstance(d, (Int, Float)) and d.step:
            out[name] = list(d.values())
        else:
            out[name] = domain_to_tune(name, d)
    return out


def make_pbt(exp: Experiment, stage: Stage) -> NumberedPBT:
    """The PBT scheduler of a stage, on the first objective per epoch."""
    check_pbt(exp)
    name, direction = next(iter(exp.objectives.items()))
    searched = {n: stage.space.search[n] for n in TRAINING_FIELDS if n in stage.space.search}
    return NumberedPBT(
        exp.evaluation.epochs,
        time_attr="epoch",
        metric=name,
        mode="max" if direction == "maximize" else "min",
        perturbation_interval=interval(exp),
        hyperparam_mutations=mutations(stage),
        custom_explore_fn=KeepInDomains(searched),
        require_attrs=False,  # a rejected or failed trial reports no objective
        log_config=False,
        synch=True,  # ranks trials at the same epoch: every interval, the bottom quarter clones the top
    )


def population(ctx: StageRun, stage: Stage, max_concurrent: int | None) -> tuple[Any, dict[str, Any], int]:
    """Tune's basic generator over the stage's feasible points (numbered), drawn and budget-checked here;
    the ``param_space`` naming their keys (Tune requires it for preset points); their count."""
    from ray.tune.search import BasicVariantGenerator

    searcher = make_searcher(ctx, stage, ctx.exp.seed)  # grid or random: a point list behind the budget
    points: list[dict[str, Any]] = []
    while isinstance(config := searcher.suggest(f"pbt-{len(points)}"), dict):  # else FINISHED
        points.append(config)
    keys = {k: None for point in points for k in point}
    generator = BasicVariantGenerator(points_to_evaluate=points, max_concurrent=max_concurrent or 0)
    return generator, keys, len(points)
