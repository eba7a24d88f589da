"""CIFAR-10 and CIFAR-100 from their python-pickle archives, found, downloaded or fetched.

The archive (``.tar.gz``) or its extracted folder is read from ``root``, downloaded there
(md5-checked) when missing; the official test set is the validation split. ``root`` may also
be an ``http(s)://`` or ``file://`` URL of the archive (or of a folder holding it), e.g. a
mirror every Ray worker can reach: it is fetched once per machine into :func:`default_root`
and md5-checked.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from scalesearch.atomic import atomic_path
from scalesearch.errors import ScalesearchError
from scalesearch.train.tensors import Data, ImageTensors


def default_root() -> Path:
    """Where downloaded datasets live: ``$SCALESEARCH_DATA_DIR`` or ``~/.cache/scalesearch/data``."""
    return Path(os.environ.get("SCALESEARCH_DATA_DIR", Path.home() / ".cache" / "scalesearch" / "data"))


@dataclass(frozen=True)
class _CifarSpec:
    title: str
    archive: str
    folder: str
    md5: str
    train: tuple[str, ...]
    test: str
    label_key: bytes
    meta: str
    names_key: bytes
    num_classes: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @property
    def url(self) -> str:
        return f"https://www.cs.toronto.edu/~kriz/{self.archive}"


CIFAR = {
    "cifar10": _CifarSpec(
        "CIFAR-10", "cifar-10-python.tar.gz", "cifar-10-batches-py", "c58f30108f718f92721af3b95e74349a",
        tuple(f"data_batch_{i}" for i in range(1, 6)), "test_batch", b"labels", "batches.meta",
        b"label_names", 10, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616),
    ),
    "cifar100": _CifarSpec(
        "CIFAR-100", "cifar-100-python.tar.gz", "cifar-100-python", "eb9058c3a382ffc7106e4002c42a8d85",
        ("train",), "test", b"fine_labels", "meta", b"fine_label_names", 100,
        (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762),
    ),
}  # fmt: skip


_URL_SCHEMES = ("http://", "https://", "file://")


def load_cifar(
    name: str, root: str | os.PathLike[str] | None, resolution: int | None, download: bool
) -> Data:
    spec = CIFAR[name]
    text = os.fspath(root) if root is not None else None
    source: Path | None
    if text is not None and text.startswith(_URL_SCHEMES):
        base, source = default_root(), _fetch_cifar(spec, text)
    else:
        base = Path(text).expanduser() if text is not None else default_root()
        source = _find_cifar(spec, base)
    if source is None:
        expected = base / spec.archive
        how = (
            f"put {spec.archive} (from {spec.url}) at {expected}, or its extracted folder at "
            f"{base / spec.folder}, or pass root=<path to either>"
        )
        if not download:
            raise ScalesearchError(f"{spec.title} not found at {expected} and download=False: {how}")
        try:
            _download(spec.url, expected, spec.md5)
        except (OSError, ValueError) as err:
            raise ScalesearchError(
                f"{spec.title} not found at {expected} and downloading it failed ({err}): {how}"
            ) from None
        source = expected
    wanted = (*spec.train, spec.test, spec.meta)
    res = resolution or 32

    def split(batches: list[dict]) -> ImageTensors:
        data = np.concatenate([b[b"data"] for b in batches]).reshape(-1, 3, 32, 32)
        labels = np.concatenate([np.asarray(b[spec.label_key]) for b in batches])
        return ImageTensors(torch.from_numpy(data), torch.from_numpy(labels), spec.mean, spec.std, res)

    try:
        raw = _read_members(source, wanted)
        missing = [m for m in wanted[:-1] if m not in raw]
        if missing:
            raise FileNotFoundError(f"missing {', '.join(missing)}")
        train = split([_unpickle(raw[member]) for member in spec.train])
        val = split([_unpickle(raw[spec.test])])
        meta = _unpickle(raw[spec.meta]) if spec.meta in raw else {}
    except (OSError, KeyError, ValueError, pickle.UnpicklingError, tarfile.TarError, EOFError) as err:
        raise ScalesearchError(
            f"{spec.title} at {source} is incomplete or corrupt ({err!r}); delete it and retry"
        ) from None
    names = tuple(n.decode() for n in meta.get(spec.names_key, ()))
    return Data(train, val, spec.num_classes, 3, 32, name, res, names)


def _fetch_cifar(spec: _CifarSpec, url: str) -> Path:
    """The archive at ``url`` (or ``url/<archive name>``), fetched once into :func:`default_root`."""
    if not url.endswith((".tar.gz", ".tgz", ".tar")):
        url = url.rstrip("/") + "/" + spec.archive
    target = default_root() / spec.archive
    if not target.is_file():
        try:
            _download(url, target, spec.md5)
        except (OSError, ValueError) as err:
            raise ScalesearchError(
                f"{spec.title}: fetching {url} failed ({err}); the URL must serve the standard "
                f"{spec.archive} (md5 {spec.md5})"
            ) from None
    return target


def _find_cifar(spec: _CifarSpec, base: Path) -> Path | None:
    """The archive or extracted folder under ``base`` (or ``base`` itself), if any."""
    candidates = (base, base / spec.folder, base / spec.archive)
    for path in candidates:
        if path.is_dir() and (path / spec.test).is_file():
            return path
        if path.is_file() and path.name.endswith((".tar.gz", ".tgz", ".tar")):
            return path
    return None


def _read_members(source: Path, names: Sequence[str]) -> dict[str, bytes]:
    """The bytes of the files called ``names`` in a folder or (in one pass) a tar archive."""
    if source.is_dir():
        return {n: (source / n).read_bytes() for n in names if (source / n).is_file()}
    found = {}
    with tarfile.open(source, "r:*") as tar:
        for member in tar:
            name = Path(member.name).name
            if member.isfile() and name in names and name not in found:
                handle = tar.extractfile(member)
                if handle is not None:
                    found[name] = handle.read()
    return found


def _unpickle(raw: bytes) -> dict:
    # The CIFAR archives are pickles by design; downloads are md5-checked before use.
    return pickle.load(io.BytesIO(raw), encoding="bytes")


def _download(url: str, target: Path, md5: str) -> None:
    """Fetch ``url`` to ``target`` if its md5 matches; the partial file has a name of its own
    (trials on one machine may fetch at the same time) and is removed on failure."""
    digest = hashlib.md5()
    with atomic_path(target) as partial:
        with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as out:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != md5:
            raise ValueError(f"md5 of the download is {digest.hexdigest()}, expected {md5}")
