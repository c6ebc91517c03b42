"""How well a fit reads the visitor's own drawings: before and after, on drawings kept out of the fit.

A fit measured on the drawings it was fitted to would say 100% and mean nothing.
With a few drawings (`MAX_CROSS_VALIDATED` or fewer) every drawing is held out
once (stratified k-fold: k fits); with more, one share is held out (one fit).
Each fit is a full `finetune.fit`, so assessing costs k times a fit; the
visitor's own model is the separate fit on all their drawings. The models read
the drawings' 28x28 pictures, without the stroke reader the Draw tab adds
(`benchmarks/personal.py` measures both ways).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from mnist_demo.base.mnist import normalize
from mnist_demo.models.checkpoint import PICTURE, LoadedModel
from mnist_demo.personal.collection import Collection, CollectionError
from mnist_demo.personal.finetune import Base, FitSettings, as_split, finetune_elsewhere, fit, load_base
from mnist_demo.reading.calibration import Calibration, calibrations_of
from mnist_demo.training.data import Split
from mnist_demo.training.standby import StopFile


def accuracy(model: LoadedModel, split: Split) -> float:
    """Share of `split` whose top answer, read as a picture (`Calibration.scores`), is its label; "not a digit"
    counts as wrong."""
    if len(split) == 0:
        return float("nan")
    device = next(model.model.parameters()).device
    model.model.eval()
    with torch.inference_mode():
        x = normalize(split.images.float().div(255).unsqueeze(1)).to(device)
        scores = calibrations_of(model.info).get(PICTURE, Calibration()).scores(model.model(x).cpu())
    return (scores.argmax(1) == split.labels).float().mean().item()


def folds(labels: Sequence[int], k: int, seed: int = 0) -> list[list[int]]:
    """k groups of indices, each digit dealt round-robin across them (stratified), shuffled by `seed`."""
    rng = np.random.default_rng(seed)
    groups: list[list[int]] = [[] for _ in range(k)]
    turn = 0
    for digit in sorted(set(labels)):
        members = [i for i, y in enumerate(labels) if y == digit]
        for i in rng.permutation(members):
            groups[turn % k].append(int(i))
            turn += 1
    return [sorted(g) for g in groups if g]


@dataclass
class Assessment:
    """The visitor's drawings read before and after fitting, counting only drawings kept out of each fit."""

    drawings: int  # in the collection
    measured: int  # drawings read by a model not fitted on them (all of them, with cross-validation)
    method: str  # "5-fold cross-validation" or "25% held out"
    before: float  # the base model's accuracy on the measured drawings
    after: float  # the fitted models' accuracy on the same drawings
    fits: int
    seconds: float  # all the fits and readings

    def summary(self) -> str:
        return (f"your drawings, read by a model not fitted on them ({self.method}, {self.measured} drawings): "
                f"{100 * self.before:.1f}% before, {100 * self.after:.1f}% after")


MAX_CROSS_VALIDATED = 30  # up to this many drawings, every one is held out once (k-fold)


def assess(base: Base, drawings: Collection | Split, settings: FitSettings = FitSettings(), *, k: int = 3,
           max_cross_validated: int = MAX_CROSS_VALIDATED, held_out: float = 0.25, **kwargs: Any) -> Assessment:
    """Before and after on drawings kept out of the fit: k-fold cross-validation for a few drawings,
    one fit with `held_out` of them kept out otherwise. Each fit costs as much as the visitor's own."""
    split = as_split(drawings)
    n = len(split)
    if n < 2:
        raise CollectionError("at least 2 drawings are needed to measure a fit on drawings it did not see")
    started = time.perf_counter()
    labels = split.labels.tolist()
    if n <= max_cross_validated:
        groups = folds(labels, min(k, n), settings.seed)
        method = f"{len(groups)}-fold cross-validation"
    else:
        groups = folds(labels, max(2, round(1 / held_out)), settings.seed)[:1]
        method = f"{round(100 * len(groups[0]) / n)}% held out"
    reader = load_base(base)
    base_model = reader.picture
    right_before = right_after = measured = 0
    for test_idx in groups:
        keep = torch.ones(n, dtype=torch.bool)
        keep[test_idx] = False
        test = Split(split.images[test_idx], split.labels[test_idx])
        kwargs.setdefault("probe_seconds", None)  # nobody watches these fits' curves
        kwargs.setdefault("confidence", False)  # only their top answers on the drawings' pictures are measured
        fitted = fit(reader, Split(split.images[keep], split.labels[keep]), settings, **kwargs)
        right_before += round(accuracy(base_model, test) * len(test))
        right_after += round(accuracy(fitted, test) * len(test))
        measured += len(test)
    return Assessment(n, measured, method, right_before / measured, right_after / measured, len(groups),
                      time.perf_counter() - started)


def finetune_and_assess_elsewhere(base: str, drawings: Split, settings: FitSettings, data_dir: str | None,
                                  stop_path: str, threads: int = 1, folds: int = 3) -> Iterator[Any]:
    """The visitor's fit, then its assessment, in one other process (`training.standby.Standby.run`):
    yields the fit's portable events, then an `Assessment` (none when stopped or too few drawings).

    One process for both, because the MNIST and pen-digit samples the fits share are loaded and
    rendered once per process (~5 s); the fitted model reaches the parent before the assessment starts.
    """
    yield from finetune_elsewhere(base, drawings, settings, data_dir, stop_path, threads)
    stop = StopFile(Path(stop_path))
    if folds < 2 or len(drawings) < 2 or stop.is_set():
        return
    try:
        yield assess(base, drawings, settings, k=folds, data_dir=data_dir, stop=stop)
    except RuntimeError:  # a fold's fit stopped before its epoch ended: the visitor pressed Stop
        if not stop.is_set():
            raise
