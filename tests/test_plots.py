"""Pareto figures (PNG, SVG) and the self-contained HTML plot, on a realistic EfficientNet search."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scalesearch.analysis.plots import (
    budget_lines_from,
    format_cost,
    pareto_figure,
    point_label,
    save_figure,
)
from scalesearch.analysis.plots_html import pareto_html, pareto_plotly
from scalesearch.atomic import write_atomic
from scalesearch.errors import ScalesearchError
from scalesearch.metrics import FLOP_CONVENTION

# torchvision EfficientNet B0-B7: fvcore FLOPs at their own resolutions, ImageNet top-1.
EFFICIENTNETS = [
    ("efficientnet_b0", 0.39e9, 0.7769),
    ("efficientnet_b1", 0.69e9, 0.7864),
    ("efficientnet_b2", 1.01e9, 0.8061),
    ("efficientnet_b3", 1.83e9, 0.8201),
    ("efficientnet_b4", 4.39e9, 0.8338),
    ("efficientnet_b5", 10.3e9, 0.8344),
    ("efficientnet_b6", 19.1e9, 0.8401),
    ("efficientnet_b7", 37.8e9, 0.8412),
]
FREE = ["phi", "alpha", "beta", "gamma"]


def search(seed: int = 0, n: int = 30, run: str = "grid") -> pd.DataFrame:
    """A compound-scaling search: some trials over a 4.2 GFLOP budget, some failed, some pruned."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        a, b, g = (float(rng.choice(v)) for v in ([1.0, 1.1, 1.2, 1.3], [1.0, 1.1, 1.2], [1.0, 1.15, 1.3]))
        phi = int(rng.integers(0, 4))
        flops = int(0.39e9 * (a * b * b * g * g) ** phi * rng.uniform(0.9, 1.1))
        acc = 0.70 + 0.05 * math.log(flops / 0.39e9) + rng.normal(0, 0.01)
        state, feasible, violations = "COMPLETE", True, ""
        if flops > 4.2e9:
            state, feasible, violations, acc = "PRUNED", False, "flops<=4.2e9: got 5.1e9", float("nan")
        elif i % 11 == 5:
            state, acc = "FAIL", float("nan")
        elif i % 9 == 4:
            state, acc = "PRUNED", acc - 0.05
        rows.append(
            {
                "run": run,
                "number": i,
                "state": state,
                "family": "efficientnet",
                "point": {"phi": phi, "alpha": a, "beta": b, "gamma": g, "dropout": 0.2},
                "params": int(5.3e6 * (a * b * b) ** phi),
                "flops": flops,
                "activations": flops // 60,
                "latency_ms": float("nan"),
                "feasible": feasible,
                "violations": violations,
                "accuracy": acc,
                "val_loss": 1 - acc,
                "duration_s": 60.0,
            }
        )
    return pd.DataFrame(rows)


def references(with_accuracy: bool) -> list[dict]:
    return [{"name": n, "x_value": f, "y_value": a if with_accuracy else None} for n, f, a in EFFICIENTNETS]


