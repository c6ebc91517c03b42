"""Training for the web app's visitors: one at a time, in a process of its own, stoppable by its owner.

`Trainer.run()` yields the engine's Progress and EpochResult events, then a
`TrainingReport` with the kept model, its test evaluation and its weights file
(in a temp folder of the visitor's own, never in weights/). Anything that keeps
a training from starting raises `TrainingRefused` with a message for people.
"""

from __future__ import annotations

import contextvars
import queue
import re
import shutil
import tempfile
import threading
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

from mnist_demo.app.hosting import MAX_GPU_SECONDS, estimated_gpu_seconds, gpu_training
from mnist_demo.app.settings import AppSettings
from mnist_demo.checkpoint import LoadedModel
from mnist_demo.training.data import DataUnavailable, Split, load_mnist
from mnist_demo.training.evaluation import EvalResult, evaluate
from mnist_demo.models import REGISTRY, UnknownModel, get_spec
from mnist_demo.training.recipes import Recipe
from mnist_demo.training.remote import StopFile, in_subprocess
from mnist_demo.training.engine import EpochResult, Progress, TrainConfig, TrainingDone, train


class TrainingRefused(RuntimeError):
    """A training that cannot start (busy, turned off, bad settings, no MNIST); the message says why."""


class TrainingFailed(RuntimeError):
    """A training that broke off with an error; the message says what happened."""


@dataclass
class TrainingReport:
    """What a finished (or stopped) training leaves: the kept model and how it does on the test digits."""

    model_name: str
    history: list[EpochResult]
    stopped: bool
    loaded: LoadedModel | None  # None when stopped before the first epoch ended
    evaluation: EvalResult | None = None
    test_data: Split | None = None
    weights_file: Path | None = None
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.loaded is None:
            return "Stopped before the first epoch ended: there is no model to keep."
        best = self.loaded.info.get("best_epoch", len(self.history))
        how = "Stopped early" if self.stopped else "Done"
        return (f"{how} after {len(self.history)} epoch(s). Kept the model of epoch {best}: "
                f"{100 * (self.loaded.test_accuracy or 0):.2f}% on {len(self.test_data or [])} test digits.")


Event = Progress | EpochResult | TrainingReport


