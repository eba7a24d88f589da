"""Pareto fronts, status marking and the best point under a budget, on hand-made tables."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from scalesearch.analysis.pareto import DIRECTIONS, STATUSES, best_under_budget, mark_front, pareto_front
from scalesearch.errors import ScalesearchError


def table(rows: list[tuple]) -> pd.DataFrame:
    """Rows of (number, flops, params, accuracy, state, feasible)."""
    out = []
    for number, flops, params, acc, state, feasible in rows:
        out.append(
            {
                "run": "r",
                "number": number,
                "state": state,
                "family": "efficientnet",
                "point": {"phi": number},
                "params": params,
                "flops": flops,
                "activations": 10 * flops,
                "latency_ms": float("nan"),
                "feasible": feasible,
                "violations": "" if feasible else "flops<=5",
                "accuracy": acc,
                "val_loss": 1 - acc if acc == acc else float("nan"),
                "duration_s": 1.0,
            }
        )
    return pd.DataFrame(out)


OK = ("COMPLETE", True)
NAN = float("nan")

# number, flops, params, accuracy, state, feasible
BASE = [
    (0, 1, 10, 0.70, *OK),  # front
    (1, 2, 10, 0.75, *OK),  # front
    (2, 2, 10, 0.74, *OK),  # dominated by 1 (same flops, lower accuracy)
    (3, 3, 10, 0.75, *OK),  # dominated by 1 (same accuracy, more flops)
    (4, 4, 10, 0.80, *OK),  # front
    (5, 0.5, 10, 0.60, *OK),  # front (cheapest)
    (6, 1, 10, 0.65, *OK),  # dominated by 0
    (7, 0.1, 10, 0.99, "FAIL", True),  # failed: excluded however good
    (8, 9, 10, NAN, "PRUNED", False),  # over budget, not trained
    (9, 0.2, 10, 0.95, "COMPLETE", False),  # complete but infeasible: excluded
    (10, 0.3, 10, 0.97, "PRUNED", True),  # pruned early: excluded
    (11, 0.4, 10, NAN, "COMPLETE", True),  # no accuracy: excluded
    (12, 0.1, 10, 0.99, "RUNNING", True),  # still running: excluded
]


def test_front_2d_max_accuracy_min_flops() -> None:
    front = pareto_front(table(BASE), ["flops", "accuracy"])
    assert list(front["number"]) == [5, 0, 1, 4]
    assert list(front["flops"]) == sorted(front["flops"])  # sorted along the first column


def test_front_keeps_every_copy_of_a_duplicate_point() -> None:
    rows = [*BASE, (20, 2, 10, 0.75, *OK)]  # exact duplicate (in the front columns) of trial 1
    front = pareto_front(table(rows), ["flops", "accuracy"])
    assert list(front["number"]) == [5, 0, 1, 20, 4]
    assert front.index.is_unique


def test_front_keeps_original_index() -> None:
    df = table(BASE)
    front = pareto_front(df, ["flops", "accuracy"])
    assert (df.loc[front.index, "number"] == front["number"]).all()


def test_front_3d() -> None:
    rows = [
        (0, 1, 30, 0.70, *OK),  # front: cheapest flops
        (1, 2, 10, 0.70, *OK),  # front: fewest params
        (2, 2, 20, 0.70, *OK),  # dominated by 1
        (3, 3, 30, 0.80, *OK),  # front: best accuracy
        (4, 3, 30, 0.79, *OK),  # dominated by 3
        (5, 2, 20, 0.75, *OK),  # front: trade-off
        (6, 2, 20, 0.75, *OK),  # duplicate of 5: on the front too
        (7, 0.5, 5, 0.9, "FAIL", True),
    ]
    front = pareto_front(table(rows), ["flops", "params", "accuracy"])
    assert sorted(front["number"]) == [0, 1, 3, 5, 6]
    assert list(front["number"])[0] == 0


def test_min_min_and_directions_override() -> None:
    rows = [(0, 1, 30, 0.7, *OK), (1, 2, 10, 0.7, *OK), (2, 3, 40, 0.7, *OK), (3, 2, 10, 0.7, *OK)]
    df = table(rows)
    assert list(pareto_front(df, ["flops", "params"])["number"]) == [0, 1, 3]
    # Maximising flops (Optuna's spelling) flips the answer.
    front = pareto_front(df, ["flops", "params"], {"flops": "maximize"})
    assert list(front["number"]) == [1, 3, 2]


def test_minimising_accuracy_and_val_loss_direction() -> None:
    df = table(BASE)
    assert DIRECTIONS["val_loss"] == "min"
    by_loss = pareto_front(df, ["flops", "val_loss"])
    assert list(by_loss["number"]) == [5, 0, 1, 4]  # val_loss = 1 - accuracy: same front
    worst = pareto_front(df, ["flops", "accuracy"], {"accuracy": "min"})
    assert list(worst["number"]) == [5]


def test_no_eligible_rows_gives_empty_front() -> None:
    df = table([(0, 1, 1, NAN, "FAIL", True), (1, 1, 1, NAN, "PRUNED", False)])
    front = pareto_front(df, ["flops", "accuracy"])
    assert front.empty and list(front.columns) == list(df.columns)


def test_unknown_column_lists_valid_columns() -> None:
    with pytest.raises(ScalesearchError, match=r"unknown column 'acc'.*valid columns: ") as err:
        pareto_front(table(BASE), ["flops", "acc"])
    valid = str(err.value).split("valid columns: ")[1].split(", ")
    assert {"accuracy", "flops", "params", "activations", "latency_ms", "val_loss"} <= set(valid)
    assert "number" not in valid and "feasible" not in valid and "state" not in valid


def test_missing_and_bad_directions() -> None:
    df = table(BASE).assign(score=1.0)
    with pytest.raises(ScalesearchError, match="no direction for column 'score'"):
        pareto_front(df, ["flops", "score"])
    with pytest.raises(ScalesearchError, match="must be 'max' or 'min'"):
        pareto_front(df, ["flops", "accuracy"], {"accuracy": "up"})
    with pytest.raises(ScalesearchError, match="distinct"):
        pareto_front(df, ["flops", "flops"])
    # Trial 11 has no accuracy, but accuracy is not a front column here.
    assert list(pareto_front(df, ["flops", "score"], {"score": "max"})["number"]) == [11]


def _brute_force(values: np.ndarray) -> set[int]:
    keep = set()
    for i, a in enumerate(values):
        if not any((b <= a).all() and (b < a).any() for j, b in enumerate(values) if j != i):
            keep.add(i)
    return keep


@pytest.mark.parametrize("k", [2, 3])
def test_matches_brute_force_with_many_ties(k: int) -> None:
    rng = np.random.default_rng(k)
    n = 300
    cols = ["flops", "params", "accuracy"][:k]
    df = pd.DataFrame(
        {
            "state": "COMPLETE",
            "feasible": True,
            "flops": rng.integers(0, 12, n),
            "params": rng.integers(0, 12, n),
            "accuracy": rng.integers(0, 12, n) / 12,
        }
    )
    signs = np.array([1.0 if DIRECTIONS[c] == "min" else -1.0 for c in cols])
    expected = _brute_force(df[cols].to_numpy(dtype=float) * signs)
    assert set(pareto_front(df, cols).index) == expected


def test_mark_front_statuses() -> None:
    marked = mark_front(table(BASE), ["flops", "accuracy"])
    status = dict(zip(marked["number"], marked["status"], strict=True))
    assert status == {
        0: "front",
        1: "front",
        2: "dominated",
        3: "dominated",
        4: "front",
        5: "front",
        6: "dominated",
        7: "failed",
        8: "over budget",
        9: "over budget",
        10: "pruned",
        11: "missing",
        12: "running",
    }
    assert set(status.values()) <= set(STATUSES)
    assert marked["on_front"].dtype == bool
    assert list(marked.loc[marked["on_front"], "number"]) == [0, 1, 4, 5]


def test_best_and_runner_up() -> None:
    best, runner = best_under_budget(table(BASE))
    assert best["number"] == 4 and runner is not None and runner["number"] == 1


def test_best_under_a_budget_check() -> None:
    best, runner = best_under_budget(table(BASE), lambda row: row["flops"] <= 2)
    assert (best["number"], runner["number"]) == (1, 0)


def test_runner_up_is_a_front_point_not_a_costlier_twin() -> None:
    rows = [(0, 1, 10, 0.80, *OK), (1, 3, 10, 0.79, *OK), (2, 0.5, 10, 0.70, *OK)]
    best, runner = best_under_budget(table(rows))
    assert best["number"] == 0 and runner["number"] == 2  # trial 1 is worse and costlier than trial 0


def test_best_tie_goes_to_the_cheaper_trial_and_single_point_has_no_runner_up() -> None:
    rows = [(0, 2, 10, 0.8, *OK), (1, 1, 10, 0.8, *OK)]
    best, runner = best_under_budget(table(rows))
    assert best["number"] == 1 and runner is None


def test_best_minimising_a_metric() -> None:
    best, _ = best_under_budget(table(BASE), metric="val_loss")
    assert best["number"] == 4


def test_no_trial_meets_the_budget() -> None:
    with pytest.raises(
        ScalesearchError,
        match=r"no trial meets the budget.*cheapest is trial 5 \(flops=0.5, params=10, activations=5\)",
    ):
        best_under_budget(table(BASE), lambda row: row["flops"] < 0.01)


def test_nothing_trained() -> None:
    df = table([(0, 1, 1, NAN, "PRUNED", False), (1, 1, 1, NAN, "FAIL", True)])
    with pytest.raises(ScalesearchError, match="no complete, feasible trial has a value for 'accuracy'"):
        best_under_budget(df)
    with pytest.raises(ScalesearchError, match="unknown column 'top5'"):
        best_under_budget(table(BASE), metric="top5")


def test_large_table_is_fast() -> None:
    rng = np.random.default_rng(0)
    n = 5000
    df = pd.DataFrame(
        {"state": "COMPLETE", "feasible": True, "flops": rng.random(n), "accuracy": rng.random(n)}
    )
    front = pareto_front(df, ["flops", "accuracy"])
    acc = front["accuracy"].to_numpy()
    assert len(front) >= 1 and all(b > a for a, b in itertools.pairwise(acc))
    assert not math.isnan(acc[0])
