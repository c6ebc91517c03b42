"""Fit a model to one visitor's handwriting in seconds, through the one training engine.

The recipe: start from the model the visitor draws with and train briefly, at a low
learning rate, on a small random sample of MNIST and of the training writers' pen
digits, plus the visitor's drawings repeated so they make up `share` of what the
model sees (repetition is the weighting: the engine's loss has no sample weights,
and its "drawn" augmentation makes each repeat a little different). The MNIST and
pen samples are what keeps the model from forgetting everyone else's digits.

How it uses the engine (`training.engine.train`): the extra data goes in through
`train(..., train_data=...)`, already assembled, and the start is `TrainConfig.init_from`:
the base's weights with the fit's own optimizer, schedule and history. The base, file or
model, is only read.

`finetune` yields the engine's own events (so the Train tab's live plot shows a
fit as it shows a training); `fit` runs it to the end; `finetune_elsewhere` runs it
in another process as the app runs trainings. `personal.assess` measures it.
"""

from __future__ import annotations

import functools
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from mnist_demo.base.recipe import Recipe
from mnist_demo.handwriting.pen_digits import (
    TRAIN_WRITERS,
    default_path,
    load_pen_digits,
    pen_digits_file,
    pen_training_images,
)
from mnist_demo.models.checkpoint import LoadedModel
from mnist_demo.models.registry import get_spec, output_count
from mnist_demo.personal.collection import Collection, CollectionError
from mnist_demo.reading.reader import Reader
from mnist_demo.training.calibration_data import calibration_data, recalibrate
from mnist_demo.training.data import Split, load_mnist
from mnist_demo.training.drawn_cache import cached
from mnist_demo.training.drawn_data import drawn_data
from mnist_demo.training.engine import STARTED_FROM, Event, TrainConfig, TrainingDone, train
from mnist_demo.training.remote import portable
from mnist_demo.training.standby import StopFile

Base = str | os.PathLike | Reader  # a weights file, or a reader already loaded (the visitor's own)


@dataclass(frozen=True)
class FitSettings:
    """How big a fit is: sized for under 30 s on two CPU cores with drawnet (see benchmarks/personal.py)."""

    mnist: int = 6000  # MNIST training digits, a random sample: what keeps MNIST's accuracy
    pen: int = 1500  # pendigits' training writers' digits (1-17), one rendering each: other people's hands
    share: float = 0.2  # of the samples an epoch, the visitor's drawings (by repetition)
    max_repeats: int = 40  # a drawing is not shown more often than this an epoch: 100 cost MNIST more, taught less
    epochs: int = 1  # a second epoch gained nothing on the held-out writers (benchmarks/personal.py)
    lr: float = 0.01  # SGD's peak (one cycle): a tenth of drawnet's own; 0.02 cost MNIST more for the same gain
    batch_size: int = 128
    augment: str = "drawn"  # repeats of a drawing must differ, or the model learns them by heart
    test_digits: int = 2000  # MNIST test digits the engine evaluates each epoch (the whole set costs ~4 s)
    non_digits: int = 500  # at most this many made-up non-digits, for a model that was taught "not a digit"
    seed: int = 0

    @property
    def training_seed(self) -> int:
        """The seed of the fit's training run (its order, its made-up non-digits), apart from its samples'."""
        return self.seed + 1

    def repeats(self, drawings: int) -> int:
        """How often each drawing goes into an epoch so the drawings are `share` of it."""
        if drawings == 0:
            return 0
        others = self.mnist + self.pen
        return int(min(self.max_repeats, max(1, round(self.share / (1 - self.share) * others / drawings))))


# ------------------------------------------------------------ data


@functools.lru_cache(maxsize=2)
def _mnist(data_dir: str | None) -> tuple[Split, Split]:
    """MNIST, read once per process (about 3 s): a visitor's fit and its assessment share it."""
    return load_mnist(data_dir)


