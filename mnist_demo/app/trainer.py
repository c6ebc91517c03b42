"""Training for the web app's visitors: one at a time, in a process of its own, stoppable by its owner.

`Trainer.run()` yields the engine's Progress and EpochResult events, then a
`TrainingReport` with the kept model, its test evaluation and its weights file
(in a temp folder of the visitor's own, `visitor_files`, never in weights/). `Trainer.fit()` fits
a visitor's model to their drawings (`personal.finetune`) in the same one slot,
stoppable the same way, then yields `personal.assess`'s before/after. Anything
that keeps a training from starting raises `TrainingRefused` with a message for people.
"""

from __future__ import annotations

import contextvars
import functools
import queue
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

from mnist_demo.app.hosting import MAX_GPU_SECONDS, estimated_gpu_seconds, gpu_training
from mnist_demo.app.settings import AppSettings
from mnist_demo.app.visitor_files import Errand, Part, VisitorFiles
from mnist_demo.base.recipe import Recipe
from mnist_demo.models.checkpoint import LoadedModel
from mnist_demo.models.registry import REGISTRY, UnknownModel, get_spec, image_models
from mnist_demo.personal.assess import Assessment, finetune_and_assess_elsewhere
from mnist_demo.personal.collection import Collection
from mnist_demo.personal.finetune import FitSettings, draw_ahead
from mnist_demo.reading.reader import Reader
from mnist_demo.training.data import DataUnavailable, Split, load_mnist
from mnist_demo.training.drawn_data import already_drawn
from mnist_demo.training.engine import EpochResult, Progress, TrainConfig, TrainingDone, train
from mnist_demo.training.evaluation import EvalResult, evaluate
from mnist_demo.training.remote import StopFile, in_subprocess

NO_SESSION = ("A training needs a session of its own, to stop it and to keep its model: train from the page, "
              "or call the API with gradio_client (a raw HTTP call without a session_hash has none).")


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
SEED = 1  # of every training the app runs: the same recipe gives the same model
_END = object()  # the work's thread has ended (after its last event, or its exception)


