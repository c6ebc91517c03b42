"""Training in another process: a ZeroGPU worker, or a process of our own beside the web server.

On a ZeroGPU Space, a function decorated with `spaces.GPU` runs in a forked
worker process that holds the GPU; its arguments and whatever it yields are
pickled across (spaces/zero/wrappers.py). So `train_elsewhere` loads MNIST
itself, yields events without the live model (Progress keeps its numbers and
filters; TrainingDone its kept model on the CPU, without the optimizer), and
stops when a file appears, which the parent process can create at any time:
the best model so far still comes back, as with a stop in the same process.

`in_subprocess` runs the same in a process of our own. A training in the web
server's process shares its interpreter lock with every visitor's reading: with
20 visitors drawing it ran at an eighth of its speed (benchmarks/load.py); in
its own process the operating system shares the cores instead.
"""

from __future__ import annotations

import dataclasses
import inspect
import multiprocessing
import os
import queue
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

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


@dataclass(frozen=True)
class Failure:
    """An exception in the training process, as the parent can show it."""

    kind: str
    message: str


def _child(events: Any, received: Any, worker: Callable[..., Iterator[Any]], args: tuple[Any, ...],
           kwargs: dict[str, Any]) -> None:
    try:
        for event in worker(*args, **kwargs):
            events.put(event)
    except BaseException as exc:  # noqa: BLE001 - whatever it was, the parent says so and frees the slot
        events.put(Failure(type(exc).__name__, str(exc)))
    finally:
        events.put(None)
        # torch sends a tensor through a queue as a handle to this process's memory: stay until the
        # parent has taken the last events (the kept model), or it finds nothing there.
        received.wait(timeout=60)


_CONTEXT: Any = None


def _context() -> Any:
    """A forkserver: children forked from a clean interpreter that has imported torch once (fast starts,
    no inherited thread pool)."""
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = multiprocessing.get_context("forkserver")
        _CONTEXT.set_forkserver_preload(["mnist_demo.training.remote"])
    return _CONTEXT


def start_training_server() -> None:
    """Start the forkserver the trainings will be forked from now, at this process's priority.

    A web server that lowers its own priority afterwards (`os.nice`) leaves its trainings at the
    priority it had: readings then yield the CPU to a training, not the other way round.
    """
    from multiprocessing import forkserver

    _context()
    forkserver.ensure_running()


class TrainingProcessFailed(RuntimeError):
    """The training process raised, or died; the message says what happened."""


def in_subprocess(*args: Any, worker: Callable[..., Iterator[Any]] = train_elsewhere, **kwargs: Any
                  ) -> Iterator[Any]:
    """`worker(*args, **kwargs)` in a process of its own, its events streamed back.

    The worker (default `train_elsewhere`; `personal.finetune.finetune_elsewhere` for a visitor's fit)
    is a module-level function, so the child can import it, that takes a `stop_path` and yields
    portable events. Closing this generator early stops it (through the stop file) and waits for
    the process. Raises TrainingProcessFailed when the process raises or dies.
    """
    stop_path = inspect.signature(worker).bind(*args, **kwargs).arguments["stop_path"]
    ctx = _context()
    events, received = ctx.Queue(), ctx.Event()
    process = ctx.Process(target=_child, args=(events, received, worker, args, kwargs), name="mnist_demo-training",
                          daemon=True)
    process.start()
    try:
        while True:
            try:
                event = events.get(timeout=1.0)
            except queue.Empty:
                if not process.is_alive():
                    raise TrainingProcessFailed(f"the training process ended (exit code {process.exitcode})") from None
                continue
            if event is None:
                received.set()
                return
            if isinstance(event, Failure):
                raise TrainingProcessFailed(f"{event.kind}: {event.message}")
            yield event
    finally:
        StopFile(Path(stop_path)).set()
        # Read what it still sends (its last events, its kept model): a process whose queue is unread
        # cannot end, and the stop file ends its training within a batch.
        deadline = time.monotonic() + 30
        while process.is_alive() and time.monotonic() < deadline and not received.is_set():
            try:
                if events.get(timeout=0.5) is None:
                    break
            except queue.Empty:
                pass
        received.set()
        process.join(timeout=5)
        if process.is_alive():
            process.kill()
            process.join()
