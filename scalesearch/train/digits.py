"""The digits dataset: scikit-learn's 1797 8x8 handwritten digits, offline, as 3 channels."""

from __future__ import annotations

import torch

from scalesearch.train.tensors import DEFAULT_RESOLUTION, Data, ImageTensors, channel_stats, stratified_split


def load_digits(resolution: int | None, val_fraction: float, seed: int) -> Data:
    """Digits with a stratified split seeded by ``seed``; images default to 32x32."""
    from sklearn.datasets import load_digits as sklearn_digits  # lazy: scikit-learn is slow to import

    bunch = sklearn_digits()
    images = torch.from_numpy(bunch.images / 16.0).float().unsqueeze(1).repeat(1, 3, 1, 1)
    labels = torch.from_numpy(bunch.target).long()
    train_idx, val_idx = stratified_split(bunch.target, val_fraction, seed)
    res = resolution or DEFAULT_RESOLUTION
    mean, std = channel_stats(images[train_idx])
    split = {
        k: ImageTensors(images[i], labels[i], mean, std, res)
        for k, i in (("train", train_idx), ("val", val_idx))
    }
    return Data(split["train"], split["val"], 10, 3, 8, "digits", res, tuple(str(d) for d in range(10)))
