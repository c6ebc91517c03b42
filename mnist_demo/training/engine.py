"""The one training engine behind the CLI, the app and the tests.

`train()` is a generator: it yields `Progress` within an epoch (at least every
`progress_seconds` of training: the running loss and accuracy, and every
`probe_seconds` the accuracy on a fixed part of the test set), an `EpochResult`
after each epoch (the whole test set), and a final `TrainingDone` with the kept
model. The CLI prints what it yields, the app plots it, the tests check it.
The clock in these events counts training only, not the evaluations.
"""

from __future__ import annotations

import copy
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mnist_demo.base.devices import pick_device
from mnist_demo.base.mnist import normalize
from mnist_demo.base.recipe import Recipe, make_optimizer, make_schedule
from mnist_demo.base.strokes import STROKE_FEATURES_VERSION
from mnist_demo.models.checkpoint import (
    PICTURE,
    LoadedModel,
    load_models,
    load_optimizer_state,
    load_weights,
    make_info,
    save_weights,
)
from mnist_demo.models.registry import DEFAULT_MODEL, Inputs, get_spec, output_count
from mnist_demo.training.augment import DrawnAugment
from mnist_demo.training.calibration_data import calibrate_trained, given_lowering
from mnist_demo.training.data import Split, load_mnist
from mnist_demo.training.drawn_data import drawn_data
from mnist_demo.training.evaluation import EvalResult, evaluate
from mnist_demo.training.filters import first_layer_filters
from mnist_demo.training.stroke_data import stroke_splits


@dataclass
class TrainConfig:
    model: str = DEFAULT_MODEL
    recipe: Recipe | None = None  # None: the model's own recipe from the registry
    model_args: dict[str, Any] = field(default_factory=dict)
    seed: int = 1
    device: str | None = None  # None: CUDA, then MPS, then CPU
    data_dir: str | None = None
    train_limit: int | None = None  # first N training samples (quick runs, tests, the app's demo mode)
    test_limit: int | None = None
    resume: str | None = None  # a checkpoint saved with its optimizer state: continue its run
    # Start a new run (fresh optimizer, schedule and history) from these weights, a file or a model
    # already loaded: a fine-tune. They are only read. Not with `resume`.
    init_from: str | Path | LoadedModel | None = None
    progress_every: int = 20  # batches between Progress events...
    progress_seconds: float = 0.5  # ...or seconds of training, whichever comes first
    first_progress: int = 3  # the run's first Progress after this many batches: a plot has a point at once
    probe_seconds: float | None = 3.0  # seconds of training between probes of the test set (None: never)
    probe_size: int = 1000  # the first N test digits: a fixed part, so probes compare

    def resolved_recipe(self) -> Recipe:
        return self.recipe or get_spec(self.model).recipe


@dataclass
class Progress:
    epoch: int
    batch: int
    batches: int
    loss: float  # running mean of the training loss in this epoch
    accuracy: float = 0.0  # running accuracy on this epoch's training batches so far
    seconds: float = 0.0  # training time since the run began (evaluations not counted)
    probe_accuracy: float | None = None  # on the fixed test part, when probed at this event
    filters: np.ndarray | None = field(default=None, repr=False)  # first layer's, when probed (filters.py)
    # The live model, for a look mid-epoch (first-layer filters, an evaluation); not for keeping.
    model: nn.Module | None = field(default=None, repr=False, compare=False)

    @property
    def fraction(self) -> float:
        return self.batch / max(self.batches, 1)

    @property
    def epochs_done(self) -> float:
        """Where training is, in epochs: 2.5 is half-way through the third."""
        return self.epoch - 1 + self.fraction


@dataclass
class EpochResult:
    epoch: int
    epochs: int
    train_loss: float
    test_loss: float
    test_accuracy: float
    per_class_accuracy: list[float]
    seconds: float
    lr: float
    val_loss: float | None = None
    kept: bool = True  # this epoch's model is the one kept so far
    train_accuracy: float | None = None  # on the epoch's training batches, as they were seen
    elapsed: float | None = None  # training time since the run began, at this epoch's end

    def summary(self) -> str:
        val = f" val_loss {self.val_loss:.4f}" if self.val_loss is not None else ""
        acc = f" train_acc {100 * self.train_accuracy:.2f}%" if self.train_accuracy is not None else ""
        return (f"epoch {self.epoch}/{self.epochs}  train_loss {self.train_loss:.4f}{acc}{val}  "
                f"test_loss {self.test_loss:.4f}  test_acc {100 * self.test_accuracy:.2f}%  "
                f"{self.seconds:.1f}s")

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class TrainingDone:
    loaded: LoadedModel | None  # None when stopped before the first epoch ended
    history: list[EpochResult]
    stopped: bool
    optimizer: torch.optim.Optimizer | None = None
    notes: list[str] = field(default_factory=list)
    evaluation: EvalResult | None = None  # the kept model on the test set, from its epoch's evaluation

    def save(self, path: str | Path, with_optimizer: bool = True) -> Path:
        if self.loaded is None:
            raise RuntimeError("no model to save: training stopped before its first epoch ended")
        return save_weights(path, self.loaded.model, self.loaded.info,
                            self.optimizer if with_optimizer else None)

    def print_and_save(self, path: str | Path, echo: Callable[[str], Any] = print) -> Path | None:
        """What a command line does at the end: print the notes, save the model (None when there is none)."""
        for note in self.notes:
            echo(f"note: {note}")
        if self.loaded is None:
            echo("stopped before the first epoch ended: nothing saved")
            return None
        return self.save(path)


