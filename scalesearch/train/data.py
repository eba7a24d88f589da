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
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from scalesearch.atomic import atomic_path
from scalesearch.errors import ScalesearchError

DATASETS = ("digits", "cifar10", "cifar100", "imagefolder:PATH")
DEFAULT_RESOLUTION = 32  # the families downsample 32x; 8x8 digits would vanish
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


def default_root() -> Path:
    """Where downloaded datasets live: ``$SCALESEARCH_DATA_DIR`` or ``~/.cache/scalesearch/data``."""
    return Path(os.environ.get("SCALESEARCH_DATA_DIR", Path.home() / ".cache" / "scalesearch" / "data"))


# --------------------------------------------------------------------------- containers


class ImageTensors(Dataset):
    """Images ``(N, C, H, W)`` and labels ``(N,)`` in memory; resized and normalised on access.

    ``images`` are uint8 (0..255) or float in [0, 1]. Items are ``(float tensor C x R x R,
    int label)`` with ``R = resolution``; :meth:`batch` does the same for many indices at once
    (on any device), which is what the training loop uses.
    """

    def __init__(
        self,
        images: Tensor,
        labels: Tensor,
        mean: Sequence[float],
        std: Sequence[float],
        resolution: int,
    ) -> None:
        if images.ndim != 4 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(
                f"images must be (N, C, H, W) and labels (N,), but got {tuple(images.shape)} and {tuple(labels.shape)}"
            )
        if len(mean) != images.shape[1] or len(std) != images.shape[1]:
            raise ValueError(f"mean and std need one value per channel ({images.shape[1]})")
        self.images = images
        self.labels = labels.long()
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        self.resolution = resolution

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        x, y = self.batch(torch.tensor([index]))
        return x[0], int(y[0])

    def to(self, device: torch.device | str) -> ImageTensors:
        """The same split with its tensors on ``device`` (a copy unless already there)."""
        out = ImageTensors.__new__(ImageTensors)
        out.images, out.labels = self.images.to(device), self.labels.to(device)
        out.mean, out.std = self.mean.to(device), self.std.to(device)
        out.resolution = self.resolution
        return out

    def batch(self, index: Tensor) -> tuple[Tensor, Tensor]:
        """Float images ``(B, C, R, R)``, normalised, and int64 labels for ``index``."""
        index = index.to(self.images.device)
        x = self.images[index]
        x = x.float().div_(255) if x.dtype == torch.uint8 else x.float()
        h, w = x.shape[-2:]
        if (h, w) != (self.resolution, self.resolution):
            shrink = self.resolution < max(h, w)
            x = F.interpolate(
                x,
                size=(self.resolution, self.resolution),
                mode="bilinear",
                align_corners=False,
                antialias=shrink,
            )
        return (x - self.mean) / self.std, self.labels[index]


@dataclass(frozen=True)
class Data:
    """Train and validation splits of one dataset, with what a model builder needs to know."""

    train: Dataset
    val: Dataset
    num_classes: int
    channels: int
    native_resolution: int
    name: str
    resolution: int = DEFAULT_RESOLUTION
    classes: tuple[str, ...] = ()

    def __repr__(self) -> str:
        sizes = (len(self.train), len(self.val))  # type: ignore[arg-type]  # our splits are sized
        return (
            f"Data({self.name}: {sizes[0]} train / {sizes[1]} val, {self.num_classes} classes, "
            f"{self.channels}x{self.resolution}x{self.resolution} (native {self.native_resolution}))"
        )


# --------------------------------------------------------------------------- entry point


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
        return _digits(resolution, val_fraction, seed)
    if lowered in _CIFAR:
        return _cifar(lowered, root, resolution, download)
    if lowered == "imagefolder" or lowered.startswith("imagefolder:"):
        path = key.partition(":")[2] or (os.fspath(root) if root is not None else "")
        if not path:
            raise ScalesearchError("dataset imagefolder needs a folder: name='imagefolder:PATH' or root=PATH")
        return _image_folder(Path(path).expanduser(), resolution, val_fraction, seed)
    raise ScalesearchError(f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}")


