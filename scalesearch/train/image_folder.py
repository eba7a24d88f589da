"""Image folders: ``PATH/train/<class>/*`` and ``PATH/val/<class>/*``, or one ``PATH/<class>/*``
tree split by ``val_fraction``; read completely into memory (they are meant for small sets)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from scalesearch.errors import ScalesearchError
from scalesearch.train.tensors import Data, ImageTensors, channel_stats, stratified_split

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


def load_image_folder(path: Path, resolution: int | None, val_fraction: float, seed: int) -> Data:
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
    mean, std = channel_stats(images[train_idx])
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