class _Stop:
    """A visitor's Stop: an event for a training in this process, a file for one in another process;
    and the training's errand, which keeps no model once its visitor has left."""

    def __init__(self, path: Path, errand: Errand) -> None:
        self.event = threading.Event()
        self.file = StopFile(path)
        self.file.clear()
        self.errand = errand

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
        self._drawing_ahead = threading.Event()
        self._stops: dict[str, _Stop] = {}
        self._data: tuple[Split, Split] | None = None
        self.files = VisitorFiles()  # every visitor's folders: theirs alone, gone with `forget`

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
        if model not in image_models():  # the Draw tab reads with what the Train tab makes
            raise TrainingRefused(f"{model} reads the pen's path beside the shipped model, not drawings on its "
                                  f"own: train it from the command line (`python -m mnist_demo train --model "
                                  f"{model}`).")
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
        """`owner` has left: stop their training, if any, and delete their weights file and other files;
        the stopped training keeps no weights file."""
        self.stop(owner)
        self.files.forget(owner)

    def draw_ahead(self, base: Path | LoadedModel, settings: FitSettings) -> bool:
        """Start drawing what a fit reads besides the visitor's drawings (`finetune.draw_ahead`), in the
        background and once per server, so that the first fit is as quick as the next: the app calls it
        when a visitor starts a collection, long before they have enough drawings to fit. True if started."""
        if not self.settings.allow_training or self._drawing_ahead.is_set():
            return False
        self._drawing_ahead.set()

        def work() -> None:
            try:
                draw_ahead(base, settings)
            except Exception:  # e.g. no pen digits here: the fit itself says so, when it is asked for
                pass

        threading.Thread(target=work, name="mnist_demo-draw-ahead", daemon=True).start()
        return True

    def drawings_ready(self, recipe: Recipe, seed: int = SEED) -> bool:
        """Whether the drawn sets `recipe` adds are rendered already (in `drawn_cache`): preparing then
        takes seconds, not a minute or two."""
        return already_drawn(recipe, seed)

    def run(self, owner: str | None, model: str, recipe: Recipe, seed: int = SEED) -> Iterator[Event]:
        """Train `model` for `owner`: yields Progress, EpochResult, then one TrainingReport.

        Raises TrainingRefused before anything runs when the server is busy or the
        settings are not allowed. Closing the generator early stops the training.
        """
        self.check(model, recipe)

        def prepare(folder: Path) -> Callable[[_Stop, Callable[[Any], None]], None]:
            train_data, test_data = self.data()
            config = TrainConfig(model=model, recipe=recipe, seed=seed, device=self.settings.device)
            return functools.partial(self._work, config, train_data, test_data)

        yield from self._slot(owner, f"training-{model}", prepare)

    def fit(self, owner: str | None, base: Reader | Path, collection: Collection, settings: FitSettings,
            folds: int = 3) -> Iterator[Event | Assessment]:
        """Fit `base` (the model `owner` draws with) to their drawings: yields Progress, EpochResult, a
        TrainingReport with the fitted model, then an Assessment (before/after on drawings kept out of
        each fit; `folds` < 2: none). Takes the one training slot, and stops with Stop, as a training does.
        """
        if not self.settings.allow_training:
            raise TrainingRefused("Fitting is training: it is turned off on this server "
                                  "(MNIST_DEMO_ALLOW_TRAINING=0). Run the app on your own machine: `python app.py`.")
        if len(collection) < self.settings.fit_min_drawings:
            raise TrainingRefused(f"Fit to my hand needs at least {self.settings.fit_min_drawings} of your drawings; "
                                  f"you have {len(collection)}. Say which digit each reading was in the Draw tab.")
        drawings = Split(*collection.tensors())
        base = base if isinstance(base, Reader) else Reader.load(base, "cpu")

        def prepare(folder: Path) -> Callable[[_Stop, Callable[[Any], None]], None]:
            folder.mkdir(parents=True, exist_ok=True)
            base_file = base.save(folder / "base.safetensors")  # what the fit's process reads
            test_data = self.data()[1].subset(settings.test_digits)  # the digits the fit's epoch is tested on
            return functools.partial(self._fit_work, base, str(base_file), drawings, settings, folds, test_data)

        yield from self._slot(owner, "fit-to-hand", prepare)

    def _slot(self, owner: str | None, name: str,
              prepare: Callable[[Path], Callable[[_Stop, Callable[[Any], None]], None]]) -> Iterator[Any]:
        """The one slot: `prepare(visitor's folder)` returns the work, run in a thread that puts its events;
        they are yielded here until it ends. Leaving early (or the visitor leaving) stops it."""
        if not owner:  # nobody could stop it, and its files would be nobody's to delete
            raise TrainingRefused(NO_SESSION)
        if not self._lock.acquire(blocking=False):
            raise TrainingRefused("Another training is running on this server; try again when it ends.")
        stop = _Stop(self.files.stop_file(owner), self.files.begin(owner))
        events: queue.Queue = queue.Queue()
        worker: threading.Thread | None = None
        folder = self.files.folder(owner, Part.TRAININGS)
        try:
            shutil.rmtree(folder, ignore_errors=True)  # the visitor's previous download goes
            work = prepare(folder)
            self._stops[owner] = stop
            # In this request's context: on ZeroGPU, spaces.GPU finds the visitor (and their quota) there.
            worker = threading.Thread(target=contextvars.copy_context().run, name=name,
                                      args=(self._thread, work, stop, events), daemon=True)
            worker.start()
            while True:
                event = events.get()
                if event is _END:
                    return
                if isinstance(event, BaseException):
                    raise TrainingFailed(f"Training failed: {type(event).__name__}: {event}") from event
                yield event
        finally:
            stop.set()  # a visitor who leaves mid-training frees the server within one batch
            if worker is not None:
                worker.join()
            stop.file.clear()
            if self.files.end(stop.errand):  # the visitor left meanwhile: what prepare wrote goes too
                shutil.rmtree(folder, ignore_errors=True)
            self._stops.pop(owner, None)
            self._lock.release()

    @staticmethod
    def _thread(work: Callable[[_Stop, Callable[[Any], None]], None], stop: _Stop, events: queue.Queue) -> None:
        try:
            work(stop, events.put)
        except BaseException as exc:  # handed to the visitor's generator, which raises it there
            events.put(exc)
        finally:
            events.put(_END)

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
              put: Callable[[Any], None]) -> None:
        threads = torch.get_num_threads()
        if self.settings.train_in_process:  # torch's threads are the whole process's: the readings' too
            torch.set_num_threads(self.settings.train_threads)
        try:
            for event in self._events(config, train_data, test_data, stop):
                if isinstance(event, TrainingDone):
                    put(self._report(config.model, event, test_data,
                                     f"{config.model}-{len(event.history)}-epochs.safetensors", stop))
                else:
                    put(event)
        finally:
            torch.set_num_threads(threads)

    def _fit_work(self, base: Reader, base_file: str, drawings: Split, settings: FitSettings, folds: int,
                  test_data: Split, stop: _Stop, put: Callable[[Any], None]) -> None:
        """A fit and its assessment in a process of their own (so they share one load of MNIST and the pen
        samples), or in this process when the settings say trainings run here (tests, debugging)."""
        s = self.settings
        args = (base_file, drawings, settings, str(s.resolved_data_dir()), str(stop.file.path))
        # On a ZeroGPU Space too: a fit is a CPU-sized job (tens of seconds), not worth a GPU worker's quota.
        if s.train_in_process:
            events = finetune_and_assess_elsewhere(*args, threads=torch.get_num_threads(), folds=folds)
        else:
            events = in_subprocess(*args, threads=s.train_threads, folds=folds, worker=finetune_and_assess_elsewhere)
        for event in events:
            if isinstance(event, TrainingDone):
                name = event.loaded.name if event.loaded is not None else "model"
                put(self._report(name, event, test_data, f"{name}-fitted-to-your-hand.safetensors", stop, base))
            else:
                put(event)

    def _report(self, model: str, done: TrainingDone, test_data: Split, file_name: str, stop: _Stop,
                base: Reader | None = None) -> TrainingReport:
        """The training's result, its weights saved as `file_name` in the visitor's folder unless they have
        left. `base`: the reader a fit started from; its file is then the fitted reader's, stroke reader and all."""
        report = TrainingReport(model, done.history, done.stopped, done.loaded, notes=list(done.notes))
        if done.loaded is not None:
            device = next(done.loaded.model.parameters()).device
            # The engine evaluated the kept model in its epoch; only a resumed run's kept epoch predates it.
            report.evaluation = done.evaluation or evaluate(done.loaded.model, test_data, device)
            report.test_data = test_data
            with self.files.writing(stop.errand, Part.TRAININGS) as folder:
                if folder is not None:
                    path = folder / file_name
                    report.weights_file = (base.with_picture(done.loaded).save(path) if base is not None
                                           else done.save(path, with_optimizer=False))
        return report
