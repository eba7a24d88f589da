"""The report gains its EDF and scaling-law sections only when the run has enough trained points."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np

from scalesearch.analysis.report import render_report
from scalesearch.analysis.results import load_results, load_run_meta
from scalesearch.analysis.science_report import science_sections
from tests.analysis.synthetic import law_population, record, write_run

matplotlib.use("Agg")


def test_report_shows_edfs_and_fits_of_a_run_with_enough_points(tmp_path: Path) -> None:
    flops = np.geomspace(2e8, 4e9, 6)
    recs = law_population("wrn", flops, 20, 5, 0.5, noise=0.05) + law_population("mbconv", flops, 18, 8, 0.6)
    for i, r in enumerate(recs):
        r["number"] = i
    run = write_run(tmp_path / "run", "laws", recs)
    out = render_report(load_results(run), load_run_meta(run), out_path=tmp_path / "report.html")
    html = out.read_text()
    assert "<h2>Error EDFs</h2>" in html and "<h2>Scaling-law fit</h2>" in html
    assert "KS vs first" in html and html.count("data:image/png;base64") == 3
    assert html.index("Error EDFs") < html.index("Trials (best")


def test_a_small_run_keeps_its_report_as_before(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", "small", [record(i, "wrn", 1e9 * (1 + i), 0.5) for i in range(3)])
    assert science_sections(load_results(run)) == []