@functools.lru_cache(maxsize=4)
def _pen_sample(n: int, seed: int) -> Split:
    """`n` pen digits of pendigits' training writers, one rendering each (1.5 s a thousand, so kept in memory
    and on disk: a fit in the app runs in a new process). They ship with the package; without them
    `PenDigitsUnavailable` says where they should be."""
    pen_digits_file()  # missing strokes are an error even where the cache holds a sample

    def render() -> Split:
        digits = [d for d in load_pen_digits() if d.writer in TRAIN_WRITERS]
        rng = np.random.default_rng(seed)
        chosen = [digits[i] for i in rng.permutation(len(digits))[:n]]
        return Split(*pen_training_images(chosen, renders_per_digit=1, seed=seed))

    return cached("fit-pen-sample", {"n": n, "seed": seed}, render, (default_path(),))


def training_split(drawings: Split, settings: FitSettings, mnist_train: Split) -> tuple[Split, list[str]]:
    """What a fit trains on: MNIST and pen samples plus the drawings repeated; and notes saying so."""
    g = torch.Generator().manual_seed(settings.seed)
    pick = torch.randperm(len(mnist_train), generator=g)[:settings.mnist]
    parts = [Split(mnist_train.images[pick], mnist_train.labels[pick])]
    notes = [f"fine-tune: {len(pick)} MNIST training digits"]
    if settings.pen > 0:
        pen = _pen_sample(settings.pen, settings.seed)
        parts.append(pen)
        notes.append(f"fine-tune: {len(pen)} pen digits of the training writers")
    r = settings.repeats(len(drawings))
    parts.append(Split(drawings.images.repeat(r, 1, 1), drawings.labels.repeat(r)))
    notes.append(f"fine-tune: the visitor's {len(drawings)} drawings, each {r} times")
    return Split(torch.cat([p.images for p in parts]), torch.cat([p.labels for p in parts])), notes


def draw_ahead(base: Base, settings: FitSettings = FitSettings()) -> None:
    """Draw and keep on disk (`drawn_cache`) what a fit of `base` reads besides the visitor's drawings: its
    pen sample, its made-up non-digits, and the calibration writers' drawings its confidence is fitted on.
    A fit in the app runs in a process of its own, so without this the first one on a fresh server draws
    them itself (about 15 s more on two cores)."""
    picture = load_base(base).picture
    if settings.pen > 0:
        _pen_sample(settings.pen, settings.seed)
    drawn_data(fit_recipe(picture, settings), settings.training_seed, output_count(picture.model), [])
    calibration_data(settings.seed)


def as_split(drawings: Collection | Split) -> Split:
    return drawings if isinstance(drawings, Split) else Split(*drawings.tensors())


# ------------------------------------------------------------ the fit


def load_base(base: Base) -> Reader:
    return base if isinstance(base, Reader) else Reader.load(base, "cpu")


def fit_recipe(base: LoadedModel, settings: FitSettings) -> Recipe:
    """The base model's own recipe (so whatever else it trains with, e.g. non-digits, still comes in),
    turned into a short low-rate one-cycle SGD run with our data (pen digits come from `training_split`)."""
    own = base.info.get("recipe")
    recipe = Recipe.from_dict(own) if isinstance(own, dict) else get_spec(base.name).recipe
    changes: dict[str, Any] = {}
    if recipe.non_digits:  # a few keep the "not a digit" class alive; the base recipe's tens of thousands would swamp
        changes["non_digits"] = min(recipe.non_digits, settings.non_digits)
    return recipe.with_changes(optimizer="sgd", lr=settings.lr, momentum=0.9, epochs=settings.epochs,
                               schedule="onecycle", batch_size=settings.batch_size, val_split=0.0,
                               pen_digits=False, augment=settings.augment, **changes)


