"""Every notebook runs top to bottom on small real runs, so none of them rots."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import ROOT, cli, tiny_experiment

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

MBCONV_TINY = """
from scalesearch.experiment import Evaluation, Experiment, SearchSpace
from scalesearch.space import Choice

experiment = Experiment(
    name="tiny_mbconv",
    space=SearchSpace(family="mbconv", search={"width_mult": Choice((0.25, 0.5))}),
    strategy="grid", pruner="none", trials=None,
    evaluation=Evaluation(dataset="digits", resolution=32, epochs=1, batch_size=64, max_batches_per_epoch=3),
)
"""


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    tmp = tmp_path_factory.mktemp("nb")
    wrn = tiny_experiment(tmp / "tiny.py")
    (tmp / "tiny_mbconv.py").write_text(MBCONV_TINY)
    runs = [tmp / "wrn", tmp / "mbconv"]
    for exp, run in zip((wrn, tmp / "tiny_mbconv.py"), runs, strict=True):
        out = cli("run", str(exp), "--out", str(run))
        assert out.returncode == 0, out.stderr
    return runs


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.name)
def test_notebook_executes(path, two_runs, monkeypatch):
    monkeypatch.setenv("SCALESEARCH_RUNS", ",".join(str(r) for r in two_runs))
    nb = nbformat.read(path, as_version=4)
    # Run from the notebook's own folder, as `jupyter nbconvert --execute` does.
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute(env=dict(os.environ))
    code = [c for c in nb.cells if c.cell_type == "code"]
    outputs = [o for c in code for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    first = code[0].get("outputs", [])
    assert not [o for o in first if o.get("name") == "stderr"], first  # no warnings in the first cell
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the fronts were drawn
