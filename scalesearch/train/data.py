"""Datasets for trials: small image sets kept in memory as tensors.

``load_dataset(name, ...)`` returns a :class:`Data` with a train and a validation split.
Every split is an :class:`ImageTensors`: all images sit in memory at their stored size
(uint8 for CIFAR and image folders, float for digits) and are resized (bilinear) and
normalised per batch, so loading is never the bottleneck and a higher ``resolution`` costs
no extra memory. Image folders are read completely into memory too: they are meant for
small sets.

Supported names:

- ``digits``: scikit-learn's 1797 8x8 handwritten digits (shipped inside scikit-learn, so
  it works offline), as 3 channels, stratified seeded split by ``val_fraction``.
- ``cifar10`` / ``cifar100``: the python-pickle archives, read from ``root`` (the
  ``.tar.gz`` or the extracted folder), downloaded there (md5-checked) when missing; the
  official test set is the validation split. ``root`` may also be an ``http(s)://`` or
  ``file://`` URL of the archive (or of a folder holding it), e.g. a mirror every Ray worker
  can reach: it is fetched once per machine into :func:`default_root` and md5-checked.
- ``imagefolder:PATH`` (or ``imagefolder`` with ``root=PATH``): ``PATH/train/<class>/*``
  and ``PATH/val/<class>/*``, or one ``PATH/<class>/*`` tree split by ``val_fraction``.

The split type lives in :mod:`scalesearch.train.tensors`; each loader in its own module
(:mod:`~scalesearch.train.digits`, :mod:`~scalesearch.train.cifar`,
:mod:`~scalesearch.train.image_folder`); this module picks one by name.
"""

from __future__ import annotations

import os
from pathlib import Path

from scalesearch.errors import ScalesearchError
from scalesearch.train.cifar import CIFAR, default_root, load_cifar
from scalesearch.train.digits import load_digits
from scalesearch.train.image_folder import load_image_folder
from scalesearch.train.tensors import DEFAULT_RESOLUTION, Data, ImageTensors, stratified_split

__all__ = [
    "DATASETS",
    "DEFAULT_RESOLUTION",
    "Data",
    "ImageTensors",
    "default_root",
    "load_dataset",
    "stratified_split",
]

DATASETS = ("digits", "cifar10", "cifar100", "imagefolder:PATH")


def load_dataset(
    name: str,
    root: str | os.PathLike[str] | None = None,
    resolution: int | None = None,
    val_fraction: float = 0.2,
    seed: int = 0,
    download: bool = True,
) -> Data:
    """Load a dataset by name (see the module docstring) as in-memory train/val splits.

    ``resolution`` is the side of the (square) images the splits yield; by default the
    native size, except 8x8 digits, which default to 32. ``val_fraction`` and ``seed`` set
    the stratified split where the dataset has no official one; ``root`` is where CIFAR
    lives (default :func:`default_root`) or the image folder; ``download`` allows fetching
    CIFAR when it is not under ``root``.
    """
    if resolution is not None and (
        isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1
    ):
        raise ScalesearchError(f"resolution must be an integer >= 1, but got resolution={resolution}")
    if not 0.0 < val_fraction < 1.0:
        raise ScalesearchError(f"0 < val_fraction < 1 must hold, but got val_fraction={val_fraction}")
    key = name.strip()
    lowered = key.lower()
    if lowered == "digits":
        return load_digits(resolution, val_fraction, seed)
    if lowered in CIFAR:
        return load_cifar(lowered, root, resolution, download)
    if lowered == "imagefolder" or lowered.startswith("imagefolder:"):
        path = key.partition(":")[2] or (os.fspath(root) if root is not None else "")
        if not path:
            raise ScalesearchError("dataset imagefolder needs a folder: name='imagefolder:PATH' or root=PATH")
        return load_image_folder(Path(path).expanduser(), resolution, val_fraction, seed)
    raise ScalesearchError(f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}")
