"""Datasets load offline: digits from scikit-learn, CIFAR and image folders written here."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import io
import pickle
import tarfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from scalesearch.errors import ScalesearchError
from scalesearch.train import Data, ImageTensors, cifar, load_dataset
from scalesearch.train.tensors import stratified_split

PER_BATCH = 20


# --------------------------------------------------------------------------- digits


def test_digits_loads_offline_with_a_stratified_split() -> None:
    data = load_dataset("digits")
    assert isinstance(data, Data)
    assert (data.num_classes, data.channels, data.native_resolution, data.resolution) == (10, 3, 8, 32)
    assert len(data.train) + len(data.val) == 1797
    assert abs(len(data.val) - 0.2 * 1797) <= 10
    x, y = data.train[0]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32
    assert isinstance(y, int) and 0 <= y < 10
    assert isinstance(data.val, ImageTensors)
    assert set(data.val.labels.tolist()) == set(range(10))  # every class on both sides
    xs, _ = data.train.batch(torch.arange(len(data.train)))
    assert xs.mean(dim=(0, 2, 3)).abs().max() < 0.05  # normalised with the train split's statistics


def test_digits_resolution_and_seeded_split() -> None:
    a = load_dataset("digits", resolution=16, val_fraction=0.5, seed=1)
    b = load_dataset("digits", resolution=16, val_fraction=0.5, seed=1)
    c = load_dataset("digits", resolution=16, val_fraction=0.5, seed=2)
    assert a.train[0][0].shape == (3, 16, 16)
    assert abs(len(a.val) - len(a.train)) <= 10
    assert torch.equal(a.val.labels, b.val.labels) and torch.equal(a.val.images, b.val.images)
    assert not torch.equal(a.val.images, c.val.images)


def test_stratified_split_keeps_each_class_on_both_sides() -> None:
    labels = np.array([0] * 10 + [1] * 3 + [2] * 2)
    train, val = stratified_split(labels, 0.2, seed=0)
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(15))
    assert np.bincount(labels[val]).tolist() == [2, 1, 1]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"name": "mnist"},
            "unknown dataset 'mnist'; valid names: digits, cifar10, cifar100, imagefolder:PATH",
        ),
        ({"name": "digits", "val_fraction": 1.0}, "0 < val_fraction < 1 must hold, but got val_fraction=1.0"),
        ({"name": "digits", "resolution": 0}, "resolution must be an integer >= 1, but got resolution=0"),
        ({"name": "imagefolder"}, "needs a folder"),
    ],
)
def test_bad_arguments_are_clear(kwargs: dict, message: str) -> None:
    with pytest.raises(ScalesearchError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_dataset(**kwargs)


# --------------------------------------------------------------------------- CIFAR


def _batch(rng: np.random.Generator, label_key: bytes, num_classes: int) -> dict:
    data = rng.integers(0, 256, size=(PER_BATCH, 3072), dtype=np.uint8)
    data[0] = 0
    data[0, :1024] = 255  # image 0 is pure red: checks the channel-major layout
    labels = [int(v) for v in rng.integers(0, num_classes, size=PER_BATCH)]
    return {b"batch_label": b"x", label_key: labels, b"data": data, b"filenames": [b"f.png"] * PER_BATCH}


def _write_cifar(root: Path, which: str) -> tuple[Path, Path]:
    """A tiny archive in the official format: returns (the .tar.gz, the extracted folder)."""
    rng = np.random.default_rng(0)
    if which == "cifar10":
        folder, archive = root / "cifar-10-batches-py", root / "cifar-10-python.tar.gz"
        members = {f"data_batch_{i}": _batch(rng, b"labels", 10) for i in range(1, 6)}
        members["test_batch"] = _batch(rng, b"labels", 10)
        members["batches.meta"] = {b"label_names": [f"c{i}".encode() for i in range(10)]}
    else:
        folder, archive = root / "cifar-100-python", root / "cifar-100-python.tar.gz"
        members = {"train": _batch(rng, b"fine_labels", 100), "test": _batch(rng, b"fine_labels", 100)}
        for batch in members.values():
            batch[b"coarse_labels"] = [0] * PER_BATCH
        members["meta"] = {b"fine_label_names": [f"f{i}".encode() for i in range(100)]}
    folder.mkdir(parents=True)
    for name, obj in members.items():
        (folder / name).write_bytes(pickle.dumps(obj, protocol=2))
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    return archive, folder


@pytest.mark.parametrize(
    ("which", "train_size", "classes"), [("cifar10", 5 * PER_BATCH, 10), ("cifar100", PER_BATCH, 100)]
)
def test_cifar_loads_from_the_archive_and_the_extracted_folder(
    tmp_path: Path, which: str, train_size: int, classes: int
) -> None:
    archive, folder = _write_cifar(tmp_path / "written", which)
    only_archive = tmp_path / "only_archive"
    only_archive.mkdir()
    (only_archive / archive.name).write_bytes(archive.read_bytes())
    loaded = []
    for root in (archive, only_archive, folder, folder.parent):
        data = load_dataset(which, root=root, download=False)
        assert (len(data.train), len(data.val), data.num_classes) == (train_size, PER_BATCH, classes)
        assert (data.channels, data.native_resolution, data.resolution) == (3, 32, 32)
        assert len(data.classes) == classes
        loaded.append(data)
    for data in loaded[1:]:
        assert torch.equal(data.train.images, loaded[0].train.images)
        assert torch.equal(data.val.labels, loaded[0].val.labels)
    x, y = loaded[0].train[0]
    assert x.shape == (3, 32, 32) and isinstance(y, int) and 0 <= y < classes
    red = x.mean(dim=(1, 2))
    assert red[0] > 1.5 and red[1] < -1.5 and red[2] < -1.5  # (1 - 0.49) / 0.25 and (0 - 0.48) / 0.24


def test_cifar_resizes(tmp_path: Path) -> None:
    archive, _ = _write_cifar(tmp_path, "cifar10")
    data = load_dataset("cifar10", root=archive, resolution=48, download=False)
    assert data.train[3][0].shape == (3, 48, 48) and data.native_resolution == 32


def test_missing_cifar_without_download_names_the_expected_path(tmp_path: Path) -> None:
    with pytest.raises(ScalesearchError) as err:
        load_dataset("cifar10", root=tmp_path, download=False)
    message = str(err.value)
    assert str(tmp_path / "cifar-10-python.tar.gz") in message
    assert (
        "download=False" in message and "root=" in message and "https://www.cs.toronto.edu/~kriz/" in message
    )


def test_failed_download_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(url: str, timeout: float) -> None:
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(ScalesearchError, match="downloading it failed") as err:
        load_dataset("cifar100", root=tmp_path)
    assert str(tmp_path / "cifar-100-python.tar.gz") in str(err.value)


def test_download_with_a_wrong_md5_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: io.BytesIO(b"not the archive"))
    with pytest.raises(ScalesearchError, match="md5"):
        load_dataset("cifar10", root=tmp_path)
    assert list(tmp_path.iterdir()) == []  # neither the archive nor a partial download is left


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on loopback serving ``tmp_path/www``; yields its URL and the paths asked for."""
    (tmp_path / "www").mkdir()
    asked: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(tmp_path / "www"), **kwargs)

        def do_GET(self) -> None:
            asked.append(self.path)
            super().do_GET()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()


