"""Zero-cost proxies (issue 14, section 4): each finite and deterministic on a tiny network, NASWOT and
synflow behave as their definitions say, the correlation table beside its baselines on a fake run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from scipy import stats
from torch import nn

from scalesearch.proxies import BASELINES, PROXIES
from scalesearch.proxies.evaluate import top_precision
from scalesearch.proxies.scores import naswot, scores, synflow
from tests.helpers import main_json, run_main


def tiny_net(seed: int = 0, width: int = 8) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1),
        nn.BatchNorm2d(width),
        nn.ReLU(inplace=True),
        nn.Conv2d(width, width, 3, padding=1),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(width, 10),
    )


def batch(n: int = 8, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g)


def test_each_proxy_is_finite_deterministic_and_leaves_the_model_alone():
    model, (x, y) = tiny_net(), batch()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    first = scores(model, x, y)
    assert list(first) == list(PROXIES)
    assert all(math.isfinite(v) for v in first.values()), first
    assert scores(model, x, y) == first
    assert scores(tiny_net(), x, y) == first  # the same seed builds the same network
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert model.training  # its mode too


def test_naswot_ranks_identical_activation_codes_below_diverse_ones():
    model, (x, _) = tiny_net(), batch()
    same = x[:1].repeat(8, 1, 1, 1)  # every image the same: every code the same, K_H singular
    assert naswot(model, same, torch.zeros(8, dtype=torch.long)) < naswot(
        model, x, torch.zeros(8, dtype=torch.long)
    )
    two_alike = torch.cat([x[:4], x[:4]])  # half the codes repeated
    assert naswot(model, two_alike, torch.zeros(8, dtype=torch.long)) < naswot(
        model, x, torch.zeros(8, dtype=torch.long)
    )


class Functional(nn.Module):
    """Activations called as functions (as Inception's BasicConv2d does), not as modules."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv, self.fc = nn.Conv2d(3, 8, 3), nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.nn.functional.relu(self.conv(x), inplace=True).mean((2, 3)))


def test_naswot_sees_functional_activations_and_needs_some():
    x, y = batch()
    assert math.isfinite(naswot(Functional(), x, y))
    linear = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 10))
    assert math.isnan(scores(linear, x, y, ["naswot"])["naswot"])


def test_synflow_does_not_depend_on_the_batch():
    model = tiny_net()
    x1, y1 = batch(8, seed=1)
    x2, y2 = batch(16, seed=2)
    assert synflow(model, x1, y1) == synflow(model, x2 * 100, y2)
    assert synflow(tiny_net(width=16), x1, y1) > synflow(model, x1, y1)  # more paths, more flow


def test_top_precision():
    acc = [0.1 * i for i in range(20)]  # top 10 %: the last two
    assert top_precision(acc, acc) == 1.0
    assert top_precision([-a for a in acc], acc) == 0.0
    assert top_precision([0, 0, *([0] * 16), 1, math.nan], acc) == 0.5  # NaN ranks last


def write_run(path: Path, accuracies: list[float]) -> Path:
    """A Ray-layout run of real WRN points (the proxies rebuild them) with made-up accuracies."""
    path.mkdir(parents=True)
    meta = {
        "name": "fake",
        "backend": "ray",
        "storage": "",
        "studies": [],
        "objectives": {"accuracy": "maximize"},
        "evaluation": {"dataset": "digits", "resolution": 16, "seed": 0},
    }
    (path / "run.json").write_text(json.dumps(meta))
    lines = []
    for i, acc in enumerate(accuracies):
        point = {
            "depth": 10,
            "widen_factor": 1 + i % 3,
            "dropout": 0.1 * (i // 3),
            "resolution": 16,
            "num_classes": 10,
        }
        record = {
            "stage": "search",
            "number": i,
            "state": "COMPLETE",
            "values": {"widen_factor": point["widen_factor"]},
            "point": point,
            "family": "wrn",
            "params": 1000.0 * point["widen_factor"],
            "flops": 5000.0 * point["widen_factor"],
            "activations": 300.0 * point["widen_factor"],
            "verdict": "feasible",
            "violations": [],
            "metrics": {"accuracy": acc},
        }
        lines.append(json.dumps(record) + "\n")
    (path / "trials.jsonl").write_text("".join(lines))
    return path


def test_correlation_table_of_a_fake_run_shows_the_baselines(tmp_path):
    accuracies = [0.5, 0.7, 0.6, 0.4]
    run = write_run(tmp_path / "run", accuracies)
    report = main_json("proxies", str(run), "--batch-size", "8", "--proxies", "synflow,naswot")
    assert report["trained"] == 4 and report["batch_size"] == 8
    rows = {r["score"]: r for r in report["correlations"]}
    assert list(rows) == ["synflow", "naswot", *BASELINES]
    assert {r["kind"] for s, r in rows.items() if s in BASELINES} == {"baseline"}
    params = [p["params"] for p in report["points"]]
    acc = [p["accuracy"] for p in report["points"]]
    assert rows["params"]["spearman"] == pytest.approx(stats.spearmanr(params, acc).statistic)
    assert rows["params"]["kendall"] == pytest.approx(stats.kendalltau(params, acc).statistic)
    assert all(r["n"] == 4 for r in rows.values())
    table = run_main("proxies", str(run), "--batch-size", "8", "--proxies", "snip")
    assert table.returncode == 0, table.stderr
    assert "snip" in table.stdout and "activations" in table.stdout and "baseline" in table.stdout


def test_too_few_trained_points_is_one_line_exit_2(tmp_path):
    run = write_run(tmp_path / "run", [0.5, 0.6])
    out = run_main("proxies", str(run))
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert "2 trained point(s)" in out.stderr and "at least 3" in out.stderr


def test_family_sample_ranked_by_a_baseline_is_sorted():
    rows = main_json(
        "proxies",
        "--family",
        "wrn",
        "--samples",
        "6",
        "--top",
        "3",
        "--proxy",
        "params",
        "--set",
        "resolution=16",
    )
    assert len(rows) == 3 and [r["rank"] for r in rows] == [1, 2, 3]
    assert [r["params"] for r in rows] == sorted((r["params"] for r in rows), reverse=True)