def stratified_split(labels: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and val indices, sorted: ``round(n * val_fraction)`` of each class's ``n`` to val.

    A class with at least two samples keeps at least one on each side.
    """
    rng = np.random.default_rng(seed)
    train, val = [], []
    for cls in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        n_val = round(len(idx) * val_fraction)
        if len(idx) >= 2:
            n_val = min(max(n_val, 1), len(idx) - 1)
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def _channel_stats(images: Tensor) -> tuple[list[float], list[float]]:
    x = images.float().div(255) if images.dtype == torch.uint8 else images.float()
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3)).clamp_min(1e-3)
    return mean.tolist(), std.tolist()


# --------------------------------------------------------------------------- digits


def _digits(resolution: int | None, val_fraction: float, seed: int) -> Data:
    from sklearn.datasets import load_digits  # lazy: scikit-learn is slow to import

    bunch = load_digits()
    images = torch.from_numpy(bunch.images / 16.0).float().unsqueeze(1).repeat(1, 3, 1, 1)
    labels = torch.from_numpy(bunch.target).long()
    train_idx, val_idx = stratified_split(bunch.target, val_fraction, seed)
    res = resolution or DEFAULT_RESOLUTION
    mean, std = _channel_stats(images[train_idx])
    split = {
        k: ImageTensors(images[i], labels[i], mean, std, res)
        for k, i in (("train", train_idx), ("val", val_idx))
    }
    return Data(split["train"], split["val"], 10, 3, 8, "digits", res, tuple(str(d) for d in range(10)))


# --------------------------------------------------------------------------- CIFAR


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


_CIFAR = {
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


def _cifar(name: str, root: str | os.PathLike[str] | None, resolution: int | None, download: bool) -> Data:
    spec = _CIFAR[name]
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


# --------------------------------------------------------------------------- image folders


def _image_folder(path: Path, resolution: int | None, val_fraction: float, seed: int) -> Data:
    if not path.is_dir():
        raise ScalesearchError(
            f"image folder {path} does not exist (expected {path}/train/<class>/*.png ...)"
        )
    if (path / "train").is_dir():
        if not (path / "val").is_dir():
            raise ScalesearchError(
                f"image folder {path} has train/ but no val/ (expected {path}/val/<class>/...)"
            )
        classes = _class_dirs(path / "train")
        unknown = sorted(set(_class_dirs(path / "val")) - set(classes))
        if unknown:
            raise ScalesearchError(f"{path}/val has classes missing from train/: {', '.join(unknown)}")
        train_files, train_labels = _list_images(path / "train", classes)
        val_files, val_labels = _list_images(path / "val", classes)
        files, labels = train_files + val_files, np.array(train_labels + val_labels)
        train_idx, val_idx = np.arange(len(train_files)), np.arange(len(train_files), len(files))
    else:
        classes = _class_dirs(path)
        files, label_list = _list_images(path, classes)
        labels = np.array(label_list)
        train_idx, val_idx = stratified_split(labels, val_fraction, seed)
    if not len(train_idx) or not len(val_idx):
        raise ScalesearchError(f"image folder {path} gives an empty train or val split")
    images, native = _read_images(files, resolution)
    res = resolution or native
    mean, std = _channel_stats(images[train_idx])
    labels_t = torch.from_numpy(labels).long()
    train = ImageTensors(images[train_idx], labels_t[train_idx], mean, std, res)
    val = ImageTensors(images[val_idx], labels_t[val_idx], mean, std, res)
    return Data(train, val, len(classes), 3, native, f"imagefolder:{path}", res, tuple(classes))


def _class_dirs(path: Path) -> list[str]:
    classes = sorted(p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise ScalesearchError(f"no class folders in {path} (expected {path}/<class>/*.png ...)")
    return classes


def _list_images(path: Path, classes: list[str]) -> tuple[list[Path], list[int]]:
    files, labels = [], []
    for label, cls in enumerate(classes):
        if not (path / cls).is_dir():
            continue
        found = sorted(
            p for p in (path / cls).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
        )
        files += found
        labels += [label] * len(found)
    if not files:
        raise ScalesearchError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {path}/<class>/")
    return files, labels


def _read_images(files: list[Path], resolution: int | None) -> tuple[Tensor, int]:
    """All images as uint8 RGB ``(N, 3, S, S)`` and their native side.

    With ``resolution`` given, each image is resized (shorter side, bilinear) and centre-cropped
    to it, so ``S = resolution``. Without it, all images must share one square size.
    """
    from PIL import Image  # lazy: only image folders need it

    arrays, sizes = [], set()
    for file in files:
        try:
            with Image.open(file) as opened:
                img = opened.convert("RGB")
                sizes.add(img.size)
                if resolution is not None:
                    img = _resize_crop(img, resolution)
                arrays.append(np.asarray(img, dtype=np.uint8))
        except OSError as err:
            raise ScalesearchError(f"cannot read image {file}: {err}") from None
    first = next(iter(sizes))
    if resolution is None and (len(sizes) > 1 or first[0] != first[1]):
        shown = ", ".join(f"{w}x{h}" for w, h in sorted(sizes)[:3])
        raise ScalesearchError(f"images have different or non-square sizes ({shown}); pass resolution=")
    native = first[0] if len(sizes) == 1 and first[0] == first[1] else max(min(s) for s in sizes)
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    return images, native


def _resize_crop(img, size: int):
    from PIL import Image

    w, h = img.size
    scale = size / min(w, h)
    new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
    img = img.resize((new_w, new_h), Image.Resampling.BILINEAR)
    left, top = (new_w - size) // 2, (new_h - size) // 2
    return img.crop((left, top, left + size, top + size))
