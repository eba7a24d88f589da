"""The experiment report: one self-contained HTML page with every section and an embedded plot."""

from __future__ import annotations

import ast
import base64
import math
import re
from html import unescape
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scalesearch.analysis.report import build_snippet, render_report

META = {
    "name": "effnet-compound",
    "family": "efficientnet",
    "free": ["phi", "alpha", "beta"],
    "budget": "flops<=4.2e9,params<=30e6",
    "resolution": 224,
    "objectives": {"accuracy": "maximize"},
}
REFS = [
    {"name": "efficientnet_b0", "x_value": 0.39e9, "y_value": None},
    {"name": "efficientnet_b3", "x_value": 1.83e9, "y_value": None},
    {"name": "efficientnet_b7", "x_value": 37.8e9, "y_value": None},
]


def results(n: int = 24) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    rows = []
    for i in range(n):
        phi, a, b = int(rng.integers(0, 4)), float(rng.choice([1.0, 1.2])), float(rng.choice([1.0, 1.2]))
        flops = int(0.39e9 * (a * b * b * 1.15**2) ** phi)
        acc = 0.7 + 0.04 * math.log(flops / 0.39e9) + rng.normal(0, 0.01)
        state, feasible = "COMPLETE", True
        if flops > 4.2e9:
            state, feasible, acc = "PRUNED", False, float("nan")
        elif i % 7 == 3:
            state, acc = "FAIL", float("nan")
        rows.append(
            {
                "run": "effnet-compound",
                "number": i,
                "state": state,
                "family": "efficientnet",
                "point": {"phi": phi, "alpha": a, "beta": b, "gamma": 1.15},
                "params": int(5.3e6 * (a * b * b) ** phi),
                "flops": flops,
                "activations": flops // 60,
                "latency_ms": float("nan"),
                "feasible": feasible,
                "violations": "" if feasible else "flops<=4.2e9",
                "accuracy": acc,
                "val_loss": 1 - acc,
                "duration_s": 30.0,
            }
        )
    return pd.DataFrame(rows)


def trials_table(page: str) -> pd.DataFrame:
    """The trials table of the page (pandas.read_html would need lxml)."""
    from html.parser import HTMLParser

    rows: list[list[str]] = []

    class Cells(HTMLParser):
        on = False

        def handle_starttag(self, tag, attrs):
            if tag == "table" and "trials" in (dict(attrs).get("class") or ""):
                self.on = True
            elif self.on and tag == "tr":
                rows.append([])
            elif self.on and tag in ("td", "th"):
                rows[-1].append("")

        def handle_endtag(self, tag):
            if tag == "table":
                self.on = False

        def handle_data(self, data):
            if self.on and rows and rows[-1]:
                rows[-1][-1] += data.strip()

    Cells().feed(page)
    frame = pd.DataFrame(rows[1:], columns=rows[0])
    return frame.assign(number=frame["number"].astype(int))


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[str, pd.DataFrame]:
    df = results()
    calls = []

    def landscape() -> dict:
        calls.append(1)
        return {"screened": 1000, "feasible": 312}

    path = render_report(
        df,
        META,
        REFS,
        tmp_path_factory.mktemp("r") / "report.html",
        budget_check=lambda row: row["params"] <= 30e6,
        landscape=landscape,
    )
    assert calls == [1]
    return path.read_text(encoding="utf-8"), df


def test_sections_present(report) -> None:
    page, _ = report
    for section in (
        "Summary",
        "Best point under the budget",
        "Pareto front",
        "Canonical networks",
        "Cost landscape",
        "Trials (best accuracy first)",
    ):
        assert f"<h2>{section}</h2>" in page
    assert page.startswith("<!DOCTYPE html>") and "<meta charset='utf-8'>" in page


def test_summary(report) -> None:
    page, df = report
    counts = df["state"].value_counts()
    assert "effnet-compound" in page and "phi, alpha, beta" in page
    assert "flops&lt;=4.2e9,params&lt;=30e6" in page
    assert f"COMPLETE: {counts['COMPLETE']}" in page and f"FAIL: {counts['FAIL']}" in page
    assert f"over budget (rejected before training): {int((~df['feasible']).sum())}" in page
    assert "fvcore: 1 multiply-add = 1 flop" in page


