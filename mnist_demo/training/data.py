"""MNIST as in-memory tensors.

The whole set is 47 MB as uint8, so we keep it in memory and batch by indexing:
a per-sample DataLoader costs about 4x the epoch time on a 2-core machine.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

DATA_DIR_ENV = "MNIST_DATA_DIR"


class DataUnavailable(RuntimeError):
    """MNIST is neither on disk nor downloadable; the message says where to put it."""


@dataclass
class Split:
    """Images as uint8 (N, 28, 28) and labels as int64 (N,)."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, n: int | None) -> "Split":
        """The first `n` samples (all of them when n is None)."""
        if n is None or n >= len(self):
            return self
        return Split(self.images[:n], self.labels[:n])


def default_data_dir() -> Path:
    return Path(os.environ.get(DATA_DIR_ENV) or "data")


def _root(data_dir: str | os.PathLike | None) -> Path:
    return Path(data_dir) if data_dir is not None else default_data_dir()


def load_split(data_dir: str | os.PathLike | None = None, train: bool = True) -> Split:
    """One MNIST split; downloads it when missing and the network allows."""
    from torchvision.datasets import MNIST

    root = _root(data_dir)
    try:
        ds = MNIST(str(root), train=train, download=True)
    except Exception as exc:  # torchvision raises RuntimeError/URLError/OSError depending on the failure
        raw = root / "MNIST" / "raw"
        raise DataUnavailable(
            f"MNIST is not in {raw} and could not be downloaded ({type(exc).__name__}: {exc}). "
            f"Put the four files train-images-idx3-ubyte, train-labels-idx1-ubyte, "
            f"t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte in {raw}, or point "
            f"--data-dir / {DATA_DIR_ENV} at a folder that holds MNIST/raw/."
        ) from exc
    return Split(ds.data.clone(), ds.targets.clone().long())


_PRELOADED: dict[Path, tuple[Split, Split]] = {}  # this process's MNIST, loaded before it was asked for


def preload_mnist(data_dir: str | os.PathLike | None = None) -> None:
    """Load MNIST now, and answer this process's `load_mnist` of the same folder with it from now on: a
    process that will train (one kept ready for the next training, a server about to fork its GPU
    worker) then has it before the training is asked for. Its tensors are shared: read them, never
    write to them."""
    _PRELOADED[_root(data_dir).resolve()] = (load_split(data_dir, train=True), load_split(data_dir, train=False))


def load_mnist(data_dir: str | os.PathLike | None = None) -> tuple[Split, Split]:
    """(train, test) splits."""
    preloaded = _PRELOADED.get(_root(data_dir).resolve())
    if preloaded is not None:
        return preloaded
    return load_split(data_dir, train=True), load_split(data_dir, train=False)

