"""Training in another process: a ZeroGPU worker, or a process of our own beside the web server.

On a ZeroGPU Space, a function decorated with `spaces.GPU` runs in a forked
worker process that holds the GPU; its arguments and whatever it yields are
pickled across (spaces/zero/wrappers.py). So `train_elsewhere` loads MNIST
itself, yields events without the live model (Progress keeps its numbers and
filters; TrainingDone its kept model on the CPU, without the optimizer), and
stops when a file appears, which the parent process can create at any time:
the best model so far still comes back, as with a stop in the same process.

`training.standby` runs the same in a process of our own (`Standby.run`). A
training in the web server's process shares its interpreter lock with every
visitor's reading: with 20 visitors drawing it ran at an eighth of its speed
(benchmarks/load.py); in its own process the operating system shares the cores
instead.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Iterator

import torch

from mnist_demo.training.data import load_mnist
from mnist_demo.training.engine import EpochResult, Progress, TrainConfig, TrainingDone, train
from mnist_demo.training.standby import StopFile


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
                    train_limit: int | None = None, test_limit: int | None = None, threads: int = 1
                    ) -> Iterator[Progress | EpochResult | TrainingDone]:
    """`train(config)` on MNIST from `data_dir`, cut to the limits, stopped by `stop_path`; portable events.

    `threads`: torch CPU threads. In a process forked from one that has used torch's thread pool (a
    ZeroGPU worker) keep it 1: the inherited OpenMP pool hangs the first parallel CPU op, and one
    thread needs no pool.
    """
    torch.set_num_threads(threads)
    train_data, test_data = load_mnist(data_dir)
    stop = StopFile(Path(stop_path))
    for event in train(config, train_data=train_data.subset(train_limit), test_data=test_data.subset(test_limit),
                       stop=stop):
        yield portable(event)
