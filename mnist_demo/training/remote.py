"""Training in another process, such as a ZeroGPU worker: events that cross the boundary, a stop that does too.

On a ZeroGPU Space, a function decorated with `spaces.GPU` runs in a forked
worker process that holds the GPU; its arguments and whatever it yields are
pickled across (spaces/zero/wrappers.py). So `train_elsewhere` loads MNIST
itself, yields events without the live model (Progress keeps its numbers and
filters; TrainingDone its kept model on the CPU, without the optimizer), and
stops when a file appears, which the parent process can create at any time:
the best model so far still comes back, as with a stop in the same process.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch

from mnist_demo.training.data import load_mnist
from mnist_demo.training.engine import EpochResult, Progress, TrainConfig, TrainingDone, train


@dataclass(frozen=True)
class StopFile:
    """A stop signal two processes share: set once the file exists (what `train` asks of `stop`)."""

    path: Path

    def set(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch()

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)

    def is_set(self) -> bool:
        return os.path.exists(self.path)


def portable(event: Progress | EpochResult | TrainingDone) -> Progress | EpochResult | TrainingDone:
    """The event as it can travel to another process: no live model, no optimizer, tensors on the CPU."""
    if isinstance(event, Progress):
        return dataclasses.replace(event, model=None)
    if isinstance(event, TrainingDone):
        if event.loaded is not None:
            event.loaded.model.cpu()
        return dataclasses.replace(event, optimizer=None)
    return event


def train_elsewhere(config: TrainConfig, data_dir: str | None, stop_path: str,
                    train_limit: int | None = None, test_limit: int | None = None
                    ) -> Iterator[Progress | EpochResult | TrainingDone]:
    """`train(config)` on MNIST from `data_dir`, cut to the limits, stopped by `stop_path`; portable events."""
    # A forked worker inherits the parent's OpenMP thread pool in a state that hangs the first parallel
    # CPU op once the parent has used it (the app's readings do): one thread needs no pool.
    torch.set_num_threads(1)
    train_data, test_data = load_mnist(data_dir)
    stop = StopFile(Path(stop_path))
    for event in train(config, train_data=train_data.subset(train_limit), test_data=test_data.subset(test_limit),
                       stop=stop):
        yield portable(event)
