"""Resumable Ray trials and population-based training, without a cluster: the checkpointed epoch loop
of the trainable (a resumed trial ends as an uninterrupted one; PBT's new lr rescales the schedule),
PBT's configuration checks and its scheduler's bookkeeping. The runs on a real cluster are in
test_ray_cluster.py."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from scalesearch.errors import ExperimentError
from scalesearch.experiment import Evaluation, Experiment, SearchSpace, apply_overrides
from scalesearch.search import ray_checkpoint as rc
from scalesearch.search import tune_pbt
from scalesearch.search.ray_records import NUMBER_KEY, schedule_note, trial_note
from scalesearch.search.trial import Evaluator
from scalesearch.search.validate import validate_run
from scalesearch.space import Choice, Float, Int
from scalesearch.train import checkpoint
from scalesearch.verdict.budget import parse_budget

DATA: dict[int, Any] = {}  # the digits, loaded once for the module


def experiment(**kw: Any) -> Experiment:
    search = kw.pop("search", {"lr": Float(0.01, 0.3, log=True)})
    ev = kw.pop("evaluation", {})
    return Experiment(
        name="pbt",
        space=SearchSpace(family="wrn", search=search, fixed={"depth": 10, "widen_factor": 1}),
        strategy=kw.pop("strategy", "random"),
        pruner=kw.pop("pruner", "pbt"),
        trials=2,
        evaluation=Evaluation(
            dataset="digits", resolution=16, batch_size=32, max_batches_per_epoch=2, **{"epochs": 3, **ev}
        ),
        **kw,
    )


def train(exp: Experiment, values: dict, tmp: Path, state: dict | None = None) -> tuple[list, list, rc.Start]:
    """The trial's epoch loop in-process: (epoch, metrics) per epoch, the checkpoints as written and
    read back (``weights_only=True``) at once, the start."""
    evaluator = Evaluator(exp, exp.all_stages()[0].space, parse_budget(None), DATA)
    prepared = evaluator.prepare(values)
    hyper = rc.Hyper.of(evaluator, values)
    run = rc.build_run(evaluator, prepared, hyper)
    start = rc.load_start(run, hyper, state)
    reports: list[tuple[int, dict]] = []
    states: list[dict | None] = []

    def report(epoch: int, metrics: dict, schedule: list, saved: dict | None) -> None:
        reports.append((epoch, {k: v for k, v in metrics.items() if k != "train_seconds"}))
        states.append(None if saved is None else roundtrip(saved, tmp / str(epoch)))

    rc.train_epochs(run, start, exp.evaluation.epochs, 7, hyper, report)
    return reports, states, start


def roundtrip(state: dict, tmp: Path) -> dict:
    tmp.mkdir(parents=True, exist_ok=True)
    checkpoint.save_checkpoint(tmp / rc.FILE, state)
    return checkpoint.load_checkpoint(tmp / rc.FILE)  # weights_only=True


def test_a_resumed_trial_ends_as_an_uninterrupted_one(tmp_path):
    torch.set_num_threads(1)
    exp = experiment()
    values = {"lr": 0.1}
    straight, states, _ = train(exp, values, tmp_path)
    assert [e for e, _ in straight] == [1, 2, 3] and states[-1] is None  # nothing left to resume
    resumed, _, start = train(exp, values, tmp_path / "again", states[0])
    assert (start.epoch, start.source) == (1, 7)
    assert resumed == straight[1:]  # the same metrics
    assert [s["trial"] for s in states[1]["schedule"]] == [7, 7]


def test_new_hyper_parameters_rescale_the_schedule_and_the_decay(tmp_path):
    torch.set_num_threads(1)
    exp = experiment()
    _, states, _ = train(exp, {"lr": 0.1}, tmp_path)
    evaluator = Evaluator(exp, exp.all_stages()[0].space, parse_budget(None), DATA)
    prepared = evaluator.prepare({"lr": 0.1})
    old = rc.build_run(evaluator, prepared, rc.Hyper(0.1, 5e-4))
    rc.load_start(old, rc.Hyper(0.1, 5e-4), states[0])
    new = rc.build_run(evaluator, prepared, rc.Hyper(0.1, 5e-4))
    start = rc.load_start(new, rc.Hyper(0.3, 1e-3), states[0])
    assert start.epoch == 1
    for a, b in zip(old.opt.param_groups, new.opt.param_groups, strict=True):
        assert b["lr"] == pytest.approx(3 * a["lr"]) and b["lr"] < 0.3  # part-way down the cosine
        assert b["weight_decay"] == (1e-3 if a["weight_decay"] else 0.0)  # biases and norms keep none
    assert new.schedule.base_lrs == [0.3] * len(new.opt.param_groups)


def test_hyper_parameters_come_from_the_config_else_the_evaluation():
    exp = experiment(evaluation={"lr": 0.02, "optimizer": "adamw"})
    evaluator = Evaluator(exp, exp.all_stages()[0].space, parse_budget(None), DATA)
    assert rc.Hyper.of(evaluator, {}) == rc.Hyper(0.02, 0.05)
    assert rc.Hyper.of(evaluator, {"lr": 0.2, "weight_decay": 0.0}) == rc.Hyper(0.2, 0.0)
    exp = apply_overrides(
        experiment(pruner="none", search={"widen_factor": Int(1, 2)}), ["weight_decay=1e-4"]
    )
    assert exp.evaluation.weight_decay == 1e-4
    with pytest.raises(ExperimentError, match="weight_decay must be >= 0"):
        apply_overrides(exp, ["weight_decay=-1"])


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"objectives": {"accuracy": "maximize", "params": "minimize"}}, "ranks trials by one objective"),
        ({"evaluation": {"epochs": 1}}, "needs epochs >= 2"),
        ({"strategy": "tpe"}, "needs strategy grid or random, but got strategy=tpe"),
        ({"search": {"widen_factor": Int(1, 2)}}, "must search at least one of them"),
        ({"options": {"perturbation_interval": 3}}, r"perturbation_interval must be .* \[1, 3\)"),
    ],
)
def test_a_pbt_experiment_that_cannot_run_is_one_line(kw, message):
    with pytest.raises(ExperimentError, match=message):
        tune_pbt.check_pbt(experiment(**kw))


def test_training_fields_are_searchable_only_with_pbt_and_only_on_ray(tmp_path):
    validate_run(experiment(), None)  # lr beside the network: fine under pbt
    with pytest.raises(ExperimentError, match="wrn has no parameter 'lr'"):
        validate_run(experiment(pruner="median"), None)
    from scalesearch.search.optuna_backend import run_optuna

    with pytest.raises(ExperimentError, match="pruner=pbt .* needs the Ray backend: run with --backend ray"):
        run_optuna(experiment(), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_pbt_scheduler_keeps_numbers_and_domains():
    exp = experiment(
        search={
            "lr": Float(0.01, 0.3, log=True),
            "weight_decay": Choice((0.0, 1e-4)),
            "widen_factor": Int(1, 2),
        },
        options={"perturbation_interval": 2},
        evaluation={"epochs": 4},
    )
    stage = exp.all_stages()[0]
    pbt = tune_pbt.make_pbt(exp, stage)
    assert (pbt._perturbation_interval, pbt._metric, pbt._mode) == (2, "accuracy", "max")
    assert pbt._hyperparam_mutations["weight_decay"] == [0.0, 1e-4]  # a Choice moves to a neighbour
    assert set(pbt._hyperparam_mutations) == {"lr", "weight_decay"}  # the network is cloned, not mutated
    me = SimpleNamespace(config={"lr": 0.29, "weight_decay": 0.0, "widen_factor": 1, NUMBER_KEY: 3})
    best = SimpleNamespace(config={"lr": 0.29, "weight_decay": 1e-4, "widen_factor": 2, NUMBER_KEY: 0})
    for _ in range(20):
        config, _ = pbt._get_new_config(me, best)
        assert config[NUMBER_KEY] == 3 and config["widen_factor"] == 2
        assert 0.01 <= config["lr"] <= 0.3 and config["weight_decay"] in (0.0, 1e-4)
    assert pbt.on_trial_result(None, me, {"epoch": 4, "accuracy": 0.5}) == "CONTINUE"  # the last epoch
    stepped = tune_pbt.KeepInDomains({"lr": Float(0.1, 0.5, step=0.1), "n": Int(1, 9, step=2)})
    assert stepped({"lr": 0.61, "n": 4.2}) == {"lr": 0.5, "n": 5}
    assert tune_pbt.mutations(dataclasses.replace(stage, space=dataclasses.replace(
        stage.space, search={"lr": Float(0.1, 0.3, step=0.1)})))["lr"] == pytest.approx([0.1, 0.2, 0.3])  # fmt: skip


def test_notes_name_the_schedule_or_the_resume():
    rows = [
        {"epoch": 1, "lr": 0.1, "weight_decay": 5e-4, "trial": 2},
        {"epoch": 2, "lr": 0.1, "weight_decay": 5e-4, "trial": 2},
        {"epoch": 3, "lr": 0.12, "weight_decay": 5e-4, "trial": 0},
    ]
    assert schedule_note(rows, 0) == (
        "PBT schedule: epochs 1-2 lr=0.1 weight_decay=0.0005 (trial 2's run); epoch 3 lr=0.12 weight_decay=0.0005"
    )
    assert schedule_note(rows[:2], 2) is None
    assert trial_note({"schedule": rows[:2], "resumed_from_epoch": 1, "resumed_from_trial": 2}, 2) == (
        "resumed from its epoch-1 checkpoint"
    )
    paused = {"schedule": rows[:2], "resumed_from_epoch": 1, "resumed_from_trial": 2}
    assert trial_note(paused, 2, pbt=True) is None  # PBT pauses and resumes trials all the time
    assert trial_note({"schedule": rows, "resumed_from_epoch": 2, "resumed_from_trial": 0}, 0, pbt=True) == (
        schedule_note(rows, 0)
    )
    assert trial_note({"resumed_from_epoch": 0, "resumed_from_trial": None}, 0) is None
