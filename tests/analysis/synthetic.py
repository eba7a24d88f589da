"""Synthetic run directories (Ray-backend layout: run.json + trials.jsonl) for the analysis tests:
no training, populations whose ordering is known by construction."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np


def record(number: int, family: str, flops: float, accuracy: float | None, **point: float) -> dict:
    return {
        "stage": "search",
        "number": number,
        "state": "COMPLETE" if accuracy is not None else "FAIL",
        "values": dict(point),
        "point": dict(point),
        "family": family,
        "params": flops / 50,
        "flops": flops,
        "activations": flops / 100,
        "latency_ms": None,
        "verdict": "feasible",
        "violations": [],
        "metrics": {} if accuracy is None else {"accuracy": accuracy},
    }


def write_run(path: Path, name: str, records: Iterable[dict]) -> Path:
    path.mkdir(parents=True)
    meta = {
        "name": name,
        "backend": "ray",
        "storage": "",
        "studies": [],
        "objectives": {"accuracy": "maximize"},
    }
    (path / "run.json").write_text(json.dumps(meta))
    (path / "trials.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def law_population(
    family: str, flops: Sequence[float], a: float, b: float, c: float, noise: float = 0.0, seed: int = 0
) -> list[dict]:
    """Trials whose error (%) follows a + b (flops/1e9)^-c, plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    out = []
    for i, f in enumerate(flops):
        err = a + b * (f / 1e9) ** (-c) + noise * rng.normal()
        out.append(record(i, family, float(f), 1 - err / 100, width=float(i)))
    return out
