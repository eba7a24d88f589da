"""The exported ONNX file runs in onnxruntime in a process where scalesearch cannot be imported."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import torch

from scalesearch.registry import get_family
from tests.export.tiny import WRN, scrambled
from tests.helpers import run_main

# -I: no cwd, no PYTHON* variables, no user site; -S: no site module, so no .pth file runs and the
# editable install of scalesearch is not found; only the bare site-packages directory (onnxruntime,
# numpy) is put on sys.path by hand.
SCRIPT = """
import json, sys
sys.path.append(sys.argv[1])
try:
    import scalesearch
except ImportError:
    pass
else:
    raise SystemExit("scalesearch is importable here: " + scalesearch.__file__)
import numpy as np
import onnxruntime as ort
sess = ort.InferenceSession("model.onnx", providers=["CPUExecutionProvider"])
x = np.load("input.npy")
y = sess.run(None, {sess.get_inputs()[0].name: x})[0]
expected = np.load("expected.npy")
print(json.dumps({"shape": list(y.shape), "max_abs_diff": float(np.abs(y - expected).max())}))
"""


def test_onnx_file_runs_without_scalesearch(tmp_path: Path) -> None:
    fam = get_family("wrn")
    model = scrambled(fam.build({"depth": 10, "widen_factor": 1}), seed=7)
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    res = run_main(
        "export", *WRN, "--checkpoint", str(tmp_path / "weights.pt"), "--format", "onnx",
        "--out", str(tmp_path / "model.onnx"),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    x = torch.randn(5, 3, 8, 8, generator=torch.Generator().manual_seed(1))  # a batch never exported
    with torch.no_grad():
        expected = model(x).numpy()
    assert np.abs(expected).max() > 0.1
    np.save(tmp_path / "input.npy", x.numpy())
    np.save(tmp_path / "expected.npy", expected)
    site = sysconfig.get_paths()["purelib"]
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", SCRIPT, site],
        cwd=tmp_path,
        env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert got["shape"] == [5, 10]
    assert got["max_abs_diff"] <= 1e-4 * max(1.0, float(np.abs(expected).max()))
