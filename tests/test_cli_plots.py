"""`scalesearch pareto` and `scalesearch report` on a real finished run, and their bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import cli, tiny_experiment


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("plots")
    exp = tiny_experiment(tmp / "tiny.py", budget="params<=0.2M", batches=2)
    out = cli("run", str(exp), "--out", str(tmp / "run"))
    assert out.returncode == 0, out.stderr
    return tmp / "run"


def test_pareto_png_svg_html(run_dir, tmp_path):
    for name in ("front.png", "front.svg", "front.html"):
        out = cli(
            "pareto", str(run_dir), "--x", "params", "--budget", "params<=0.2M", "--out", str(tmp_path / name)
        )
        assert out.returncode == 0, out.stderr
        assert (tmp_path / name).stat().st_size > 1000
    svg = (tmp_path / "front.svg").read_text()
    assert "wrn_28_10" in svg and "parameters" in svg  # canonical networks drawn in, axis with units
    assert "widen_factor" in (tmp_path / "front.html").read_text()  # hover text carries the point


def test_report_is_one_self_contained_page(run_dir, tmp_path):
    out = cli("report", str(run_dir), "--out", str(tmp_path / "r.html"), "--samples", "200")
    assert out.returncode == 0, out.stderr
    html = (tmp_path / "r.html").read_text()
    assert "data:image/png;base64," in html and 'get_family("wrn").build(' in html
    assert "params&lt;=0.2M" in html  # the run's own budget, named in the summary
    # ... and drawn: the K/M/G-suffixed bound was dropped by the report's old budget regex.
    assert "params ≤ 200K" in html
    out = cli("report", str(run_dir), "--x", "params", "--out", str(tmp_path / "p.html"), "--samples", "50")
    assert out.returncode == 0, out.stderr
    html = (tmp_path / "p.html").read_text()
    assert "budget: params ≤ 200K" in html
    assert "widen_factor ∈ {1, 2}" in html  # the landscape screens the run's own space, not the defaults


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["pareto", "/nonexistent/run"], "does not exist"),
        (["pareto", "RUN", "--x", "speed"], "unknown column 'speed'"),
        (["pareto", "RUN", "--budget", "params<=10"], "no trial meets the budget"),
        (["pareto", "RUN", "--out", "OUT.gif"], "must end in .png, .svg or .html"),
        (["report", "RUN", "--x", "accuracy"], "unknown column"),
    ],
)
def test_bad_input_writes_nothing(run_dir, tmp_path, args, message):
    target = tmp_path / "front.png"
    args = [
        str(run_dir) if a == "RUN" else str(tmp_path / "front.gif") if a == "OUT.gif" else a for a in args
    ]
    out = cli(*args, *([] if "--out" in args else ["--out", str(target)]))
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_a_run_with_no_finished_trial_is_refused(tmp_path):
    exp = tiny_experiment(tmp_path / "tiny.py")
    out = cli("run", str(exp), "--out", str(tmp_path / "run"), "--set", "lr=1e9", "--trials", "1")
    assert out.returncode == 0
    out = cli("pareto", str(tmp_path / "run"), "--out", str(tmp_path / "p.png"))
    assert out.returncode == 2 and "no finished trials" in out.stderr
    assert not (tmp_path / "p.png").exists()
