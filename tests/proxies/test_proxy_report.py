"""The proxy table where users look (issue 14, section 6): ``scalesearch proxies RUN_DIR`` saves it to
RUN_DIR/proxies.json only once every network is scored, and the report shows it (or says how to fill
it in, or that it is stale) without scoring anything itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib
import pytest

from scalesearch.analysis.report import render_report
from scalesearch.analysis.results import load_results, load_run_meta
from scalesearch.analysis.science_report import science_sections
from scalesearch.errors import ScalesearchError
from scalesearch.formatting import MISSING
from scalesearch.proxies import BASELINES
from scalesearch.proxies.saved import SAVED, save_report
from tests.helpers import run_main
from tests.proxies.test_proxies import write_run

matplotlib.use("Agg")

TITLE = "Zero-cost proxies"


def sections(run: Path) -> dict[str, str]:
    return dict(science_sections(load_results(run), load_run_meta(run)))


def fake_report(numbers: range) -> dict[str, Any]:
    """A saved table covering the trials ``numbers`` of the fake run (no network scored)."""
    rows = [
        {"score": s, "kind": k, "n": len(numbers), "spearman": r, "kendall": r, "top10_precision": 1.0}
        for s, k, r in (("synflow", "proxy", 0.9), ("naswot", "proxy", float("nan")))
    ] + [
        {
            "score": b,
            "kind": "baseline",
            "n": len(numbers),
            "spearman": 0.5,
            "kendall": 0.4,
            "top10_precision": 0.0,
        }
        for b in BASELINES
    ]
    points = [{"stage": "search", "number": i, "accuracy": 0.5} for i in numbers]
    return {"run": "fake", "trained": len(numbers), "dataset": "digits", "batch_size": 8, "seed": 0,
            "correlations": rows, "points": points}  # fmt: skip


def test_proxies_command_saves_the_table_and_the_report_shows_it(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", [0.5, 0.7, 0.6, 0.4])
    out = run_main("proxies", str(run), "--batch-size", "8", "--proxies", "synflow,naswot")
    assert out.returncode == 0, out.stderr
    assert f"wrote {run / SAVED}" in out.stdout
    saved = json.loads((run / SAVED).read_text())
    assert saved["trained"] == 4 and [r["score"] for r in saved["correlations"]][-3:] == list(BASELINES)
    page = render_report(load_results(run), load_run_meta(run), out_path=tmp_path / "r.html").read_text()
    section = page[page.index(f"<h2>{TITLE}</h2>") : page.index("<h2>Trials")]
    assert all(f"<td>{s}</td>" in section for s in ("synflow", "naswot", *BASELINES))
    assert "Best baseline:" in section and "4 trained networks" in section
    assert "Stale" not in section and "NaN" not in section


def test_a_run_without_the_file_gets_one_line_and_a_small_run_nothing(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", [0.5, 0.7, 0.6])
    html = sections(run)[TITLE]
    assert html.count("<p") == 1 and f"<code>scalesearch proxies {run}</code>" in html
    assert TITLE not in sections(write_run(tmp_path / "small", [0.5, 0.6]))
    assert not (run / SAVED).exists()  # the report scores nothing and writes nothing


def test_a_table_missing_trained_trials_is_called_stale(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", [0.5, 0.7, 0.6, 0.4, 0.3])
    save_report(run, fake_report(range(5)))
    fresh = sections(run)[TITLE]
    assert "Stale" not in fresh and "<td>synflow</td><td>proxy</td><td>5</td><td>0.900</td>" in fresh
    assert "proxies above it: synflow" in fresh
    assert f"<td>{MISSING}</td>" in fresh  # naswot's NaN, shown as missing
    save_report(run, fake_report(range(3)))
    stale = sections(run)[TITLE]
    assert "Stale: the run has 2 trained trial(s) this table does not cover" in stale


def test_an_unreadable_file_is_one_note(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", [0.5, 0.7, 0.6])
    (run / SAVED).write_text("{not json")
    html = sections(run)[TITLE]
    assert html.count("<p") == 1 and "unreadable" in html and "rerun" in html


def test_an_error_while_scoring_leaves_the_old_file_and_no_partial_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import scalesearch.proxies.evaluate as evaluate

    run = write_run(tmp_path / "run", [0.5, 0.7, 0.6, 0.4])
    (run / SAVED).write_text("old")
    calls = []

    def failing(*args: Any) -> dict[str, float]:
        calls.append(args)
        if len(calls) == 3:
            raise ScalesearchError("the third network failed")
        return {"synflow": 1.0}

    monkeypatch.setattr(evaluate, "score_row", failing)
    out = run_main("proxies", str(run), "--proxies", "synflow")
    assert out.returncode == 2 and "the third network failed" in out.stderr
    assert (run / SAVED).read_text() == "old" and sorted(p.name for p in run.iterdir()) == [
        "proxies.json",
        "run.json",
        "trials.jsonl",
    ]
    too_few = write_run(tmp_path / "few", [0.5, 0.6])
    assert run_main("proxies", str(too_few)).returncode == 2 and not (too_few / SAVED).exists()
