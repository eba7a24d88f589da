"""The run layer both backends share: lock, validation before any file, threads, duplicate networks,
the final line, the one trial record."""

from __future__ import annotations

import io
import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest
import torch

from scalesearch.errors import ScalesearchError
from scalesearch.experiment import Evaluation, Experiment, SearchSpace, Stage, apply_overrides
from scalesearch.progress import Progress
from scalesearch.search import ray_records
from scalesearch.search.conclusion import conclusion
from scalesearch.search.optuna_backend import run_optuna
from scalesearch.search.records import TrialRecord, TrialState, Verdict
from scalesearch.search.runs import RunLock, choose_threads, usable_cpus, write_meta
from scalesearch.search.validate import validate_run
from scalesearch.space import Choice, Float

EVAL = Evaluation(dataset="digits", resolution=16, epochs=1, batch_size=64, lr=0.05, max_batches_per_epoch=1)


def tiny(search: dict[str, Any] | None = None, family: str = "wrn", **kw: Any) -> Experiment:
    space = SearchSpace(
        family,
        search or {"widen_factor": Choice((1,))},
        fixed=kw.pop("fixed", {"depth": 10}),
        derive=kw.pop("derive", None),
    )
    return Experiment(
        name="t", space=space, strategy="grid", pruner="none", trials=None, evaluation=EVAL, **kw
    )


def quiet() -> Progress:
    return Progress(stream=io.StringIO(), live=False)


def test_the_run_lock_has_exactly_one_winner_under_synchronised_starts(tmp_path: Path) -> None:
    for _ in range(100):
        barrier = threading.Barrier(2)
        locks = [RunLock(tmp_path), RunLock(tmp_path)]
        won: list[int] = []

        def take(
            i: int, barrier: threading.Barrier = barrier, locks: list[RunLock] = locks, won: list[int] = won
        ) -> None:
            barrier.wait()
            try:
                locks[i].acquire()
                won.append(i)
            except ScalesearchError:
                pass

        threads = [threading.Thread(target=take, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(won) == 1
        locks[won[0]].release()


@pytest.mark.parametrize(
    ("exp", "message"),
    [
        (lambda: tiny({"widen": Choice((1, 2))}), "wrn has no parameter 'widen' (a search key"),
        (lambda: tiny(fixed={"depht": 10}), "wrn has no parameter 'depht' (a fixed key"),
        (lambda: tiny(family="wnr"), "unknown family 'wnr'"),
        (lambda: tiny({"widen_factor": Choice((1000, 2000))}), "no valid point in the wrn search space"),
        (lambda: tiny({"dropout": Float(0.0, 0.5)}), "a grid needs finite domains, but dropout is"),
        (
            lambda: tiny({"w": Choice((1, 2))}, derive=lambda v: {**v, "widen_factor": 1}),
            "search key 'w' changes no parameter",
        ),
        (lambda: tiny(derive=lambda v: 1 / 0), "raised ZeroDivisionError: division by zero"),
        (lambda: apply_overrides(tiny(), ["resolution=100000"]), "resolution"),
    ],
)
def test_bad_experiments_are_refused_before_any_file(tmp_path: Path, exp: Any, message: str) -> None:
    with pytest.raises(ScalesearchError, match=None) as err:
        run_optuna(exp(), tmp_path / "run", progress=quiet())
    assert message in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("optimizer=adamx", "optimizer must be one of sgd, adamw"),
        ("device=tpu", "device must be auto, cpu, cuda or cuda:N"),
        ("max_batches_per_epoch=-1", "max_batches_per_epoch must be >= 1"),
        ("label_smoothing=5", "label_smoothing must be in [0, 1)"),
        ("threads=0", "threads must be >= 1"),
    ],
)
def test_settings_that_can_never_work_fail_at_once(setting: str, message: str) -> None:
    with pytest.raises(ScalesearchError) as err:
        apply_overrides(tiny(), [setting])
    assert message in str(err.value)


def test_the_derive_error_names_the_function_and_file() -> None:
    def derive(values: dict[str, Any]) -> dict[str, Any]:
        raise KeyError("base_width")

    with pytest.raises(ScalesearchError) as err:
        validate_run(tiny(derive=derive), None)
    assert "derive (" in str(err.value) and "test_runs.py" in str(err.value) and "KeyError" in str(err.value)


def test_thread_choice_is_applied_said_and_recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))  # an idle machine
    assert 1 <= choose_threads(None) == usable_cpus() <= (os.cpu_count() or 1)
    assert choose_threads(None, workers=usable_cpus() * 4) == 1 and choose_threads(3) >= 1
    monkeypatch.setattr(os, "getloadavg", lambda: (usable_cpus() - 1.0, 0.0, 0.0))  # all but one busy
    assert choose_threads(None) == 1
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    before = torch.get_num_threads()
    try:
        out = io.StringIO()
        run_optuna(
            apply_overrides(tiny(), ["threads=1"]), tmp_path / "run", progress=Progress(out, live=False)
        )
        meta = json.loads((tmp_path / "run" / "run.json").read_text())
        assert meta["threads"] == 1 and meta["evaluation"]["threads"] == 1 and torch.get_num_threads() == 1
        assert out.getvalue().startswith("run t: 1 stage(s), 1 CPU thread(s) per trial (threads=1)")
        auto = io.StringIO()
        run_optuna(tiny(), tmp_path / "auto", progress=Progress(auto, live=False))
        assert json.loads((tmp_path / "auto" / "run.json").read_text())["threads"] == usable_cpus()
        assert (
            f"(threads=auto: {usable_cpus()} CPU(s), load 0.0; --set threads=N to choose)" in auto.getvalue()
        )
    finally:
        torch.set_num_threads(before)


