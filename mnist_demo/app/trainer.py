"""Training for the web app's visitors: one at a time, in a process of its own, stoppable by its owner.

`Trainer.run()` yields the engine's Progress and EpochResult events, then a
`TrainingReport` with the kept model, its test evaluation and its weights file
(in a temp folder of the visitor's own, `visitor_files`, never in weights/). `Trainer.fit()` fits
a visitor's model to their drawings (`personal.finetune`) in the same one slot,
stoppable the same way, then yields `personal.assess`'s before/after. Anything
that keeps a training from starting raises `TrainingRefused` with a message for people
(`app.limits`: what this server allows); a training that runs past the server's time
limit stops itself, keeping the best model so far. `Trainer.warm_up()` gets the next
training ready before anyone asks for it (MNIST loaded, its process started).
"""

from __future__ import annotations

import contextvars
import functools
import queue
import shutil
import threading
import weakref
from pathlib import Path
from threading import Timer
from typing import Any, Callable, Iterator

import torch

from mnist_demo.app import limits
from mnist_demo.app.hosting import gpu_training
from mnist_demo.app.limits import TrainingRefused
from mnist_demo.app.report import TrainingFailed, TrainingReport, make_report
from mnist_demo.app.settings import ALLOW_TRAINING_VAR, AppSettings
from mnist_demo.app.visitor_files import Errand, Part, VisitorFiles
from mnist_demo.base.recipe import Recipe
from mnist_demo.personal.assess import Assessment, finetune_and_assess_elsewhere
from mnist_demo.personal.collection import Collection
from mnist_demo.personal.finetune import FitSettings, draw_ahead
from mnist_demo.reading.reader import Reader
from mnist_demo.training.data import DataUnavailable, Split, load_mnist, preload_mnist
from mnist_demo.training.drawn_data import already_drawn
from mnist_demo.training.engine import EpochResult, Progress, TrainConfig, TrainingDone, train
from mnist_demo.training.remote import train_elsewhere
from mnist_demo.training.standby import NextProcess, Standby, Stop, in_background

NO_SESSION = ("A training needs a session of its own, to stop it and to keep its model: train from the page, "
              "or call the API with gradio_client (a raw HTTP call without a session_hash has none).")
__all__ = ["Trainer", "TrainingFailed", "TrainingRefused", "TrainingReport"]


Event = Progress | EpochResult | TrainingReport
SEED = 1  # of every training the app runs: the same recipe gives the same model
_END = object()  # the work's thread has ended (after its last event, or its exception)


class _Stop(Stop):
    """A visitor's Stop (`training.standby.Stop`), with the training's errand, which keeps no model once its
    visitor has left."""

    def __init__(self, path: Path, errand: Errand) -> None:
        super().__init__(path)
        self.errand = errand


