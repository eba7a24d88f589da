"""FractalNet: columns C (depth inside a block) vs blocks B (pooling stages) at equal FLOPs.

The paper fixes B=5 and grows C (Table 3: deeper columns keep helping up to C=4-5, 40-80 layers).
Here both move: for each (C, B) the block width is solved so the network costs the FLOPs of the
C=3, B=3, width 16 FractalNet (widths doubled after each block but the last), then it is trained
with the paper's drop-path (local 15%, global on half the batches) and compared.

Default: digits at 32 px, a few minutes on a laptop CPU.
The paper's setting: --set dataset=cifar100 --set epochs=400 (and blocks up to 5)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scalesearch.experiment import Evaluation, Experiment, SearchSpace
from scalesearch.registry import get_family
from scalesearch.space import Choice
from scalesearch.verdict.screen import solve

REFERENCE = {"columns": 3, "blocks": 3, "width": 16}
"""The network whose FLOPs every (C, B) point matches."""


def derive(values: Mapping[str, Any]) -> dict[str, Any]:
    """Solve the first block's width so FLOPs match the reference's at the run's resolution."""
    fam = get_family("fractalnet")
    run = {k: values[k] for k in ("resolution", "num_classes")}
    target = fam.complexity({**run, **REFERENCE}).flops
    shape = {**run, "columns": values["columns"], "blocks": values["blocks"]}
    width = solve(fam, shape, "width", "flops", target).value
    return {**shape, "width": width}


experiment = Experiment(
    name="fractalnet_columns",
    description="FractalNet columns C vs blocks B at the FLOPs of C=3, B=3, width 16",
    space=SearchSpace(
        family="fractalnet",
        search={"columns": Choice((1, 2, 3, 4)), "blocks": Choice((2, 4))},
        derive=derive,
    ),
    strategy="grid",
    pruner="none",
    trials=None,
    objectives={"accuracy": "maximize"},
    evaluation=Evaluation(
        dataset="digits", resolution=32, epochs=3, batch_size=64, lr=0.02, max_batches_per_epoch=12
    ),
    references=["fractalnet_cifar10"],
)
