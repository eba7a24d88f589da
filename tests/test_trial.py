"""One trial: a point is rejected before training, and trains reproducibly whatever ran before it."""

from __future__ import annotations

import pytest

from scalesearch.experiment import Evaluation, Experiment, SearchSpace
from scalesearch.search.trial import Evaluator, Rejected
from scalesearch.space import Choice
from scalesearch.verdict.budget import parse_budget

EXP = Experiment(
    name="trial",
    space=SearchSpace("wrn", {"widen_factor": Choice((1, 2))}, fixed={"depth": 10}),
    strategy="grid",
    pruner="none",
    trials=None,
    evaluation=Evaluation(
        dataset="digits", resolution=16, epochs=1, batch_size=64, lr=0.05, max_batches_per_epoch=4
    ),
)


def test_same_point_same_metrics_after_other_trials() -> None:
    ev = Evaluator(EXP, EXP.space, parse_budget(None))
    first = ev.train(ev.prepare({"widen_factor": 1}))
    ev.train(ev.prepare({"widen_factor": 2}))  # moves torch's global generator on
    again = ev.train(ev.prepare({"widen_factor": 1}))
    drop = {"train_seconds"}
    assert {k: v for k, v in first.items() if k not in drop} == {
        k: v for k, v in again.items() if k not in drop
    }


def test_over_budget_point_is_rejected_with_its_costs() -> None:
    ev = Evaluator(EXP, EXP.space, parse_budget("params<=0.2M"))
    with pytest.raises(Rejected) as rej:
        ev.prepare({"widen_factor": 2})
    assert rej.value.kind == "over budget" and rej.value.costs["params"] > 200_000
    assert "params<=0.2M" in rej.value.reasons[0]
