"""A training recipe: the optimiser, schedule and data settings a tutorial used."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

OPTIMIZERS = ("sgd", "adam", "adadelta")
SCHEDULES = ("none", "step", "onecycle")
AUGMENTS = ("none", "drawn")


@dataclass(frozen=True)
class Recipe:
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.0
    weight_decay: float = 0.0
    batch_size: int = 64
    test_batch_size: int = 1000
    epochs: int = 3
    schedule: str = "none"  # "step": lr *= gamma every step_size epochs; "onecycle": per batch
    gamma: float = 0.7
    step_size: int = 1
    val_split: float = 0.0  # held out of training; with it the best-validation-loss checkpoint is kept
    augment: str = "none"  # "drawn": batch augmentation for what drawings do and MNIST lacks
    label_smoothing: float = 0.0
    pen_digits: bool = False  # add rendered pen-drawn digits of the training writers
    pen_renders: int = 2  # renderings of each such digit (brush, size, place drawn at random)

    def __post_init__(self) -> None:
        problems = []
        if self.optimizer not in OPTIMIZERS:
            problems.append(f"optimizer must be one of {', '.join(OPTIMIZERS)}, not {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            problems.append(f"schedule must be one of {', '.join(SCHEDULES)}, not {self.schedule!r}")
        if self.augment not in AUGMENTS:
            problems.append(f"augment must be one of {', '.join(AUGMENTS)}, not {self.augment!r}")
        if not self.lr > 0:
            problems.append(f"lr must be positive, not {self.lr}")
        if self.batch_size < 1 or self.test_batch_size < 1:
            problems.append("batch sizes must be at least 1")
        if self.epochs < 1:
            problems.append(f"epochs must be at least 1, not {self.epochs}")
        if not 0.0 <= self.val_split < 1.0:
            problems.append(f"val_split must be in [0, 1), not {self.val_split}")
        if self.pen_renders < 1:
            problems.append("pen_renders must be at least 1")
        if self.step_size < 1:
            problems.append("step_size must be at least 1")
        if not 0.0 <= self.label_smoothing < 1.0:
            problems.append("label_smoothing must be in [0, 1)")
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
