"""Checking a whole experiment before a run writes anything: families, space keys, grids, trial
counts, the evaluation resolution and the feasibility of every stage that can be known up front.

A rejected run leaves no directory behind: both backends call :func:`validate_run` first.
"""

from __future__ import annotations

import random
from typing import Any

from scalesearch.errors import ExperimentError, PointError, ScalesearchError
from scalesearch.experiment import RUN_LEVEL, TRAINING_FIELDS, Experiment, SearchSpace, Stage
from scalesearch.registry import get_family
from scalesearch.search.runs import check_feasible, stage_total
from scalesearch.search.trial import Evaluator
from scalesearch.space import Choice, Float, Int
from scalesearch.verdict.budget import parse_budget


def validate_run(exp: Experiment, trials: int | None, data: dict[int, Any] | None = None) -> None:
    """Raise a one-line ScalesearchError for anything in ``exp`` that can never run."""
    exp.validate()
    budget = parse_budget(exp.budget)
    data = {} if data is None else data
    for stage in exp.all_stages():
        try:
            family = get_family(stage.space.family)
        except PointError as err:
            raise ExperimentError(f"stage {stage.name}: {err}") from None
        if "resolution" in family.space.names:
            try:
                family.space.param("resolution").domain.check("resolution", exp.evaluation.resolution)
            except PointError as err:
                raise ExperimentError(f"evaluation resolution: {err}") from None
        evaluator = Evaluator(exp, stage.space, budget, data)
        check_keys(stage, evaluator)
        if stage.fix_from is None:  # a later stage's space is known once earlier stages ran
            stage_total(stage, stage.space, trials)
            check_feasible(exp, stage.space, budget, evaluator)
        elif stage.strategy != "grid" and stage.trials is None and trials is None:
            stage_total(stage, stage.space, trials)


def check_keys(stage: Stage, evaluator: Evaluator) -> None:
    """Every searched or fixed name must reach the network: a family parameter, a run-level value,
    or (with ``derive``) a searched name whose value changes the derived point."""
    space = stage.space
    family = get_family(space.family)
    known = set(family.space.names) | set(RUN_LEVEL)
    if evaluator.experiment.pruner == "pbt":  # population-based training searches lr/weight_decay too
        known |= set(TRAINING_FIELDS)
    valid = f"valid parameters: {', '.join(family.space.names)}"
    if space.derive is None:
        for where, names in (("search", space.search), ("fixed", space.fixed)):
            unknown = [k for k in names if k not in known]
            if unknown:
                raise ExperimentError(
                    f"stage {stage.name}: {family.name} has no parameter {unknown[0]!r} "
                    f"(a {where} key of its SearchSpace); {valid}"
                )
        return
    for name in space.search:
        if name not in known and stage.fix_from is None and not _influences(space, name, evaluator):
            raise ExperimentError(
                f"stage {stage.name}: search key {name!r} changes no parameter of the {family.name} network "
                f"that derive builds (misspelt?); {valid}"
            )


def _influences(space: SearchSpace, name: str, evaluator: Evaluator, tries: int = 8) -> bool:
    """Whether changing ``name`` alone changes the derived point at some of a few points."""
    rng = random.Random(0)
    bases = space.corners(limit=tries) + [space.sample(rng) for _ in range(tries)]
    alternatives = _ends(space.search[name])
    compared = False
    for base in bases:
        try:
            point = space.values_to_point(base, evaluator.base_values())
        except ScalesearchError:
            continue
        for alt in alternatives:
            if alt == base[name]:
                continue
            try:
                other = space.values_to_point({**base, name: alt}, evaluator.base_values())
            except ScalesearchError:
                continue
            compared = True
            if other != point:
                return True
    return not compared  # nothing could be compared: no evidence against the key


def _ends(domain: Any) -> list[Any]:
    if isinstance(domain, Choice):
        return list(domain.choices)
    if isinstance(domain, (Int, Float)):
        return [
            domain.low,
            domain.high,
            (domain.low + domain.high) / 2 if isinstance(domain, Float) else (domain.low + domain.high) // 2,
        ]
    return []