class Trainer:
    """Runs one training at a time on this server; each visitor (owner) can stop only their own.

    On a ZeroGPU Space a training runs in a `spaces.GPU` worker process (`hosting.gpu_training`);
    elsewhere in a process of its own (a `training.standby.Standby`, readied before it is asked for), or
    in a thread of this process when the settings say so (`train_in_process`).
    """

    def __init__(self, settings: AppSettings, gpu: Callable[..., Iterator[Any]] | None = None) -> None:
        self.settings = settings
        self.gpu = gpu if gpu is not None else gpu_training()
        self._lock = threading.Lock()
        self._drawing_ahead = threading.Event()
        self._stops: dict[str, Stop] = {}
        self._data: tuple[Split, Split] | None = None
        self._data_lock = threading.Lock()
        # Where trainings run in a process of our own: the next one's, started with MNIST loaded (`warm_up`).
        separate = self.gpu is None and not settings.train_in_process
        self._next = NextProcess(preload_mnist, str(settings.resolved_data_dir())) if separate else None
        self._warm = False
        self.files = VisitorFiles()  # every visitor's folders: theirs alone, gone with `forget`

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    def recipe_for(self, model: str, **changes: Any) -> Recipe:
        """The model's registry recipe with `changes`; raises TrainingRefused for unknown models or values out
        of range (`limits.recipe_for`)."""
        return limits.recipe_for(self.settings, model, **changes)

    def check(self, model: str, recipe: Recipe) -> None:
        """Raise TrainingRefused if this server would not run this training (`limits.check`)."""
        limits.check(self.settings, model, recipe, on_gpu=self.gpu is not None)

    def data(self) -> tuple[Split, Split]:
        """MNIST (cut to the settings' limits), loaded once; raises TrainingRefused when it cannot be had."""
        with self._data_lock:
            if self._data is None:
                try:
                    train_split, test_split = load_mnist(self.settings.resolved_data_dir())
                except DataUnavailable as exc:
                    raise TrainingRefused(f"Training needs MNIST, and it is not available here: {exc}") from None
                self._data = (train_split.subset(self.settings.train_limit),
                              test_split.subset(self.settings.test_limit))
            return self._data

    def warm_up(self) -> bool:
        """Get the next training ready, in the background: MNIST loaded here, and the process it will run in
        started with MNIST loaded (a `Standby`; on ZeroGPU, MNIST loaded before the GPU worker is forked from
        here). The server calls it as it starts, the page when a visitor opens the Train tab; from then on each
        training's end readies the next. False when training is off or this was done already."""
        with self._data_lock:
            if not self.settings.allow_training or self._warm:
                return False
            self._warm = True
        data_dir = self.settings.resolved_data_dir()

        def load() -> None:
            try:
                if self.gpu is not None:
                    preload_mnist(data_dir)
                self.data()
            except (TrainingRefused, DataUnavailable):  # the training says so, when it is asked for
                pass

        # Not a daemon: the interpreter waits for it as it exits (a few seconds at most), since a daemon thread
        # still inside torch then would abort the process on Python < 3.14.
        threading.Thread(target=load, name="mnist_demo-warm-up").start()
        if self._next is not None:
            self._next.restock()
            weakref.finalize(self, self._next.close)
        return True

    def ready(self) -> bool:
        """Whether a training asked for now would start at once: MNIST loaded, its process waiting."""
        return self._data is not None and (self._next is None or self._next.ready())

    def close(self) -> None:
        """End the process standing by for the next training, if any (a training under way goes on)."""
        if self._next is not None:
            self._next.close()

    def _process(self) -> Standby:
        """The process for the training about to start: the one standing by, else a new one."""
        return self._next.take() if self._next is not None else Standby()

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

    def draw_ahead(self, weights: Path, settings: FitSettings) -> bool:
        """Start drawing what a fit of `weights` reads besides the visitor's drawings (`finetune.draw_ahead`), in
        a process of its own (`standby.in_background`) and once per server, so that the first fit is as quick
        as the next: the app calls it when a visitor starts a collection, long before they have enough drawings
        to fit. True if started."""
        if not self.settings.allow_training or self._drawing_ahead.is_set():
            return False
        self._drawing_ahead.set()
        in_background(draw_ahead, Path(weights), settings, name="mnist_demo-draw-ahead")
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

        def prepare(folder: Path) -> Callable[[Stop, Callable[[Any], None]], None]:
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
            raise TrainingRefused(f"Fitting is training: it is turned off on this server ({ALLOW_TRAINING_VAR}=0). "
                                  "Run the app on your own machine: `python app.py`.")
        if len(collection) < self.settings.fit_min_drawings:
            raise TrainingRefused(f"Fit to my hand needs at least {self.settings.fit_min_drawings} of your drawings; "
                                  f"you have {len(collection)}. Say which digit each reading was in the Draw tab.")
        drawings = Split(*collection.tensors())
        base = base if isinstance(base, Reader) else Reader.load(base, "cpu")

        def prepare(folder: Path) -> Callable[[Stop, Callable[[Any], None]], None]:
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
        # Nobody holds the one slot for long: the training stops itself, keeping the best model so far.
        clock = Timer(self.settings.max_train_seconds, stop.expire)
        clock.daemon = True
        clock.start()
        self._stops[owner] = stop  # from now: a Stop while it prepares ends it at its first batch
        try:
            shutil.rmtree(folder, ignore_errors=True)  # the visitor's previous download goes
            work = prepare(folder)
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
            clock.cancel()
            stop.set()  # a visitor who leaves mid-training frees the server within one batch
            if worker is not None:
                worker.join()
            stop.file.clear()
            if self.files.end(stop.errand):  # the visitor left meanwhile: what prepare wrote goes too
                shutil.rmtree(folder, ignore_errors=True)
            self._stops.pop(owner, None)
            self._lock.release()
            if self._warm and self._next is not None:
                self._next.restock()  # the next training's process, while nobody trains

    @staticmethod
    def _thread(work: Callable[[Stop, Callable[[Any], None]], None], stop: Stop, events: queue.Queue) -> None:
        try:
            work(stop, events.put)
        except BaseException as exc:  # handed to the visitor's generator, which raises it there
            events.put(exc)
        finally:
            events.put(_END)

    def _events(self, config: TrainConfig, train_data: Split, test_data: Split, stop: Stop) -> Iterator[Any]:
        """The training's events: from a ZeroGPU worker, a process of its own, or this process."""
        s = self.settings
        elsewhere = dict(data_dir=str(s.resolved_data_dir()), stop_path=str(stop.file.path),
                         train_limit=s.train_limit, test_limit=s.test_limit)
        if self.gpu is not None:
            return self.gpu(config, **elsewhere)
        if not s.train_in_process:
            return self._process().run(train_elsewhere, config, **elsewhere, threads=s.train_threads)
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
            events = self._process().run(finetune_and_assess_elsewhere, *args, threads=s.train_threads, folds=folds)
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
        time_note = limits.stopped_at_time_limit(self.settings) if stop.expired else None
        report = make_report(model, done, test_data, time_note)
        if done.loaded is not None:
            with self.files.writing(stop.errand, Part.TRAININGS) as folder:
                if folder is not None:
                    path = folder / file_name
                    report.weights_file = (base.with_picture(done.loaded).save(path) if base is not None
                                           else done.save(path, with_optimizer=False))
        return report