def script_sources(page: str) -> list[str]:
    """``src`` of every script tag (script bodies are not parsed as markup)."""
    from html.parser import HTMLParser

    found: list[str] = []

    class Scripts(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.extend(
                v or "" for k, v in attrs if tag in ("script", "link", "img") and k in ("src", "href")
            )

    Scripts().feed(page)
    return found


def label_boxes(fig) -> list:
    """Display boxes of the labels inside the axes, after a full draw."""
    from matplotlib.text import Text

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = []
    for text in fig.axes[0].texts:
        text.update_positions(renderer)
        boxes.append((text.get_text(), Text.get_window_extent(text, renderer)))
    return boxes


@pytest.fixture(scope="module")
def figure_two_runs():
    return pareto_figure(
        {"grid": search(0), "tpe": search(1, run="tpe")},
        references=references(True),
        budget_lines={"flops": 4.2e9, "params": 30e6},
        labels=FREE,
    )


def test_png_and_svg_written_with_labels(tmp_path: Path, figure_two_runs) -> None:
    png = save_figure(figure_two_runs, tmp_path / "front.png")
    svg = save_figure(figure_two_runs, tmp_path / "sub" / "front.svg")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = svg.read_text(encoding="utf-8")
    for name, _, _ in EFFICIENTNETS:
        assert name in text
    assert "1 multiply-add = 1 flop" in text and "accuracy (%)" in text and "FLOPs (billions)" in text
    assert "budget: flops ≤ 4.2G" in text and "params ≤ 30M" in text  # drawn line, and the other bound noted
    assert "grid: front" in text and "tpe: front" in text
    assert not list(tmp_path.rglob(".*.tmp"))


def test_labels_do_not_overlap_and_stay_inside(figure_two_runs) -> None:
    boxes = label_boxes(figure_two_runs)
    ax_box = figure_two_runs.axes[0].get_window_extent()
    assert len(boxes) >= 12
    assert any("α=" in t and "γ=" in t for t, _ in boxes)
    for i, (ta, a) in enumerate(boxes):
        assert ax_box.x0 <= a.x0 and a.x1 <= ax_box.x1 and ax_box.y0 <= a.y0 and a.y1 <= ax_box.y1, ta
        for tb, b in boxes[:i]:
            assert not a.overlaps(b), (ta, tb)


def test_cost_only_references_are_labelled_lines_and_axis_is_log_when_wide(tmp_path: Path) -> None:
    fig = pareto_figure(
        {"grid": search(0)}, references=references(False), budget_lines={"flops": 4.2e9}, labels=FREE
    )
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"  # 0.36 to 37.8 GFLOPs
    texts = [t for t, _ in label_boxes(fig)]
    assert {n for n, _, _ in EFFICIENTNETS} <= set(texts)
    assert "budget: flops ≤ 4.2G" in texts
    vertical = [line for line in ax.get_lines() if len(set(line.get_xdata())) == 1]
    assert len(vertical) == 8 + 1  # 8 references + 1 budget bound
    assert save_figure(fig, tmp_path / "lines.png").stat().st_size > 10_000


def test_linear_axis_on_request_and_other_columns() -> None:
    fig = pareto_figure({"grid": search(0)}, logx=False, references=references(False))
    assert fig.axes[0].get_xscale() == "linear"
    fig = pareto_figure(search(0), x="params", y="flops", budget_lines={"flops": 4.2e9})
    ax = fig.axes[0]
    assert ax.get_xlabel() == "parameters (millions)"
    assert ax.get_ylabel().startswith("FLOPs (billions)\n") and FLOP_CONVENTION in ax.get_ylabel()


def test_failed_and_over_budget_trials_are_drawn() -> None:
    df = search(0)
    fig = pareto_figure({"grid": df})
    drawn = sum(len(c.get_offsets()) for ax in fig.axes for c in ax.collections)
    assert drawn == len(df)  # every trial has flops: trained ones in place, the others in the strip below
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "over budget" in legend and "failed" in legend and "pruned (stopped early)" in legend


def test_bad_inputs() -> None:
    with pytest.raises(ScalesearchError, match="unknown column 'gflops'"):
        pareto_figure({"grid": search(0)}, x="gflops")
    with pytest.raises(ScalesearchError, match="nothing to plot"):
        pareto_figure({})
    with pytest.raises(ScalesearchError, match="name, x_value"):
        pareto_figure({"grid": search(0)}, references=[{"x_value": 1e9}])


def test_html_is_self_contained_with_hover(tmp_path: Path) -> None:
    path = pareto_html(
        {"grid": search(0), "tpe": search(1, run="tpe")},
        tmp_path / "front.html",
        references=references(False)[:4] + references(True)[4:],
        budget_lines={"flops": 4.2e9},
        labels=FREE,
    )
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<html>") or text.lstrip().lower().startswith("<!doctype") or "<html" in text[:200]
    assert script_sources(text) == []  # plotly.js inline, nothing fetched
    assert "Plotly.newPlot" in text
    assert len(text) > 1_000_000
    for name, _, _ in EFFICIENTNETS:
        assert name in text
    assert "trial #" in text and "flops=" in text and "alpha=" in text
    assert "fvcore: 1 multiply-add = 1 flop" in text


def test_plotly_figure_content() -> None:
    fig = pareto_plotly({"grid": search(0)}, references=references(False), budget_lines={"flops": 4.2e9})
    names = [t.name for t in fig.data]
    assert "grid: front" in names and any("over budget" in n for n in names)
    assert fig.layout.xaxis.type == "log"
    # annotations on a log axis take log10 of the value; shapes take the value itself
    b0 = next(a for a in fig.layout.annotations if a.text == "efficientnet_b0")
    assert b0.x == pytest.approx(math.log10(0.39))
    assert any(s.x0 == pytest.approx(0.39) for s in fig.layout.shapes)


def test_atomic_writes_leave_nothing_broken(tmp_path: Path, figure_two_runs, monkeypatch) -> None:
    target = tmp_path / "front.png"
    with pytest.raises(ScalesearchError, match=r"\.png, \.svg or \.pdf"):
        save_figure(figure_two_runs, tmp_path / "front.jpg")
    target.write_bytes(b"old")

    def broken(path, **kwargs):
        if hasattr(path, "write"):
            path.write(b"partial")
        else:
            Path(path).write_bytes(b"partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr(figure_two_runs, "savefig", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        save_figure(figure_two_runs, target)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["front.png"]
    with pytest.raises(ScalesearchError, match="empty file"):
        write_atomic(tmp_path / "empty.txt", "")
    assert not (tmp_path / "empty.txt").exists()


def test_helpers() -> None:
    assert budget_lines_from("flops<=4.2e9, params<=30e6") == {"flops": 4.2e9, "params": 30e6}
    # Relative bounds are resolved by parse_budget (the regex it replaced skipped them).
    lines = budget_lines_from("flops<=1.05*resnet50,latency_ms<12", resolve=lambda name, metric: 4.1e9)
    assert lines == {"flops": pytest.approx(1.05 * 4.1e9), "latency_ms": 12.0}
    assert budget_lines_from("params<=0.2M,flops>=1G") == {"params": 2e5}
    assert budget_lines_from("") == {} and budget_lines_from(None) == {}
    row = pd.Series({"point": {"alpha": 1.2, "beta": 1.1, "depths": [1, 2], "phi": None}, "width": 3})
    assert point_label(row, ["alpha", "beta", "depths", "phi", "width"]) == "α=1.2 β=1.1 depths=1,2 width=3"
    assert format_cost("flops", 4.2e9) == "4.2G" and format_cost("accuracy", 0.812) == "81.2%"
    assert format_cost("params", float("nan")) == "–"


def test_flop_convention_has_one_home() -> None:
    """plots, cost and the CLI share scalesearch.metrics' text (no copy to keep in step)."""
    from scalesearch import metrics
    from scalesearch.cost.record import CostRecord

    assert FLOP_CONVENTION is metrics.FLOP_CONVENTION
    assert CostRecord.__dataclass_fields__["flop_convention"].default is FLOP_CONVENTION


def test_logx_and_linearx_are_honoured() -> None:
    narrow = search(0, n=8)
    narrow = narrow[narrow["flops"] < 1.5e9]  # a span far below the 30x that switches to log by itself
    assert pareto_figure({"grid": narrow}).axes[0].get_xscale() == "linear"
    assert pareto_figure({"grid": narrow}, logx=True).axes[0].get_xscale() == "log"
    wide = pareto_figure({"grid": search(0)}, references=references(False))
    assert wide.axes[0].get_xscale() == "log"
    assert (
        pareto_figure({"grid": search(0)}, logx=False, references=references(False)).axes[0].get_xscale()
        == "linear"
    )
    assert pareto_plotly({"grid": narrow}, logx=True).layout.xaxis.type == "log"
    assert (
        pareto_plotly({"grid": search(0)}, logx=False, references=references(False)).layout.xaxis.type
        == "linear"
    )


def test_cli_logx_and_linearx_flags() -> None:
    import argparse

    from scalesearch.cli.plots import pareto_args

    p = argparse.ArgumentParser()
    pareto_args(p)
    assert p.parse_args(["RUN"]).logx is None  # auto
    assert p.parse_args(["RUN", "--logx"]).logx is True
    assert p.parse_args(["RUN", "--linearx"]).logx is False
    with pytest.raises(SystemExit):
        p.parse_args(["RUN", "--logx", "--linearx"])


def test_log_axis_tick_labels_are_plain_and_minor_ticks_unlabelled() -> None:
    from matplotlib.ticker import NullFormatter

    fig = pareto_figure({"grid": search(0)}, references=references(False))
    ax = fig.axes[0]
    fig.canvas.draw()
    assert isinstance(ax.xaxis.get_minor_formatter(), NullFormatter)
    labels = [t.get_text() for t in fig.axes[-1].get_xticklabels() if t.get_text()]
    assert labels and all("e" not in t and "×" not in t and "$" not in t for t in labels), labels


def test_trials_without_a_y_value_sit_in_a_labelled_strip_not_on_the_plot() -> None:
    df = search(0)
    fig = pareto_figure({"grid": df})
    main, strip = fig.axes[0], fig.axes[1]
    on_plot = sum(len(c.get_offsets()) for c in main.collections)
    assert on_plot == int(df["accuracy"].notna().sum())  # no failed trial drawn at a fake accuracy
    assert [t.get_text() for t in strip.get_yticklabels()] == ["no accuracy"]
    assert sum(len(c.get_offsets()) for c in strip.collections) == int(df["accuracy"].isna().sum())
    assert pareto_figure({"grid": df[df["accuracy"].notna()]}).axes[0] is not None
    assert (
        len(pareto_figure({"grid": df[df["accuracy"].notna()]}).axes) == 1
    )  # no strip when nothing goes there


def test_legend_markers_match_the_drawn_colours() -> None:
    from matplotlib.colors import to_rgba

    fig = pareto_figure({"grid": search(0)})
    handles = {
        t.get_text(): h
        for t, h in zip(fig.legends[0].get_texts(), fig.legends[0].legend_handles, strict=True)
    }
    dominated = next(c for c in fig.axes[0].collections if c.get_alpha() == 0.45)
    drawn = tuple(dominated.get_facecolor()[0][:3])
    assert to_rgba(handles["dominated"].get_color())[:3] == pytest.approx(drawn)
    assert handles["dominated"].get_alpha() == dominated.get_alpha()


def test_html_labels_turn_inwards_and_references_stay_above_the_plot() -> None:
    trained = search(0)[lambda d: d["accuracy"].notna()]
    front = next(t for t in pareto_plotly({"grid": trained}, labels=FREE).data if t.name == "grid: front")
    assert front.cliponaxis is False
    assert front.textposition[-1].endswith("left") and front.textposition[0].endswith("right")  # inwards
    fig = pareto_plotly({"grid": search(0)}, references=references(False), labels=FREE)
    refs = [a for a in fig.layout.annotations if a.text.startswith("efficientnet_b")]
    assert len(refs) == 8 and all(a.yref == "paper" and a.y == 1.0 and a.yanchor == "bottom" for a in refs)
    strip = [t for t in fig.data if "(no accuracy)" in (t.name or "")]
    assert strip and all(t.yaxis == "y2" for t in strip)


def test_a_figure_is_rendered_before_any_file_is_created(
    tmp_path: Path, figure_two_runs, monkeypatch
) -> None:
    """A process killed while rendering (the long part) must leave no hidden .NAME.XXXX.tmp behind."""
    seen: list[list[str]] = []
    real = figure_two_runs.savefig

    def spy(*args, **kwargs):
        seen.append(sorted(p.name for p in tmp_path.iterdir()))
        return real(*args, **kwargs)

    monkeypatch.setattr(figure_two_runs, "savefig", spy)
    save_figure(figure_two_runs, tmp_path / "front.png")
    assert seen == [[]]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["front.png"]