Event = Progress | EpochResult | TrainingDone


def _split_validation(train: Split, fraction: float, seed: int) -> tuple[Split, Split | None]:
    if fraction <= 0:
        return train, None
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(train), generator=g)
    n_val = int(len(train) * fraction)
    val_idx, train_idx = order[:n_val], order[n_val:]
    return Split(train.images[train_idx], train.labels[train_idx]), Split(train.images[val_idx], train.labels[val_idx])


STARTED_FROM = "started from the weights of"  # the note of a run with init_from; a caller may name them better


def _name_of(weights: str | Path | LoadedModel) -> str:
    return f"a loaded {weights.name}" if isinstance(weights, LoadedModel) else Path(weights).name


def train(config: TrainConfig, *, train_data: Split | None = None, test_data: Split | None = None,
          stop: threading.Event | Any | None = None) -> Iterator[Event]:
    """Train `config.model`; yields Progress, EpochResult per epoch, then TrainingDone.

    Setting `stop` ends training within one batch and keeps the best model so far.
    """
    if config.init_from is not None and config.resume:
        raise ValueError("init_from starts a new run from given weights and resume continues a run: give one")
    recipe = config.resolved_recipe()
    spec = get_spec(config.model)
    device = pick_device(config.device)
    notes: list[str] = []
    pictures = spec.inputs is Inputs.IMAGE  # else a stroke reader: it learns and is tested on pen paths
    if train_data is None or test_data is None:
        loaded_train, loaded_test = (load_mnist(config.data_dir) if pictures
                                     else stroke_splits(recipe, config.seed, notes))
        train_data = train_data or loaded_train
        test_data = test_data or loaded_test
    train_data, test_data = train_data.subset(config.train_limit), test_data.subset(config.test_limit)
    train_data, val_data = _split_validation(train_data, recipe.val_split, config.seed)
    torch.manual_seed(config.seed)
    start = resumed = None
    if config.init_from is not None:
        # A file may be a bundle (the Draw tab's reader): its model of this name.
        found = [config.init_from] if isinstance(config.init_from, LoadedModel) else \
            list(load_models(config.init_from, "cpu").values())
        start = next((m for m in found if m.name == config.model), None)
        if start is None:
            raise ValueError(f"init_from holds {' and '.join(m.name for m in found)}, not a {config.model}")
    # A run from given weights is that model, with the arguments it was made with unless told otherwise.
    given_args = start.info.get("model_args", {}) if start is not None else {}
    model_args = {**spec.default_args, **given_args, **config.model_args}
    model = spec.create(**model_args).to(device)
    if start is not None:
        try:
            model.load_state_dict(start.model.state_dict())  # copies: the given model is never trained in place
        except RuntimeError as e:  # same model, other arguments (e.g. 10 outputs, not 11)
            raise ValueError(f"init_from's {start.name} was made with other arguments than {model_args}: "
                             f"{str(e).splitlines()[0]}") from None
        notes.append(f"{STARTED_FROM} {_name_of(config.init_from)}")
    # Pictures are read with "not a digit" lowered as the run is given (`reading.calibration`) until a fit
    # after training finds its own.
    given = given_lowering(recipe.other_offset, start, f"the weights of {_name_of(config.init_from)}" if start else "")
    offset = given.offset if pictures else 0.0
    classes = output_count(model)
    extra = drawn_data(recipe, config.seed, classes, notes) if pictures else []
    if extra:
        train_data = Split(torch.cat([train_data.images] + [e.images for e in extra]),
                           torch.cat([train_data.labels] + [e.labels for e in extra]))
    if pictures and device.type != "mps":
        model = model.to(memory_format=torch.channels_last)  # ~1.3x faster convolutions on CPU
    optimizer = make_optimizer(recipe, model.parameters())
    steps_per_epoch = -(-len(train_data) // recipe.batch_size)
    scheduler, per_batch = make_schedule(recipe, optimizer, steps_per_epoch)
    history: list[EpochResult] = []
    start_epoch = 1
    if config.resume:
        resumed = load_weights(config.resume, device, expect_model=config.model)
        model.load_state_dict(resumed.model.state_dict())
        history = [EpochResult(**h) for h in resumed.info.get("history", [])]
        start_epoch = len(history) + 1
        if scheduler is not None:  # fast-forward rather than store the scheduler's state
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "scheduler.step() before optimizer.step()" is intended here
                for _ in range(len(history) * (steps_per_epoch if per_batch else 1)):
                    scheduler.step()
        # After the fast-forward, so the saved learning rates are the ones that count.
        load_optimizer_state(config.resume, optimizer, resumed.info)
        notes.append(f"resumed from {config.resume} after epoch {len(history)}")

    augment = DrawnAugment() if recipe.augment == "drawn" and pictures else None
    images = train_data.images.to(device)
    labels = train_data.labels.to(device)
    best_state = copy.deepcopy(model.state_dict()) if history else None
    val_losses = [h.val_loss for h in history if h.val_loss is not None]
    best_score = min(val_losses) if val_losses else None
    best_epoch = len(history)
    best_eval: EvalResult | None = None  # a resumed run's kept epoch was evaluated before it
    stopped = False

    probe = test_data.subset(config.probe_size)
    clock = (history[-1].elapsed or 0.0) if history else 0.0  # training seconds, evaluations not counted
    last_probe = clock  # probes keep their pace across epochs
    for epoch in range(start_epoch, recipe.epochs + 1):
        # Per-epoch seeds make a resumed run see the same batches as an uninterrupted one.
        torch.manual_seed(config.seed * 1000 + epoch)
        g = torch.Generator(device=device).manual_seed(config.seed * 1000 + epoch)
        order = torch.randperm(len(labels), device=device, generator=g)
        model.train()
        epoch_start = clock
        # Sums stay on the device and are read only when reported: no GPU sync every batch.
        running = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        seen = 0
        last_report = clock
        started = time.perf_counter()
        for b in range(steps_per_epoch):
            if stop is not None and stop.is_set():
                stopped = True
                break
            idx = order[b * recipe.batch_size:(b + 1) * recipe.batch_size]
            if pictures:
                x = images[idx].float().div_(255).unsqueeze(1)
                if augment is not None:
                    x = augment(x, g)
                x = normalize(x).contiguous(memory_format=torch.channels_last)
            else:
                x = spec.inputs.prepare(images[idx])
            y = labels[idx]
            out = model(x)
            loss = F.cross_entropy(out, y, label_smoothing=recipe.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if per_batch:
                scheduler.step()
            running += loss.detach() * len(idx)
            correct += (out.detach().argmax(1) == y).sum()
            seen += len(idx)
            now = clock + time.perf_counter() - started
            due = ((b + 1) % config.progress_every == 0 or now - last_report >= config.progress_seconds
                   or (epoch == start_epoch and b + 1 == config.first_progress))
            if due or b + 1 == steps_per_epoch:
                clock, last_report = now, now
                probed = None
                if config.probe_seconds is not None and now - last_probe >= config.probe_seconds:
                    probed = evaluate(model, probe, device, recipe.test_batch_size, other_offset=offset).accuracy
                    last_probe = now
                    model.train()
                yield Progress(epoch, b + 1, steps_per_epoch, running.item() / seen, correct.item() / seen,
                               clock, probed, first_layer_filters(model) if probed is not None else None, model)
                started = time.perf_counter()
        clock += time.perf_counter() - started
        if stopped:
            break
        lr = optimizer.param_groups[0]["lr"]
        if scheduler is not None and not per_batch:
            scheduler.step()
        test = evaluate(model, test_data, device, recipe.test_batch_size, other_offset=offset)
        val_loss = evaluate(model, val_data, device, recipe.test_batch_size).loss if val_data else None
        # With a validation split keep the best validation loss (unless the recipe keeps the last); without
        # one, the latest epoch.
        kept = val_loss is None or recipe.keep == "last" or best_score is None or val_loss < best_score
        if kept:
            best_score, best_state, best_epoch = val_loss, copy.deepcopy(model.state_dict()), epoch
            best_eval = test
        result = EpochResult(epoch, recipe.epochs, running.item() / max(seen, 1), test.loss, test.accuracy,
                             test.per_class, clock - epoch_start, lr, val_loss, kept,
                             correct.item() / max(seen, 1), clock)
        history.append(result)
        yield result

    loaded = None
    if best_state is not None:
        model.load_state_dict(best_state)
        model.eval()
        best = history[best_epoch - 1]
        extra_info: dict[str, Any] = {}
        test_accuracy, per_class = best.test_accuracy, best.per_class_accuracy
        if not pictures:
            extra_info["stroke_features_version"] = STROKE_FEATURES_VERSION
        elif recipe.pen_digits:  # the calibration writers come with the pen digits
            extra_info.update(calibrate_trained(model, config.seed, val_data, given, notes))
            lowered = extra_info["calibrations"][PICTURE]["other_offset"]
            if lowered != offset:  # read MNIST's digits anew, as pictures are read from now on
                best_eval = evaluate(model, test_data, device, recipe.test_batch_size, other_offset=lowered)
                test_accuracy, per_class = best_eval.accuracy, best_eval.per_class
        info = make_info(config.model, model_args, test_accuracy=test_accuracy,
                         test_samples=len(test_data), per_class_accuracy=per_class,
                         epochs=len(history), best_epoch=best_epoch, recipe=recipe.to_dict(), seed=config.seed,
                         train_samples=len(train_data), device=str(device), stopped=stopped,
                         history=[h.to_dict() for h in history], notes=notes, **extra_info)
        loaded = LoadedModel(model.to(memory_format=torch.contiguous_format), info)
    yield TrainingDone(loaded, history, stopped, optimizer, notes, best_eval)