def test_embedded_png(report) -> None:
    page, _ = report
    match = re.search(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)
    assert match
    assert base64.b64decode(match.group(1))[:8] == b"\x89PNG\r\n\x1a\n"
    assert not re.search(r"(src|href)=['\"]https?:", page)  # nothing fetched from elsewhere


def test_best_point_and_snippet(report) -> None:
    page, df = report
    ok = df[(df["state"] == "COMPLETE") & df["feasible"]]
    best = ok.loc[ok["accuracy"].idxmax()]
    assert f"#{best['number']} of run effnet-compound" in page
    code = unescape(re.search(r"<pre><code>(.*?)</code></pre>", page, re.S).group(1))
    assert 'get_family("efficientnet").build(' in code
    tree = ast.parse(code)  # valid Python
    call = tree.body[-1].value
    assert ast.literal_eval(call.args[0]) == best["point"]
    assert "Runner-up on the front" in page


def test_landscape_and_references(report) -> None:
    page, _ = report
    assert "1,000" in page and "312" in page and "31.2%" in page
    for ref in REFS:
        assert ref["name"] in page


def test_trials_sorted_best_first(report) -> None:
    page, df = report
    table = trials_table(page)
    expected = df.sort_values("accuracy", ascending=False, na_position="last", kind="stable")["number"]
    assert (
        list(table["number"])[: df["accuracy"].notna().sum()]
        == list(expected)[: df["accuracy"].notna().sum()]
    )
    assert {"status", "phi", "alpha", "beta", "accuracy", "flops", "params"} <= set(table.columns)
    assert "front" in set(table["status"]) and "over budget" in set(table["status"])


def test_no_trial_meets_budget_and_no_landscape(tmp_path: Path) -> None:
    path = render_report(results(), META, [], tmp_path / "r.html", budget_check=lambda row: False)
    page = path.read_text(encoding="utf-8")
    assert "no trial meets the budget" in page
    assert "Not computed for this report" in page and "No canonical networks were given" in page
    assert "data:image/png;base64," in page


