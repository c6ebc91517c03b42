"""A training recipe: the optimiser, schedule and data settings a tutorial used, and the torch optimizer and
schedule it names (`make_optimizer`, `make_schedule`).

Every number a recipe holds has a sane `Range` (its field's metadata): a recipe outside one is refused
with a message that names the field and its range, the same from the command line, the app and Python.
A server may allow less (the app's settings); these are what any run allows.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from numbers import Integral, Real
from typing import Any

import torch

OPTIMIZERS = ("sgd", "adam", "adadelta")
SCHEDULES = ("none", "step", "onecycle")
AUGMENTS = ("none", "drawn")
KEEPS = ("best", "last")


@dataclass(frozen=True)
class Range:
    """The values a number may take: from `low` to `high`, each end in or out, whole numbers or any."""

    low: float
    high: float
    low_open: bool = False  # (low, ...: low itself is out
    high_open: bool = False  # ..., high): high itself is out
    whole: bool = False

    def __str__(self) -> str:
        return f"{'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"

    def __contains__(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, Integral if self.whole else Real):
            return False
        if not math.isfinite(value):
            return False
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def problem(self, name: str, value: Any, where: str = "") -> str | None:
        """None when `value` is in range, else what is wrong, naming `name` (and `where` the range holds):
        "lr must be in (0, 10], not 1e+09"."""
        if value in self:
            return None
        shown = f"{value:g}" if isinstance(value, float) else repr(value)
        return f"{name} must be {'a whole number ' if self.whole else ''}in {self}{where}, not {shown}"


def _field(default: Any, label: str, help: str, choices: tuple[str, ...] | None = None, app: bool = True,
           range: Range | None = None) -> Any:
    """A recipe field with what people are shown for it: `label` in the web app's Train tab (which
    shows the fields with `app` true), `help` in the CLI's --help, `choices` its allowed values,
    `range` the numbers it allows."""
    return field(default=default, metadata={"label": label, "help": help, "choices": choices, "app": app,
                                            "range": range})


BATCH = Range(1, 65_536, whole=True)  # a batch of all of MNIST and more: sane on a big GPU, not beyond
@dataclass(frozen=True)
class Recipe:
    optimizer: str = _field("sgd", "Optimizer", "the optimizer", choices=OPTIMIZERS)
    lr: float = _field(0.01, "Learning rate", "the learning rate (the peak one with --schedule onecycle)",
                       range=Range(0, 10, low_open=True))
    momentum: float = _field(0.0, "Momentum", "SGD's momentum (Nesterov when above 0; the other optimizers "
                              "ignore it)", range=Range(0, 1, high_open=True))
    weight_decay: float = _field(0.0, "Weight decay", "weight decay (L2)", range=Range(0, 1))
    batch_size: int = _field(64, "Batch size", "training batch size", range=BATCH)
    test_batch_size: int = _field(1000, "Test batch size", "evaluation batch size", app=False, range=BATCH)
    epochs: int = _field(3, "Epochs", "epochs to train", range=Range(1, 1000, whole=True))
    schedule: str = _field("none", "LR schedule", "learning-rate schedule: step multiplies it by --gamma every "
                           "--step-size epochs, onecycle changes it every batch", choices=SCHEDULES)
    gamma: float = _field(0.7, "Gamma (step schedule)", "the step schedule's factor",
                          range=Range(0, 1, low_open=True))
    step_size: int = _field(1, "Step size (epochs)", "epochs between the step schedule's steps",
                           range=Range(1, 1000, whole=True))
    val_split: float = _field(0.0, "Validation split", "fraction held out of training; with it the model of the "
                              "best validation loss is kept (unless --keep last)",
                              range=Range(0, 1, high_open=True))
    keep: str = _field("best", "Keep", "with a validation split, the epoch kept: best (least validation loss) or "
                       "last (a one-cycle schedule ends where it is meant to)", choices=KEEPS, app=False)
    other_offset: float = _field(0.0, "'Not a digit' lowered by", "a model with an 11th output ('not a digit') "
                                 "reads pictures with it lowered by this much (its calibration's other_offset); "
                                 "with --val-split it is fitted on the digits held out instead", app=False,
                                 range=Range(0, 20))
    augment: str = _field("none", "Augmentation", "batch augmentation: drawn adds what drawings do and MNIST "
                          "lacks", choices=AUGMENTS)
    label_smoothing: float = _field(0.0, "Label smoothing", "label smoothing of the loss",
                                    range=Range(0, 1, high_open=True))
    pen_digits: bool = _field(False, "Add pen-drawn digits", "add rendered pen-drawn digits of the training "
                              "writers")
    pen_renders: int = _field(2, "Pen renderings", "renderings of each pen-drawn digit (brush, size, place drawn "
                              "at random)", app=False, range=Range(1, 100, whole=True))
    pen_shifts: float = _field(0.0, "Pen digits as other devices send them", "share of the pen digits (and of a "
                               "stroke reader's non-digits) drawn as another device or hand would send them: the "
                               "pointer sampled more or less often, strokes reversed, reordered, split or joined, a "
                               "finger's wobble (one at random)", app=False, range=Range(0, 1))
    non_digits: int = _field(0, "Made-up non-digits", "made-up drawings that are not one digit (letters, "
                             "symbols, scribbles, two digits), taught as an 11th class 'not a digit': needs a "
                             "model with 11 outputs", app=False, range=Range(0, 200_000, whole=True))
    uploads: int = _field(0, "Small uploaded pictures", "digits of the training writers (and a fifth as many "
                          "made-up non-digits) drawn as small pictures in a paint program and read as uploads are",
                          app=False, range=Range(0, 200_000, whole=True))

    def __post_init__(self) -> None:
        problems = []
        if self.optimizer not in OPTIMIZERS:
            problems.append(f"optimizer must be one of {', '.join(OPTIMIZERS)}, not {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            problems.append(f"schedule must be one of {', '.join(SCHEDULES)}, not {self.schedule!r}")
        if self.keep not in KEEPS:
            problems.append(f"keep must be one of {', '.join(KEEPS)}, not {self.keep!r}")
        if self.augment not in AUGMENTS:
            problems.append(f"augment must be one of {', '.join(AUGMENTS)}, not {self.augment!r}")
        for f in fields(self):
            if f.metadata["range"] is not None:
                problem = f.metadata["range"].problem(f.name, getattr(self, f.name))
                if problem:
                    problems.append(problem)
        if problems:
            raise ValueError("; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "Recipe":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def with_changes(self, **changes: Any) -> "Recipe":
        """A copy with the given fields changed; None values leave a field as it is."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def make_optimizer(recipe: Recipe, params: Any) -> torch.optim.Optimizer:
    """The optimizer the recipe names, over `params`."""
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(params, lr=recipe.lr, momentum=recipe.momentum,
                               weight_decay=recipe.weight_decay, nesterov=recipe.momentum > 0)
    if recipe.optimizer == "adam":
        return torch.optim.Adam(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    return torch.optim.Adadelta(params, lr=recipe.lr, weight_decay=recipe.weight_decay)


def make_schedule(recipe: Recipe, optimizer: torch.optim.Optimizer, steps_per_epoch: int):
    """A scheduler and whether it steps per batch (True) or per epoch (False)."""
    if recipe.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=recipe.lr, epochs=recipe.epochs, steps_per_epoch=steps_per_epoch,
            pct_start=0.25), True
    if recipe.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=recipe.step_size, gamma=recipe.gamma), False
    return None, False
