"""Scaling-law fits: pycls's published RegNetX errors extrapolated, flags, intervals, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from scalesearch.analysis.fits import MIN_POINTS, fit_family, fit_law, front_points
from tests.analysis.pycls_model_zoo import REGNETX
from tests.analysis.synthetic import law_population, record, write_run
from tests.helpers import run_main

FLOPS = np.array([g for _, g, _ in REGNETX]) * 1e9
ERROR = np.array([e for _, _, e in REGNETX])


def test_regnetx_six_smallest_predict_the_six_largest() -> None:
    """Fit on 200MF..3.2GF, predict 4GF..32GF: mean absolute error under 0.3 points (it is ~0.06)."""
    fit = fit_family("RegNetX", "flops", FLOPS[:6], ERROR[:6], targets=list(FLOPS[6:]), n_boot=100)
    assert fit.flag is None and fit.r2 > 0.99
    predicted = np.array([p["predicted"] for p in fit.predictions])
    assert np.abs(predicted - ERROR[6:]).mean() < 0.3
    assert fit.law is not None and 17 < fit.law.a < 20 and 0.3 < fit.law.c < 0.7
    for p, actual in zip(fit.predictions, ERROR[6:], strict=True):
        assert p["low"] <= p["predicted"] <= p["high"] and p["low"] <= actual <= p["high"]


def test_a_noise_free_law_is_recovered() -> None:
    x = np.geomspace(1e8, 1e10, 8)
    law = fit_law(x, 15 + 6 * (x / 1e9) ** -0.4, unit=1e9, grid=400)
    assert (law.a, law.b, law.c) == pytest.approx((15, 6, 0.4), rel=2e-3)


def test_too_few_points_are_flagged_not_extrapolated() -> None:
    fit = fit_family("f", "flops", FLOPS[:3], ERROR[:3], targets=[8e9])
    assert fit.law is None and fit.predictions == [] and f"a fit needs {MIN_POINTS}" in (fit.flag or "")


def test_error_rising_with_complexity_is_flagged_non_monotone() -> None:
    fit = fit_family("f", "flops", FLOPS[:6], ERROR[:6][::-1], targets=[8e9])
    assert fit.flag is not None and fit.flag.startswith("non-monotone") and fit.predictions == []


def test_scatter_is_flagged_as_a_poor_fit() -> None:
    x = np.geomspace(1e8, 1e10, 12)
    y = 25 - 0.3 * np.log(x / 1e8) + np.array([3, -3, 2, -2, 3, -3, 2, -2, 3, -3, 2, -2.0])
    fit = fit_family("f", "flops", x, y, targets=[2e10])
    assert fit.flag is not None and fit.flag.startswith("poor fit (R² =") and fit.predictions == []


def test_front_points_keep_the_lower_left_front() -> None:
    x = np.array([1, 2, 2, 3, 4.0])
    y = np.array([30, 25, 27, 26, 20.0])
    assert front_points(x, y).tolist() == [0, 1, 4]


def _law_run(tmp_path: Path) -> Path:
    flops = np.geomspace(2e8, 4e9, 8)
    recs = law_population("wrn", flops, 20, 5, 0.5, noise=0.1, seed=1)
    recs += law_population("mbconv", flops, 18, 8, 0.6, noise=0.1, seed=2)
    recs += [record(99, "tiny", 1e9, 0.7), record(98, "tiny", 2e9, 0.75)]  # too few: flagged
    for i, r in enumerate(recs):
        r["number"] = i
    return write_run(tmp_path / "run", "laws", recs)


def test_fit_command(tmp_path: Path) -> None:
    run = str(_law_run(tmp_path))
    data = json.loads(
        run_main("fit", run, "--target", "flops=8G", "--bootstrap", "50", "--format", "json").stdout
    )
    fits = {f["family"]: f for f in data["fits"]}
    assert fits["tiny"]["status"].startswith("too few points") and fits["tiny"]["predictions"] == []
    (p,) = fits["wrn"]["predictions"]
    assert p["target"] == 8e9 and p["low"] <= p["predicted"] <= p["high"]
    assert p["predicted"] == pytest.approx(20 + 5 * 8**-0.5, abs=0.3)
    png = tmp_path / "fit.png"
    out = run_main("fit", run, "--target", "8G", "--target", "16G", "--bootstrap", "20", "--out", str(png))
    assert out.returncode == 0, out.stderr
    assert png.stat().st_size > 1000 and "16G" in out.stdout and "too few points" in out.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--complexity", "depth"], "unknown complexity column 'depth'; valid: flops, params"),
        (["--target", "params=8M"], "the fit is on flops, so write flops=VALUE"),
        (["--target", "flops=lots"], "'lots' is not a number"),
        (["--by", "colour"], "unknown grouping column 'colour'"),
    ],
)
def test_fit_bad_input_is_one_line_and_no_file(tmp_path: Path, args: list[str], message: str) -> None:
    png = tmp_path / "fit.png"
    out = run_main("fit", str(_law_run(tmp_path)), *args, "--out", str(png))
    assert out.returncode == 2 and message in out.stderr and len(out.stderr.splitlines()) == 1
    assert not png.exists()


def test_a_run_with_too_few_points_to_fit(tmp_path: Path) -> None:
    run = write_run(
        tmp_path / "run", "small", [record(i, "wrn", 1e9 * (i + 1), 0.5 + 0.1 * i) for i in range(3)]
    )
    png = tmp_path / "fit.png"
    out = run_main("fit", str(run), "--out", str(png))
    assert (
        out.returncode == 2 and "too few points to fit a scaling law" in out.stderr and "wrn: 3" in out.stderr
    )
    assert not png.exists()
