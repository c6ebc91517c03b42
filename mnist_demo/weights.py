"""Weights that describe themselves, in the manner of torchvision's `ResNet50_Weights.DEFAULT`.

An entry names a weights file shipped with the project; the file itself carries
its description in its metadata (`mnist_demo.checkpoint`): the model and its
arguments, the normalisation and preprocessing version it expects, the recipe
it was trained with, and the figures measured on it, each with the command that
measured it. `python -m mnist_demo evaluate --record` measures and writes them.

    from mnist_demo.weights import Weights
    Weights.DEFAULT.metrics["mnist_test"].value   # 0.9971
    Weights.DEFAULT.load()                        # a LoadedModel, its inputs checked
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from mnist_demo.checkpoint import LoadedModel, load_weights, read_info, update_info
from mnist_demo.training.recipes import Recipe

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
MNIST_TEST = "mnist_test"  # the metric keys that `evaluate --record` writes
DRAWN_HELD_OUT = "drawn_held_out"  # one strokes file (--drawn)
NON_DIGITS = "non_digits_not_sure"
SURE_ACCURACY = "sure_accuracy"
ECE = "calibration_error"


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
    model: str  # the registry model it holds (checked against the file)

    def info(self) -> dict[str, Any]:
        info = read_info(self.file)
        if info["model"] != self.model:
            raise ValueError(f"{self.file} holds {info['model']!r}, not {self.model!r} as its entry says")
        return info

    @property
    def model_args(self) -> dict[str, Any]:
        return dict(self.info().get("model_args", {}))

    @property
    def recipe(self) -> Recipe:
        return Recipe.from_dict(self.info()["recipe"])

    @property
    def preprocessing_version(self) -> int:
        return int(self.info().get("preprocessing_version", 1))

    @property
    def metrics(self) -> dict[str, Measurement]:
        return {key: Measurement(**value) for key, value in self.info().get("metrics", {}).items()}

    def load(self, device: str | torch.device = "cpu") -> LoadedModel:
        """The model, built and loaded; raises CheckpointError if its inputs differ from this version's."""
        return load_weights(self.file, device, expect_model=self.model)


class Weights:
    """The weights shipped in `weights/`, by name (each a WeightsEntry)."""

    DRAWNET_V1 = WeightsEntry(WEIGHTS_DIR / "drawnet-v1.safetensors", "drawnet")  # 10 classes, no calibration
    DRAWNET_V2 = WeightsEntry(WEIGHTS_DIR / "drawnet-v2.safetensors", "drawnet")  # + "not a digit", calibrated
    # v2's tensors, "not a digit" lowered for pictures read alone (MNIST's digits); the pad's pair reads as v2's.
    DRAWNET_V3 = WeightsEntry(WEIGHTS_DIR / "drawnet-v3.safetensors", "drawnet")
    DEFAULT = DRAWNET_V3  # what the Draw tab answers with
    # Reads the pad's drawings from their path, beside DEFAULT (its pairing was fitted with those weights).
    STROKENET_V1 = WeightsEntry(WEIGHTS_DIR / "strokenet-v1.safetensors", "strokenet")
    STROKENET_V2 = WeightsEntry(WEIGHTS_DIR / "strokenet-v2.safetensors", "strokenet")  # + slashed zeros
    # The same recipe, seed 1: the least log loss with every calibration writer counting alike (paired with v3).
    STROKENET_V3 = WeightsEntry(WEIGHTS_DIR / "strokenet-v3.safetensors", "strokenet")
    # + digits bent by a smooth random field in training (`variation.warp_strokes`), seed 1.
    STROKENET_V4 = WeightsEntry(WEIGHTS_DIR / "strokenet-v4.safetensors", "strokenet")
    STROKES: WeightsEntry | None = STROKENET_V4


def record(path: str | os.PathLike, key: str, measurement: Measurement) -> None:
    """Write `measurement` into the file's metadata under `key` (every tensor kept as it was)."""
    metrics = dict(read_info(path).get("metrics", {}))
    metrics[key] = asdict(measurement)
    update_info(path, {"metrics": metrics})


def this_command() -> str:
    """The command line that is running, as a person would type it again."""
    prog = "python -m mnist_demo" if sys.argv and sys.argv[0].endswith("__main__.py") else Path(sys.argv[0]).name
    return " ".join([prog, *map(shlex.quote, sys.argv[1:])])
