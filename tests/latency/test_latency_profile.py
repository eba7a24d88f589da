"""Device profiles: save/load round trip, mismatch refused in one line, calibration end to end."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from scalesearch.latency.features import FEATURES
from scalesearch.latency.model import LatencyModel
from scalesearch.latency.predict import explain
from scalesearch.latency.profile import (
    Profile,
    ProfileError,
    current_setting,
    list_profiles,
    load_profile,
    profile_path,
    read_profile,
    save_profile,
)
from scalesearch.registry import get_family
from scalesearch.verdict.budget import parse_budget
from scalesearch.verdict.screen import screen
from tests.helpers import run_main


def _profile(name: str = "hand", **setting: object) -> Profile:
    coef = np.zeros(len(FEATURES))
    coef[0], coef[1:8] = 0.1, 1e-8  # 0.1 ms plus 1e-8 ms per FLOP (scale 1)
    model = LatencyModel("additive", tuple(coef), tuple(np.ones(len(FEATURES))))
    held = {"all": {"n": 4, "spearman": 1.0, "within_10pct": 1.0, "median_abs_pct": 2.0, "p90_abs_pct": 8.0}}
    return Profile(name, replace(current_setting("cpu"), **setting), model, held, {"additive": 0.1})  # type: ignore[arg-type]


def test_save_load_round_trip() -> None:
    profile = _profile()
    path = save_profile(profile)
    assert path == profile_path("hand") and list_profiles() == ["hand"]
    again = load_profile("hand")
    assert again.as_dict() == json.loads(json.dumps(profile.as_dict()))
    fam = get_family("mobilenet_v1")
    p = again.predict(fam, {"resolution": 64})
    assert p.ms == pytest.approx(0.1 + 1e-8 * fam.complexity({"resolution": 64}).flops)
    assert p.band_pct == 8.0 and p.low_ms < p.ms < p.high_ms
    assert "predicted, ±8 %" in explain(("latency_ms=1 breaks latency_ms<=0.5 (limit 0.5)",), p)[0]


def test_mismatch_refused_in_one_line() -> None:
    save_profile(_profile("other", threads=torch.get_num_threads() + 3, torch_version="0.0"))
    with pytest.raises(
        ProfileError, match=r"calibrated with torch_version=0.0, threads=\d+, but the current"
    ):
        load_profile("other")
    out = run_main("cost", "mobilenet_v1", "--method", "analytic", "--latency-profile", "other")
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert "threads=" in out.stderr and "scalesearch latency calibrate" in out.stderr
    save_profile(_profile("b1"))
    out = run_main("cost", "mobilenet_v1", "--latency-profile", "b1", "--batch-size", "8")
    assert out.returncode == 2 and "batch_size=1, but the current setting has batch_size=8" in out.stderr
    with pytest.raises(ProfileError, match="no latency profile 'nope'"):
        read_profile("nope")
    with pytest.raises(ProfileError, match="a profile name is"):
        profile_path("../x")


def test_screen_and_solve_with_a_profile() -> None:
    save_profile(_profile())
    fam = get_family("mobilenet_v1")
    budget = parse_budget("latency_ms<=0.6")
    result = screen(fam, budget, 50, {"resolution": 96}, latency_profile=load_profile("hand"))
    assert 0 < result.feasible < result.screened == 50
    assert result.dearest is not None and "predicted" in result.dearest.violations[0]
    out = run_main(
        "screen", "mobilenet_v1", "--resolution", "96", "--budget", "latency_ms<=0.6", "--samples", "20"
    )
    assert out.returncode == 2 and "--latency-profile" in out.stderr
    out = run_main(
        "solve", "mobilenet_v1", "--resolution", "96", "--free", "width_mult", "--metric", "latency_ms",
        "--target", "0.5", "--latency-profile", "hand", "--format", "json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["achieved"] == pytest.approx(0.5, rel=0.05)


def test_calibrate_one_family_end_to_end() -> None:
    out = run_main(
        "latency", "calibrate", "--family", "mobilenet_v1", "--time-budget", "0.1", "--points", "4",
        "--max-flops", "2e6", "--name", "tiny", "--format", "json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["name"] == "tiny" and len(data["points"]) >= 4
    assert set(data["held_out"]) == {"mobilenet_v1", "all"} and data["held_out"]["all"]["n"] >= 1
    assert all(p["measured_ms"] > 0 for p in data["points"])
    shown = run_main("latency", "show", "tiny")
    assert shown.returncode == 0 and "spearman" in shown.stdout and "mobilenet_v1" in shown.stdout
    assert "tiny" in run_main("latency", "profiles").stdout
    cost = run_main(
        "cost", "mobilenet_v1", "--method", "analytic", "--latency-profile", "tiny", "--format", "json"
    )
    assert cost.returncode == 0, cost.stderr
    row = json.loads(cost.stdout)
    assert row["latency_ms_predicted"] > 0 and row["latency_band_ms"][0] <= row["latency_ms_predicted"]
    screened = run_main(
        "screen",
        "mobilenet_v1",
        "--budget",
        "latency_ms<=1000",
        "--latency-profile",
        "tiny",
        "--samples",
        "20",
    )
    assert screened.returncode == 0 and "20 of 20 feasible" in screened.stdout


def test_winner_latency_measured_beside_the_prediction(tmp_path) -> None:
    import pandas as pd

    from scalesearch.experiment import Evaluation, Experiment, SearchSpace
    from scalesearch.latency.winners import FILE, winner_line
    from scalesearch.space import Choice

    save_profile(_profile())
    exp = Experiment(
        "w",
        space=SearchSpace("mobilenet_v1", {"width_mult": Choice([0.25, 0.5])}),
        evaluation=Evaluation(latency_profile="hand"),
    )
    point = get_family("mobilenet_v1").point({"width_mult": 0.25, "resolution": 32, "num_classes": 10})
    results = pd.DataFrame(
        [{"state": "COMPLETE", "feasible": True, "accuracy": 0.5, "point": point, "family": "mobilenet_v1"}]
    )
    line = winner_line(exp, results, tmp_path)
    assert "measured on cpu" in line and "predicted" in line and "profile hand" in line
    record = json.loads((tmp_path / FILE).read_text())
    assert record["latency_ms_measured"] > 0 and record["authority"] == "latency_ms_measured"
    assert winner_line(exp, results.iloc[0:0], tmp_path) == ""


def test_trial_budget_screens_with_the_profile() -> None:
    from types import SimpleNamespace

    from scalesearch.experiment import Evaluation, Experiment, SearchSpace
    from scalesearch.search.trial import Evaluator, Rejected
    from scalesearch.space import Choice

    save_profile(_profile())
    space = SearchSpace("mobilenet_v1", {"width_mult": Choice([0.25, 1.0])})
    exp = Experiment(
        "t", space=space, budget="latency_ms<=0.2", evaluation=Evaluation(latency_profile="hand")
    )
    ev = Evaluator(exp, space, parse_budget(exp.budget), loaded={32: SimpleNamespace(num_classes=10)})
    prepared = ev.prepare({"width_mult": 0.25})
    assert prepared.record.latency and prepared.record.latency["predicted"]
    assert prepared.costs["latency_ms"] == pytest.approx(
        prepared.record.latency["latency_ms_predicted"], rel=1e-3
    )
    with pytest.raises(Rejected, match=r"latency_ms=\S+ \(predicted, ±8 % by profile hand\) breaks"):
        ev.prepare({"width_mult": 1.0})