def _safe_name(owner: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", owner)[:64] or "visitor"


class _Stop:
    """A visitor's Stop: an event for a training in this process, a file for one in another process."""

    def __init__(self, path: Path) -> None:
        self.event = threading.Event()
        self.file = StopFile(path)
        self.file.clear()

    def set(self) -> None:
        self.event.set()
        self.file.set()


class Trainer:
    """Runs one training at a time on this server; each visitor (owner) can stop only their own.

    On a ZeroGPU Space a training runs in a `spaces.GPU` worker process (`hosting.gpu_training`);
    elsewhere in a process of its own (`training.remote.in_subprocess`), or in a thread of this
    process when the settings say so (`train_in_process`).
    """

    def __init__(self, settings: AppSettings, gpu: Callable[..., Iterator[Any]] | None = None) -> None:
        self.settings = settings
        self.gpu = gpu if gpu is not None else gpu_training()
        self._lock = threading.Lock()
        self._stops: dict[str, _Stop] = {}
        self._data: tuple[Split, Split] | None = None
        self._root = Path(tempfile.mkdtemp(prefix="mnist_demo-trained-"))
        weakref.finalize(self, shutil.rmtree, self._root, ignore_errors=True)  # with the trainer, or at exit

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    def recipe_for(self, model: str, **changes: Any) -> Recipe:
        """The model's registry recipe with `changes`; raises TrainingRefused for unknown models or bad values."""
        try:
            spec = get_spec(model)
        except UnknownModel as exc:
            raise TrainingRefused(str(exc)) from None
        try:
            return spec.recipe.with_changes(**changes)
        except (TypeError, ValueError) as exc:
            raise TrainingRefused(f"Cannot train with these settings: {exc}") from None

    def check(self, model: str, recipe: Recipe) -> None:
        """Raise TrainingRefused if this server would not run this training."""
        if not self.settings.allow_training:
            raise TrainingRefused("Training is turned off on this server (MNIST_DEMO_ALLOW_TRAINING=0). "
                                  "Run the app on your own machine to train: `python app.py`.")
        if model not in REGISTRY:
            raise TrainingRefused(str(UnknownModel(model)))
        if recipe.epochs > self.settings.max_epochs:
            raise TrainingRefused(f"At most {self.settings.max_epochs} epochs on this server "
                                  f"(MNIST_DEMO_MAX_EPOCHS); you asked for {recipe.epochs}.")
        if self.gpu is not None:
            needed = estimated_gpu_seconds(TrainConfig(model=model, recipe=recipe), self.settings.train_limit)
            if needed > MAX_GPU_SECONDS:
                raise TrainingRefused(f"This training would need about {needed} s of GPU time, and a ZeroGPU "
                                      f"Space grants at most {MAX_GPU_SECONDS} s at a time: ask for fewer epochs.")

    def data(self) -> tuple[Split, Split]:
        """MNIST (cut to the settings' limits), loaded once; raises TrainingRefused when it cannot be had."""
        if self._data is None:
            try:
                train_split, test_split = load_mnist(self.settings.resolved_data_dir())
            except DataUnavailable as exc:
                raise TrainingRefused(f"Training needs MNIST, and it is not available here: {exc}") from None
            self._data = (train_split.subset(self.settings.train_limit),
                          test_split.subset(self.settings.test_limit))
        return self._data

    def stop(self, owner: str) -> bool:
        """Ask `owner`'s training to stop within one batch; False when they have none running."""
        event = self._stops.get(owner)
        if event is None:
            return False
        event.set()
        return True

    def forget(self, owner: str) -> None:
        """`owner` has left: stop their training, if any, and delete their weights file."""
        self.stop(owner)
        shutil.rmtree(self._root / _safe_name(owner), ignore_errors=True)

    def run(self, owner: str, model: str, recipe: Recipe, seed: int = 1) -> Iterator[Event]:
        """Train `model` for `owner`: yields Progress, EpochResult, then one TrainingReport.

        Raises TrainingRefused before anything runs when the server is busy or the
        settings are not allowed. Closing the generator early stops the training.
        """
        self.check(model, recipe)
        if not self._lock.acquire(blocking=False):
            raise TrainingRefused("Another training is running on this server; try again when it ends.")
        stop = _Stop(self._root / f"{_safe_name(owner)}.stop")
        events: queue.Queue = queue.Queue()
        worker: threading.Thread | None = None
        try:
            train_data, test_data = self.data()
            self._stops[owner] = stop
            folder = self._root / _safe_name(owner)
            shutil.rmtree(folder, ignore_errors=True)  # the visitor's previous download goes
            config = TrainConfig(model=model, recipe=recipe, seed=seed, device=self.settings.device)
            # In this request's context: on ZeroGPU, spaces.GPU finds the visitor (and their quota) there.
            worker = threading.Thread(target=contextvars.copy_context().run, name=f"training-{model}",
                                      args=(self._work, config, train_data, test_data, stop, folder, events),
                                      daemon=True)
            worker.start()
            while True:
                event = events.get()
                if isinstance(event, BaseException):
                    raise TrainingFailed(f"Training failed: {type(event).__name__}: {event}") from event
                yield event
                if isinstance(event, TrainingReport):
                    return
        finally:
            stop.set()  # a visitor who leaves mid-training frees the server within one batch
            if worker is not None:
                worker.join()
            self._stops.pop(owner, None)
            self._lock.release()

    def _events(self, config: TrainConfig, train_data: Split, test_data: Split, stop: _Stop) -> Iterator[Any]:
        """The training's events: from a ZeroGPU worker, a process of its own, or this process."""
        s = self.settings
        elsewhere = dict(data_dir=str(s.resolved_data_dir()), stop_path=str(stop.file.path),
                         train_limit=s.train_limit, test_limit=s.test_limit)
        if self.gpu is not None:
            return self.gpu(config, **elsewhere)
        if not s.train_in_process:
            return in_subprocess(config, **elsewhere, threads=s.train_threads)
        return train(config, train_data=train_data, test_data=test_data, stop=stop.event)

    def _work(self, config: TrainConfig, train_data: Split, test_data: Split, stop: _Stop,
              folder: Path, events: queue.Queue) -> None:
        threads = torch.get_num_threads()
        if self.settings.train_in_process:  # torch's threads are the whole process's: the readings' too
            torch.set_num_threads(self.settings.train_threads)
        try:
            for event in self._events(config, train_data, test_data, stop):
                if isinstance(event, TrainingDone):
                    events.put(self._report(config, event, test_data, folder))
                else:
                    events.put(event)
        except BaseException as exc:  # handed to the visitor's generator, which raises it there
            events.put(exc)
        finally:
            torch.set_num_threads(threads)

    def _report(self, config: TrainConfig, done: TrainingDone, test_data: Split, folder: Path) -> TrainingReport:
        report = TrainingReport(config.model, done.history, done.stopped, done.loaded, notes=list(done.notes))
        if done.loaded is not None:
            device = next(done.loaded.model.parameters()).device
            # The engine evaluated the kept model in its epoch; only a resumed run's kept epoch predates it.
            report.evaluation = done.evaluation or evaluate(done.loaded.model, test_data, device)
            report.test_data = test_data
            stamp = len(done.history)
            report.weights_file = done.save(folder / f"{config.model}-{stamp}-epochs.safetensors",
                                            with_optimizer=False)
        return report