def finetune(base: Base, drawings: Collection | Split, settings: FitSettings = FitSettings(), *,
             data_dir: str | os.PathLike | None = None, mnist: tuple[Split, Split] | None = None,
             device: str | None = None,
             stop: threading.Event | Any | None = None, probe_seconds: float | None = 2.0,
             confidence: bool = True) -> Iterator[Event]:
    """Fit `base` to the drawings; yields the engine's Progress, EpochResult and TrainingDone.

    The TrainingDone's picture model is a new one (`base` and its file are untouched); its
    info says what it was fitted from under "finetuned_from". `probe_seconds`: how often
    the live plot gets an accuracy on 1,000 test digits (None: never, for fits nobody watches).
    `confidence`: fit the fitted model's calibrations anew (`training.calibration_data.recalibrate`: read alone,
    and beside the stroke reader its base reads with, so it reads the pad's paths too; a second or two); else
    it carries its base's over. `Reader.with_picture` makes the fitted model the base reader's.
    """
    split = as_split(drawings)
    if len(split) == 0:
        raise CollectionError("there are no drawings to fit the model to: correct or confirm a few readings first")
    reader = load_base(base)
    loaded = reader.picture
    mnist_train, mnist_test = mnist or _mnist(None if data_dir is None else str(data_dir))
    train_data, notes = training_split(split, settings, mnist_train)
    recipe = fit_recipe(loaded, settings)
    config = TrainConfig(model=loaded.name, recipe=recipe, model_args=dict(loaded.info.get("model_args", {})),
                         seed=settings.training_seed, device=device, init_from=loaded, probe_seconds=probe_seconds)
    for event in train(config, train_data=train_data, test_data=mnist_test.subset(settings.test_digits), stop=stop):
        if isinstance(event, TrainingDone):
            source_name = Path(base).name if not isinstance(base, Reader) else f"the visitor's {loaded.name}"
            # The engine knows only "a loaded drawnet"; this names the file, or says it was the visitor's.
            event.notes[:] = notes + [f"fine-tune: {STARTED_FROM} {source_name}" if n.startswith(STARTED_FROM) else n
                                      for n in event.notes]
            if event.loaded is not None:
                if confidence:
                    recalibrate(event.loaded, reader, settings.seed, event.notes)
                elif "calibrations" in loaded.info:
                    # A short low-rate fit with the same label smoothing keeps the base's confidence scale
                    # closely enough for what it is used for (a before/after of top answers).
                    event.loaded.info["calibrations"] = loaded.info["calibrations"]
                    event.notes.append("fine-tune: calibrations carried over from the base model")
                event.loaded.info["notes"] = list(event.notes)
                event.loaded.info["finetuned_from"] = {
                    "model": loaded.name, "file": None if isinstance(base, Reader) else Path(base).name,
                    "test_accuracy": loaded.test_accuracy, "drawings": len(split),
                    "repeats": settings.repeats(len(split)), "settings": asdict(settings)}
        yield event


def fit(base: Base, drawings: Collection | Split, settings: FitSettings = FitSettings(), **kwargs: Any) -> LoadedModel:
    """`finetune` run to its end: the fitted model. Raises RuntimeError if it was stopped before its first epoch."""
    done = None
    for event in finetune(base, drawings, settings, **kwargs):
        if isinstance(event, TrainingDone):
            done = event
    if done is None or done.loaded is None:
        raise RuntimeError("the fit was stopped before its first epoch ended: no fitted model")
    return done.loaded


def finetune_elsewhere(base: str, drawings: Split, settings: FitSettings, data_dir: str | None, stop_path: str,
                       threads: int = 1) -> Iterator[Event]:
    """`finetune` for another process (a process of our own, or a ZeroGPU worker; `training.remote`):
    arguments that pickle (a weights path, the drawings' tensors), a stop file, portable events."""
    torch.set_num_threads(threads)
    for event in finetune(base, drawings, settings, data_dir=data_dir, stop=StopFile(Path(stop_path))):
        yield portable(event)
