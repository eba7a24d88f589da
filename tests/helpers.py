"""Helpers shared by tests: run the CLI in process (or in a subprocess), write tiny experiment files."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 600):
    """Run ``scalesearch ARGS`` as a user would; returns the CompletedProcess."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "scalesearch", *args],
        cwd=cwd or ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def cli_json(*args: str, **kw):
    out = cli(*args, "--format", "json", **kw)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def run_main(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``scalesearch ARGS`` in this process (``main([...])``): fast, same result object as :func:`cli`.

    argparse's own exits (bad flags, ``--help``, ``--version``) come back as their exit status.
    """
    from scalesearch.cli.main import main

    stdout, stderr = io.StringIO(), io.StringIO()
    old = Path.cwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                code: Any = main(list(args))
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    finally:
        os.chdir(old)
    return subprocess.CompletedProcess(
        ["scalesearch", *args], int(code), stdout.getvalue(), stderr.getvalue()
    )


def main_json(*args: str, **kw: Any) -> Any:
    """``scalesearch ARGS --format json`` in process, parsed; the command must succeed."""
    out = run_main(*args, "--format", "json", **kw)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


TINY_EXPERIMENT = """
from scalesearch.experiment import Evaluation, Experiment, SearchSpace
from scalesearch.space import Choice

experiment = Experiment(
    name="tiny",
    space=SearchSpace(family="wrn", search={{"widen_factor": Choice((1, 2)), "dropout": Choice((0.0, 0.1))}},
                      fixed={{"depth": 10}}),
    budget={budget!r},
    strategy={strategy!r},
    pruner="none",
    trials={trials},
    evaluation=Evaluation(dataset="digits", resolution=16, epochs={epochs}, batch_size=64, lr=0.05,
                          max_batches_per_epoch={batches}),
)
"""


def tiny_experiment(
    path: Path,
    budget: str | None = None,
    strategy: str = "grid",
    trials: int | None = None,
    epochs: int = 1,
    batches: int = 4,
) -> Path:
    path.write_text(
        TINY_EXPERIMENT.format(
            budget=budget, strategy=strategy, trials=trials, epochs=epochs, batches=batches
        )
    )
    return path