def test_points_that_build_the_same_network_train_once(tmp_path: Path) -> None:
    def derive(v: dict[str, Any]) -> dict[str, Any]:
        return {**v, "widen_factor": 1 if v["w"] < 3 else 2}

    out = io.StringIO()
    results = run_optuna(
        tiny({"w": Choice((1, 2, 3))}, derive=derive), tmp_path / "run", progress=Progress(out, live=False)
    )
    assert "the grid holds 3 points, 2 distinct networks" in out.getvalue()
    import optuna

    study = optuna.load_study(study_name="t", storage=f"sqlite:///{tmp_path / 'run' / 'study.db'}")
    notes = [t.user_attrs.get("note") for t in study.trials]
    assert notes.count(None) == 2 and "same network as trial 0: its result is reused" in notes
    by_w = {r["w"]: acc for r, acc in zip(results["values"], results["accuracy"], strict=True)}
    assert by_w[1] == by_w[2]
    assert (
        "best network: stage search" in out.getvalue()
        and f"scalesearch report {tmp_path / 'run'}" in out.getvalue()
    )


def test_the_final_line_says_when_results_tie() -> None:
    import pandas as pd

    df = pd.DataFrame(
        {
            "stage": ["grid"] * 4,
            "state": ["COMPLETE"] * 4,
            "feasible": [True] * 4,
            "values": [{"a": 1.1}, {"a": 1.2}, {"a": 1.3}, {"a": 1.0}],
            "params": [1e6] * 4,
            "flops": [2e7] * 4,
            "accuracy": [341 / 359] * 3 + [300 / 359],
        }
    )
    line = conclusion(df, {"accuracy": "maximize"}, "runs/x", val_size=359)
    assert "best network: stage grid, a=1.1: params 1M, FLOPs (fvcore) 20M, accuracy 0.9499 = 341/359" in line
    assert "3 points tie at 0.9499 = 341/359" in line and "next: scalesearch report runs/x" in line
    alone = conclusion(df.iloc[[0, 3]], {"accuracy": "maximize"}, "runs/x", val_size=359)
    assert "tie" not in alone


def test_one_record_for_both_backends_with_plain_json_values() -> None:
    rec = ray_records.make_record(
        "s", 0, "PRUNED", {"a": 1}, family="wrn", verdict=Verdict.OVER_BUDGET, costs={"params": 5}
    )
    text = json.dumps(rec)
    assert '"state": "PRUNED"' in text and '"verdict": "over budget"' in text and rec["params"] == 5
    back = TrialRecord.from_dict(json.loads(text))
    assert back.state is TrialState.PRUNED and back.verdict is Verdict.OVER_BUDGET and back.to_dict() == rec


def test_replacing_a_record_writes_through_the_atomic_writer(tmp_path: Path, monkeypatch: Any) -> None:
    calls: list[Path] = []
    real = ray_records.write_atomic
    monkeypatch.setattr(ray_records, "write_atomic", lambda p, d: calls.append(Path(p)) or real(p, d))
    store = ray_records.Records(tmp_path / "trials.jsonl")
    fail = ray_records.make_record("s", 0, "FAIL", {"a": 1}, family="wrn", error="node died")
    assert store.write(fail) and store.write({**fail, "state": "COMPLETE", "error": None})
    assert calls == [tmp_path / "trials.jsonl"]


def test_run_json_records_every_family(tmp_path: Path) -> None:
    stages = [
        Stage("a", SearchSpace("wrn", {"widen_factor": Choice((1,))}), "grid"),
        Stage("b", SearchSpace("resnet", {"cardinality": Choice((1,))}), "grid"),
    ]
    exp = Experiment(name="x", stages=stages, evaluation=EVAL)
    meta = write_meta(tmp_path, exp, "optuna", "sqlite://", [], None, [])
    assert meta["families"] == ["wrn", "resnet"] and meta["family"] == "wrn"


def test_sigint_and_sigterm_ask_tune_to_stop_and_save_its_state() -> None:
    import os
    import signal

    from scalesearch.search.interrupts import Interrupted, resume_command
    from scalesearch.search.ray_connect import stop_on_signals

    asked: list[int] = []
    before = signal.signal(signal.SIGUSR1, lambda s, f: asked.append(s))  # as Tune's stop handler
    try:
        with stop_on_signals() as stopped:
            os.kill(os.getpid(), signal.SIGTERM)
            assert stopped == ["SIGTERM"] and asked == [signal.SIGUSR1]
            with pytest.raises(Interrupted):  # a second signal stops at once
                os.kill(os.getpid(), signal.SIGINT)
        signal.signal(signal.SIGUSR1, signal.SIG_DFL)
        with pytest.raises(Interrupted), stop_on_signals():  # outside Tune: stop at once
            os.kill(os.getpid(), signal.SIGINT)
    finally:
        signal.signal(signal.SIGUSR1, before)
    line = resume_command("e.py", Path("runs/x"), ["epochs=2"], "postgresql://u:pw@h/db")
    assert "pw" not in line and "--set epochs=2 --storage 'postgresql://u:***@h/db'" in line