def test_cifar_from_a_url_is_fetched_once_per_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, served: tuple[str, list[str]]
) -> None:
    url, asked = served
    archive, _ = _write_cifar(tmp_path / "written", "cifar10")
    (tmp_path / "www" / "mirror").mkdir()
    (tmp_path / "www" / "mirror" / archive.name).write_bytes(archive.read_bytes())
    cache = tmp_path / "cache"
    monkeypatch.setenv("SCALESEARCH_DATA_DIR", str(cache))
    # the written archive stands in for the real one: the check is against the official md5
    real = cifar.CIFAR["cifar10"]
    monkeypatch.setitem(
        cifar.CIFAR,
        "cifar10",
        dataclasses.replace(real, md5=hashlib.md5(archive.read_bytes()).hexdigest()),
    )
    local = load_dataset("cifar10", root=archive, download=False)
    for root in (f"{url}/mirror", f"{url}/mirror/{archive.name}", archive.as_uri()):
        data = load_dataset("cifar10", root=root, download=False)
        assert torch.equal(data.train.images, local.train.images) and data.num_classes == 10
    assert asked == [f"/mirror/{archive.name}"]  # fetched once, then read from the cache
    assert [p.name for p in cache.iterdir()] == [archive.name]

    monkeypatch.setitem(cifar.CIFAR, "cifar10", real)
    (cache / archive.name).unlink()
    with pytest.raises(ScalesearchError, match="must serve the standard cifar-10-python.tar.gz") as err:
        load_dataset("cifar10", root=f"{url}/mirror")
    assert "md5" in str(err.value) and list(cache.iterdir()) == []  # nothing half-written is kept
    with pytest.raises(ScalesearchError, match="404"):
        load_dataset("cifar10", root=f"{url}/nowhere/")


def test_corrupt_cifar_is_reported(tmp_path: Path) -> None:
    _, folder = _write_cifar(tmp_path, "cifar10")
    (folder / "data_batch_3").unlink()
    with pytest.raises(ScalesearchError, match="incomplete or corrupt"):
        load_dataset("cifar10", root=folder, download=False)


# --------------------------------------------------------------------------- image folders


def _write_pngs(folder: Path, classes: dict[str, int], size: tuple[int, int] = (10, 10)) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls, count in classes.items():
        (folder / cls).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            pixels = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / cls / f"{i}.png")


def test_image_folder_with_train_and_val(tmp_path: Path) -> None:
    _write_pngs(tmp_path / "train", {"cat": 4, "dog": 3})
    _write_pngs(tmp_path / "val", {"cat": 2, "dog": 1})
    data = load_dataset(f"imagefolder:{tmp_path}")
    assert (len(data.train), len(data.val), data.num_classes, data.classes) == (7, 3, 2, ("cat", "dog"))
    assert (data.native_resolution, data.resolution) == (10, 10)
    assert sorted(data.val.labels.tolist()) == [0, 0, 1]
    x, y = data.val[0]
    assert x.shape == (3, 10, 10) and x.dtype == torch.float32 and y == 0


def test_image_folder_split_by_val_fraction_and_resized(tmp_path: Path) -> None:
    _write_pngs(tmp_path, {"a": 5, "b": 5, "c": 5}, size=(12, 9))
    data = load_dataset("imagefolder", root=tmp_path, resolution=16, val_fraction=0.4)
    assert (len(data.train), len(data.val), data.num_classes) == (9, 6, 3)
    assert data.train[0][0].shape == (3, 16, 16)
    with pytest.raises(ScalesearchError, match="non-square sizes .*pass resolution="):
        load_dataset("imagefolder", root=tmp_path)


def test_image_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(ScalesearchError, match="does not exist"):
        load_dataset(f"imagefolder:{tmp_path / 'absent'}")
    _write_pngs(tmp_path / "train", {"a": 2})
    with pytest.raises(ScalesearchError, match="no val/"):
        load_dataset(f"imagefolder:{tmp_path}")
