"""The shipped weights, as entries that describe themselves, in the manner of torchvision's
`ResNet50_Weights.DEFAULT`.

An entry names a weights file shipped with the project; the file itself carries
its description in its metadata (`models.checkpoint`): each model, its
arguments, the preprocessing it expects, the recipe it was trained with, its
calibrations, and the figures measured on the file, each with the command that
measured it (`python -m mnist_demo evaluate --record` measures and writes them).

    from mnist_demo import Weights
    Weights.DEFAULT.metrics["mnist_test"].value   # the share of MNIST's test digits read right
    Weights.DEFAULT.load()                        # a Reader, its inputs checked
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import asdict, dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import torch

from mnist_demo.base.recipe import Recipe
from mnist_demo.models.checkpoint import PICTURE, CheckpointError, read_info, update_info
from mnist_demo.reading.reader import Reader

WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "weights"


class Metric(str, Enum):
    """The keys `evaluate --record` writes a figure under (a str, so it is the key in the file's JSON)."""

    MNIST_TEST = "mnist_test"
    DRAWN_HELD_OUT = "drawn_held_out"  # one strokes file (--drawn)
    NON_DIGITS = "non_digits_not_sure"
    SURE_ACCURACY = "sure_accuracy"
    ECE = "calibration_error"

    def __str__(self) -> str:
        return self.value


def drawn_key(collection: str) -> str:
    """The metric key of a pen collection's held-out writers (`evaluate --drawings`)."""
    return f"drawn_{collection}"


@dataclass(frozen=True)
class Measurement:
    """One figure measured on a weights file, and how to measure it again."""

    value: float  # a fraction in [0, 1]
    samples: int
    what: str  # in words: on which data, through which path
    command: str  # the command that measured it

    def __str__(self) -> str:
        return f"{100 * self.value:.2f}% of {self.samples:,} {self.what}"


@dataclass(frozen=True)
class WeightsEntry:
    """A weights file of the project, described by its own metadata."""

    file: Path

    def info(self) -> dict[str, Any]:
        """The file's metadata (a bundle's: its models' under "models")."""
        return read_info(self.file)

    def model_info(self, role: str = PICTURE) -> dict[str, Any]:
        """The metadata of the file's model in `role` (PICTURE or STROKES)."""
        info = self.info()
        models = info.get("models") or {PICTURE: info}
        if role not in models:
            raise CheckpointError(f"{self.file} holds no {role} model")
        return models[role]

    @property
    def recipe(self) -> Recipe:
        """The picture model's training recipe."""
        return Recipe.from_dict(self.model_info()["recipe"])

    @property
    def metrics(self) -> dict[str, Measurement]:
        return {key: Measurement(**value) for key, value in self.info().get("metrics", {}).items()}

    def load(self, device: str | torch.device | None = None) -> Reader:
        """The reader in the file, its inputs checked (CheckpointError if they differ from this version's)."""
        return Reader.load(self.file, device)


class Weights:
    """The weights shipped in `weights/`, by role."""

    # What the Draw tab reads with: drawnet reads the picture, strokenet the pen's path (weights/README.md).
    DEFAULT = WeightsEntry(WEIGHTS_DIR / "reader.safetensors")


def record(path: str | os.PathLike, key: str | Metric, measurement: Measurement) -> None:
    """Write `measurement` into the file's metadata under `key` (every tensor kept as it was)."""
    metrics = dict(read_info(path).get("metrics", {}))
    metrics[str(key)] = asdict(measurement)
    update_info(path, {"metrics": metrics})


def this_command() -> str:
    """The command line that is running, as a person would type it again."""
    prog = "python -m mnist_demo" if sys.argv and sys.argv[0].endswith("__main__.py") else Path(sys.argv[0]).name
    return " ".join([prog, *map(shlex.quote, sys.argv[1:])])
