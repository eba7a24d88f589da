"""The in-memory dataset: splits held as tensors, resized and normalised per batch.

An :class:`ImageTensors` keeps all images at their stored size (uint8 for CIFAR and image
folders, float for digits) and resizes (bilinear) and normalises each batch, so loading is
never the bottleneck and a higher ``resolution`` costs no extra memory. A :class:`Data` is a
train and a validation split with what a model builder needs to know.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

DEFAULT_RESOLUTION = 32  # the families downsample 32x; 8x8 digits would vanish


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


def channel_stats(images: Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and std (floored at 1e-3) of ``images`` scaled to [0, 1]."""
    x = images.float().div(255) if images.dtype == torch.uint8 else images.float()
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3)).clamp_min(1e-3)
    return mean.tolist(), std.tolist()
