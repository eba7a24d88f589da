"""Error EDFs: KS equal to scipy's, complexity-matched reweighting, known orderings, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import ks_2samp

from scalesearch.analysis.edf import (
    bootstrap_band,
    edf_result,
    ks_statistic,
    matched_weights,
    trained_populations,
    weighted_edf,
)
from scalesearch.analysis.results import load_results
from scalesearch.errors import ScalesearchError
from tests.analysis.synthetic import record, write_run
from tests.helpers import run_main


@pytest.mark.parametrize("seed", range(5))
def test_ks_statistic_equals_scipys(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=40 + seed)
    b = np.round(rng.normal(0.3 * seed, 1.2, size=55), 1)  # rounded: ties inside and across samples
    assert ks_statistic(a, b) == pytest.approx(ks_2samp(a, b).statistic, abs=1e-12)


def test_unit_weights_give_the_plain_edf() -> None:
    values = np.array([3.0, 1.0, 2.0, 2.0])
    at = np.array([0.5, 1.0, 2.0, 2.5, 3.0])
    assert weighted_edf(values, None, at).tolist() == [0.0, 0.25, 0.75, 0.75, 1.0]


def _pops(shift: float, cx_a: np.ndarray, cx_b: np.ndarray, seed: int = 0) -> dict:
    """Error falls with log complexity identically in both populations; B is ``shift`` worse."""
    rng = np.random.default_rng(seed)

    def err(cx: np.ndarray) -> np.ndarray:
        return 40 - 3 * np.log(cx / 1e8) + rng.normal(0, 0.5, len(cx))

    return {"A": (err(cx_a), cx_a), "B": (err(cx_b) + shift, cx_b)}


def test_a_better_population_is_ahead_everywhere() -> None:
    rng = np.random.default_rng(1)
    cx = np.exp(rng.uniform(np.log(1e8), np.log(1e9), 300))
    result = edf_result(_pops(3.0, cx[:150], cx[150:]), n_boot=50)
    a, b = result.curves
    assert np.all(a.y >= b.y - 1e-12) and np.max(a.y - b.y) > 0.3
    assert a.summary["mean"] < b.summary["mean"] - 2
    assert result.rows()[1]["ks_vs_first"] == pytest.approx(result.ks[0]["ks"]) and result.ks[0]["ks"] > 0.3


def test_reweighting_removes_a_complexity_confound() -> None:
    """Same quality at equal complexity, but B sampled at larger complexity: plain EDFs call B
    better, matched EDFs do not."""
    rng = np.random.default_rng(2)
    cx_a = np.exp(rng.uniform(np.log(1e8), np.log(1e9), 400))
    cx_b = np.exp(rng.triangular(np.log(1e8), np.log(1e9), np.log(1e9), 400))
    pops = _pops(0.0, cx_a, cx_b)
    plain = edf_result(pops, reweight=False, n_boot=0)
    matched = edf_result(pops, reweight=True, bins=8, n_boot=0)
    assert plain.ks[0]["ks"] > 0.2 and matched.ks[0]["ks"] < 0.1
    gap = matched.curves[1].summary["mean"] - matched.curves[0].summary["mean"]
    assert abs(gap) < 0.5 < plain.curves[0].summary["mean"] - plain.curves[1].summary["mean"]


def test_matched_weights_put_equal_weight_in_every_shared_bin() -> None:
    a = np.array([1.0, 1.1, 1.2, 50.0])  # bins [1, 10) and [10, 100]
    b = np.array([1.0, 20.0, 30.0, 40.0, 100.0])
    wa, wb = matched_weights([a, b], bins=2)
    assert wa.sum() == pytest.approx(1) and wb.sum() == pytest.approx(1)
    assert wa.tolist() == pytest.approx([1 / 6, 1 / 6, 1 / 6, 1 / 2])
    assert wb.tolist() == pytest.approx([1 / 2, 1 / 8, 1 / 8, 1 / 8, 1 / 8])
    with pytest.raises(ScalesearchError, match="share no complexity range"):
        matched_weights([np.array([1.0, 1.1]), np.array([100.0, 110.0])], bins=4)


def test_bootstrap_band_brackets_the_curve() -> None:
    values = np.random.default_rng(3).normal(size=80)
    at = np.linspace(-2, 2, 21)
    low, high = bootstrap_band(values, np.full(80, 1 / 80), at, n_boot=100)
    y = weighted_edf(values, None, at)
    assert np.all(low <= y + 1e-12) and np.all(y <= high + 1e-12) and np.any(high - low > 0.05)


def _two_runs(tmp_path: Path) -> list[Path]:
    rng = np.random.default_rng(4)
    runs = []
    for k, (name, shift) in enumerate((("good", 0.0), ("bad", 4.0))):
        flops = np.exp(rng.uniform(np.log(2e8), np.log(2e9), 40))
        errs = 35 - 3 * np.log(flops / 2e8) + shift + rng.normal(0, 0.5, 40)
        recs = [
            record(i, name, float(f), 1 - e / 100, depth=i % 3)
            for i, (f, e) in enumerate(zip(flops, errs, strict=True))
        ]
        recs.append(record(40, name, 1e9, None))  # a failed trial is left out
        runs.append(write_run(tmp_path / f"run{k}", name, recs))
    return runs


def test_trained_populations_group_by_a_parameter(tmp_path: Path) -> None:
    df = load_results(_two_runs(tmp_path)[0])
    pops = trained_populations(df, by="depth")
    assert list(pops) == ["0", "1", "2"] and sum(len(v) for v, _ in pops.values()) == 40


def test_edf_command(tmp_path: Path) -> None:
    runs = [str(r) for r in _two_runs(tmp_path)]
    out = run_main("edf", *runs, "--bootstrap", "20", "--format", "json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert [p["population"] for p in data["populations"]] == ["good", "bad"] and data["reweighted"]
    assert data["ks"][0]["ks"] > 0.5 and data["populations"][0]["mean"] < data["populations"][1]["mean"]
    png = tmp_path / "edf.png"
    out = run_main("edf", *runs, "--bootstrap", "20", "--out", str(png))
    assert out.returncode == 0 and png.stat().st_size > 1000 and "KS(good, bad)" in out.stdout
    html = tmp_path / "edf.html"
    assert run_main("edf", *runs, "--bootstrap", "0", "--out", str(html)).returncode == 0
    assert "plotly" in html.read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--by", "nosuch"], "unknown grouping 'nosuch'; valid: run, family, stage, depth"),
        (["--complexity", "latency"], "unknown complexity column 'latency'"),
        (["--family", "wrn"], "not both"),
    ],
)
def test_edf_bad_input_is_one_line_and_no_file(tmp_path: Path, args: list[str], message: str) -> None:
    runs = [str(r) for r in _two_runs(tmp_path)]
    png = tmp_path / "edf.png"
    out = run_main("edf", *runs, *args, "--out", str(png))
    assert out.returncode == 2 and message in out.stderr and len(out.stderr.splitlines()) == 1
    assert not png.exists() and not list(tmp_path.glob(".edf.png*"))


def test_edf_of_a_missing_run_dir(tmp_path: Path) -> None:
    out = run_main("edf", str(tmp_path / "nope"))
    assert out.returncode == 2 and "does not exist" in out.stderr


def test_complexity_edf_from_screening(tmp_path: Path) -> None:
    out = run_main("edf", "--family", "wrn", "--samples", "30", "--bootstrap", "0", "--format", "json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    (pop,) = data["populations"]
    assert data["quantity"] == "flops" and pop["n"] == 30 and pop["p10"] <= pop["median"] <= pop["p90"]