def test_nothing_trained_still_reports(tmp_path: Path) -> None:
    df = results().assign(state="FAIL", accuracy=float("nan"))
    page = render_report(df, META, REFS, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "no complete, feasible trial has a value for &#x27;accuracy&#x27;" in page
    assert "<h2>Pareto front</h2>" in page


def test_snippet_for_lists_and_long_points() -> None:
    point = {
        "depths": [1, 2, 3],
        "width_mult": 1.25,
        "se": True,
        "block": "mbconv",
        "stem": None,
        "channels": [16, 24, 40, 80, 112, 192, 320],
    }
    code = build_snippet("mbconv", point)
    assert ast.literal_eval(ast.parse(code).body[-1].value.args[0]) == point
    assert code.count("\n") > 4  # long points go one key per line


def _staged() -> pd.DataFrame:
    """A derived, staged run as the main job writes it: searched alpha/beta/gamma, then phi; numbers restart."""
    rows = []
    grid = [(1.2, 1.1, 1.15), (1.3, 1.0, 1.1), (1.1, 1.2, 1.05)]
    for i, (a, b, g) in enumerate(grid):
        rows.append(
            {
                "stage": "grid",
                "number": i,
                "values": {"alpha": a, "beta": b, "gamma": g},
                "point": {"width_mult": 0.5 * b, "depth_mult": 0.5 * a, "resolution": 32},
                "accuracy": 0.90 + 0.01 * i,
                "params": 2e5 + 1e4 * i,
                "flops": 8.95e6 + 1e5 * i,
            }
        )
    rows.append(
        {
            "stage": "scale",
            "number": 0,
            "values": {"phi": 1},
            "accuracy": 0.95,
            "params": 3e5,
            "point": {"width_mult": 0.6050000000000001, "depth_mult": 0.55, "resolution": 35},
            "flops": 1.2e7,
        }
    )
    rows.append(
        {
            "stage": "scale",
            "number": 1,
            "values": {"phi": 2},
            "accuracy": float("nan"),
            "params": 4e5,
            "point": {"width_mult": 0.7, "depth_mult": 0.6, "resolution": 38},
            "flops": 1.5e7,
            "state": "FAIL",
            "error": "Traceback ...\nRuntimeError: CUDA out of memory",
        }
    )
    df = pd.DataFrame(rows)
    df["state"] = df["state"].fillna("COMPLETE") if "state" in df else "COMPLETE"
    return df.assign(
        run="efficientnet_grid",
        family="efficientnet",
        feasible=True,
        violations="",
        activations=1e5,
        latency_ms=float("nan"),
    )


STAGED_META = {
    "name": "efficientnet_grid",
    "family": "efficientnet",
    "free": ["alpha", "beta", "gamma", "phi"],
    "budget": "params<=0.5M",
    "objectives": {"accuracy": "maximize"},
}


def test_staged_run_shows_stage_searched_values_and_failure_reasons(tmp_path: Path) -> None:
    page = render_report(_staged(), STAGED_META, [], tmp_path / "r.html", x="params").read_text("utf-8")
    table = trials_table(page)
    assert {"stage", "alpha", "beta", "gamma", "phi", "reason"} <= set(table.columns)
    ids = list(zip(table["stage"], table["number"], strict=True))
    assert len(set(ids)) == len(ids) == 5  # numbers repeat across stages; stage + number does not
    grid_row = table[(table["stage"] == "grid") & (table["number"] == 0)].iloc[0]
    assert (grid_row["alpha"], grid_row["beta"], grid_row["gamma"]) == ("1.2", "1.1", "1.15")
    failed = table[table["state"] == "FAIL"].iloc[0]
    assert failed["reason"] == "RuntimeError: CUDA out of memory"
    assert "0.6050000000000001" not in page and "0.605" in page  # build values rounded
    assert "scale #0" in page and "phi=1" in page  # best trial named with its stage and searched values
    assert "200K" in page and "8.95M" in page and "e+0" not in page  # one number style


@pytest.mark.parametrize(
    ("budget", "drawn"),
    [("params<=0.5M", "budget: params ≤ 500K"), ("params<=3*efficientnet_b0", "budget: params ≤ 15.9M")],
)
def test_report_draws_suffixed_and_relative_budgets(tmp_path: Path, budget: str, drawn: str) -> None:
    """The regex the report used skipped K/M/G suffixes and relative bounds: no line was drawn."""
    meta = {**STAGED_META, "budget": budget}
    page = render_report(_staged(), meta, [], tmp_path / "r.html", x="params").read_text("utf-8")
    assert drawn in page


def test_landscape_screens_every_family_of_the_run() -> None:
    from scalesearch.analysis.landscape import run_landscape
    from scalesearch.verdict.budget import parse_budget

    df = pd.DataFrame(
        [
            {
                "family": "wrn",
                "values": {"widen_factor": w},
                "point": {"depth": 10, "widen_factor": w, "resolution": 16},
                "params": 1e5 * w,
                "flops": 1e7 * w,
            }
            for w in (1, 2)
        ]
        + [
            {
                "family": "mbconv",
                "values": {"width_mult": m},
                "point": {"width_mult": m, "resolution": 32},
                "params": 1e5,
                "flops": 1e7,
            }
            for m in (0.25, 0.5)
        ]
    )
    meta = {"family": "wrn", "families": ["wrn", "mbconv"]}
    land = run_landscape(meta, df, parse_budget("params<=1M"), samples=10)
    assert land is not None and land["screened"] == 20  # 10 sampled in each family's tried values
    assert (
        land["space"].startswith("wrn: widen_factor ∈ {1, 2}")
        and "; mbconv: width_mult ∈ {0.25, 0.5}" in land["space"]
    )
    derived = _staged()
    land = run_landscape(STAGED_META, derived, parse_budget("params<=0.35M"), samples=10)
    assert land is not None and (land["screened"], land["feasible"]) == (5, 4)
    assert "distinct networks this run costed" in land["space"]
