"""Evaluation of a trial: in-memory datasets and a short, seeded training run.

``load_dataset("digits")`` (offline), ``"cifar10"``, ``"cifar100"`` or ``"imagefolder:PATH"``
gives a :class:`Data`; ``train_and_evaluate(model, data, epochs=...)`` trains and returns the
validation accuracy and losses, raising :class:`TrialFailed` when training breaks down.
"""

from scalesearch.train.data import DATASETS, Data, ImageTensors, default_root, load_dataset
from scalesearch.train.loop import TrialFailed, resolve_device, train_and_evaluate

__all__ = [
    "DATASETS",
    "Data",
    "ImageTensors",
    "TrialFailed",
    "default_root",
    "load_dataset",
    "resolve_device",
    "train_and_evaluate",
]
