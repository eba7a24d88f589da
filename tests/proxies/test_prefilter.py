"""A stage's prefilter (issue 14, section 4): a sample ranked untrained by a proxy, only the top k trained."""

from __future__ import annotations

from pathlib import Path

import pytest

from scalesearch.errors import ExperimentError
from scalesearch.experiment import Experiment, Prefilter, SearchSpace, Stage
from scalesearch.experiment import load_experiment as load_file
from scalesearch.search.runs import kept_space, prefiltered
from scalesearch.search.trial import Evaluator
from scalesearch.space import Choice, Int
from scalesearch.verdict.budget import Budget
from tests.helpers import main_json, run_main

EXPERIMENT = """
from scalesearch.experiment import Evaluation, Experiment, Prefilter, SearchSpace, Stage
from scalesearch.space import Choice

space = SearchSpace(family="wrn", search={{"widen_factor": Choice((1, 2, 3))}}, fixed={{"depth": 10}})
experiment = Experiment(
    name="pre",
    stages=[Stage("search", space, strategy={strategy!r},
                  prefilter=Prefilter(proxy={proxy!r}, sample=3, keep=2, batch_size=8))],
    pruner="none",
    evaluation=Evaluation(dataset="digits", resolution=16, epochs=1, batch_size=32, max_batches_per_epoch=1),
)
"""


def load_experiment(path: Path, text: str) -> Experiment:
    path.write_text(text)
    return load_file(path)


def test_a_prefiltered_run_trains_only_the_kept_points_and_resumes(tmp_path):
    exp = tmp_path / "pre.py"
    exp.write_text(EXPERIMENT.format(strategy="random", proxy="synflow"))
    out = run_main("run", str(exp), "--out", str(tmp_path / "run"))
    assert out.returncode == 0, out.stderr
    assert "prefilter by synflow keeps 2 of" in out.stderr
    rows = main_json("results", str(tmp_path / "run"))
    assert len(rows) == 2 and {r["state"] for r in rows} == {"COMPLETE"}
    again = run_main("run", str(exp), "--out", str(tmp_path / "run"))  # the same ranking: nothing new
    assert again.returncode == 0, again.stderr
    assert len(main_json("results", str(tmp_path / "run"))) == 2


def test_prefiltered_grid_keeps_the_best_by_the_proxy(tmp_path):
    exp = load_experiment(tmp_path / "pre.py", EXPERIMENT.format(strategy="grid", proxy="params"))
    stage = exp.all_stages()[0]
    said: list[str] = []
    new_stage, space = prefiltered(
        stage, stage.space, exp, Evaluator(exp, stage.space, Budget()), said.append
    )
    assert new_stage.strategy == "grid" and new_stage.prefilter is None
    assert sorted(v["widen_factor"] for v in space.grid()) == [2, 3]  # the two largest of 1, 2, 3
    assert said == ["stage search: prefilter by params keeps 2 of 3 feasible networks (3 sampled), untrained"]


def test_kept_space_grid_is_exactly_the_kept_points():
    space = SearchSpace("wrn", {"widen_factor": Int(1, 12), "depth": Choice((10, 16, 22))})
    kept = [{"widen_factor": 3, "depth": 16}, {"widen_factor": 7, "depth": 10}]
    grid = kept_space(space, kept, "synflow").grid()
    assert sorted(grid, key=str) == sorted(kept, key=str)


@pytest.mark.parametrize(
    ("prefilter", "strategy", "message"),
    [
        (lambda: Prefilter(proxy="zen"), "grid", "prefilter proxy must be one of"),
        (lambda: Prefilter(sample=5, keep=10), "grid", "1 <= keep <= sample"),
        (lambda: Prefilter(keep=0), "grid", "1 <= keep <= sample"),
        (lambda: Prefilter(batch_size=1), "grid", "batch_size=1"),
        (lambda: Prefilter(), "tpe", "prefilter needs grid or random, not tpe"),
    ],
)
def test_bad_prefilters_are_one_line(prefilter, strategy, message):
    space = SearchSpace("wrn", {"widen_factor": Choice((1, 2))})
    with pytest.raises(ExperimentError, match=message.replace("(", r"\(")):
        Experiment("x", stages=[Stage("s", space, strategy, prefilter=prefilter())])
