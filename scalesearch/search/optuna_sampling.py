"""Optuna's side of a search space, shared by the Optuna backend and Ray Tune's ``OptunaSearch``:
a domain as an Optuna suggestion, a strategy as an Optuna sampler."""

from __future__ import annotations

from typing import Any

import optuna

from scalesearch.errors import ExperimentError
from scalesearch.experiment import Stage
from scalesearch.space import Choice, Domain, Float, Int


def suggest(trial: optuna.Trial, name: str, domain: Domain) -> Any:
    """The value of ``name`` that ``trial`` suggests from ``domain``."""
    if isinstance(domain, Int):
        return trial.suggest_int(name, domain.low, domain.high, step=domain.step, log=domain.log)
    if isinstance(domain, Float):
        return trial.suggest_float(name, domain.low, domain.high, step=domain.step, log=domain.log)
    if isinstance(domain, Choice):
        return trial.suggest_categorical(name, list(domain.choices))
    raise ExperimentError(f"{name}: {domain.describe()} cannot be searched; fix it or use a Choice of values")


def sampler(stage: Stage, seed: int) -> optuna.samplers.BaseSampler:
    """The Optuna sampler of a stage's strategy (grid points are enqueued; the sampler fills the rest)."""
    if stage.strategy in ("grid", "random"):
        return optuna.samplers.RandomSampler(seed=seed)
    if stage.strategy == "tpe":
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=5)
    return optuna.samplers.NSGAIISampler(seed=seed, population_size=8)
