"""MobileNetV2: expansion ratio t and width multiplier, accuracy vs FLOPs with NSGA-II.

Two objectives (maximise accuracy, minimise FLOPs); the front is what
`scalesearch pareto RUN_DIR` draws. Default: digits at 32 px.
"""

from __future__ import annotations

from scalesearch.experiment import Evaluation, Experiment, SearchSpace
from scalesearch.space import Choice, Float

experiment = Experiment(
    name="mbconv_expansion",
    description="MobileNetV2 expansion ratio t and width multiplier: accuracy vs FLOPs",
    space=SearchSpace(
        family="mbconv",
        search={"expand_ratio": Choice((1.0, 2.0, 3.0, 4.0, 6.0)), "width_mult": Float(0.25, 1.0, step=0.25)},
    ),
    budget="flops<=mobilenet_v2",
    strategy="nsga2",
    pruner="none",
    trials=8,
    objectives={"accuracy": "maximize", "flops": "minimize"},
    evaluation=Evaluation(dataset="digits", resolution=32, epochs=2, batch_size=64, lr=0.05),
    references=["mobilenet_v2"],
)
