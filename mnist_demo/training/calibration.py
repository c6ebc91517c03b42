"""Fitting calibrations (`reading.calibration.Calibration`) so that "97% sure" is right about 97% of the
time, and the figures that show it holds (reliability, ECE).

A network trained with label smoothing says "80%" about digits it reads right
99% of the time. `fit_calibration` fits, on drawings of writers kept out of
training (`calibration_data`), the temperature of least log loss and, for the
pair, the stroke reader's weight (from `STROKE_WEIGHTS`: the least one within
a standard error of the best, `least_within_one_error`); then `sure_from`,
the least calibrated probability whose readings are right at least
`TARGET_SURE_ACCURACY` of the time. Both the log loss and that share count
every writer alike (`writer_weights`), and the made-up non-digits as one
writer more: pendigits' writers wrote twelve times as many digits as UJI's,
and a plain mean let three writers of one tablet choose for every hand.

"Not a digit" is a fine answer to a scribble and a wrong one to a digit
written oddly: `other_offset` is how much to lower that output so that at
most `MAX_OTHER_ON_DIGITS` of MNIST digits held out of training are read as
"not a digit" (an eighth of the 0.4% of MNIST's test set the project allows
to be read wrong, whatever the reason).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from mnist_demo.base.mnist import OTHER_CLASS
from mnist_demo.models.registry import inputs_of
from mnist_demo.reading.calibration import Calibration

TARGET_SURE_ACCURACY = 0.998
MAX_OTHER_ON_DIGITS = 0.0005
OFFSET_STEP = 0.05
SURE_RANGE = (0.5, 0.95)  # never call a coin toss sure; never ask for more than this
STROKE_WEIGHTS = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0)
BINS = 10


@torch.inference_mode()
def logits_of(model: nn.Module, inputs: torch.Tensor, batch: int = 1000) -> torch.Tensor:
    """The model's raw outputs, float64 on the CPU, for what it reads: uint8 (N, 28, 28) images, or a stroke
    reader's float (N, POINTS, FEATURES) paths (`models.Inputs`)."""
    was = model.training
    model.eval()
    device = next(model.parameters()).device
    prepare = inputs_of(model).prepare
    out = [model(prepare(inputs[i:i + batch].to(device))).double().cpu() for i in range(0, len(inputs), batch)]
    model.train(was)
    return torch.cat(out) if out else torch.zeros(0, 10, dtype=torch.float64)


def log_loss(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor | None = None) -> float:
    """Mean log loss of `logits` (N, outputs); with `weights` (N,), summing to 1, their weighted sum."""
    losses = torch.nn.functional.cross_entropy(logits, labels, reduction="none")
    return float(losses.mean() if weights is None else (losses * weights).sum())


def writer_weights(writers: torch.Tensor) -> torch.Tensor:
    """float64 (N,) weights summing to 1 that give every writer's drawings (and the non-digits) the same say."""
    _, group, count = torch.unique(writers, return_inverse=True, return_counts=True)
    return 1.0 / (count[group].double() * len(count))


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor | None = None) -> float:
    """The temperature of least log loss (`log_loss`, weighted when `weights` are given), by a golden-section
    search over log T in [-2, 2]."""
    def nll(log_t: float) -> float:
        return log_loss(logits / np.exp(log_t), labels, weights)
    lo, hi = -2.0, 2.0
    g = (5 ** 0.5 - 1) / 2
    for _ in range(60):
        a, b = hi - g * (hi - lo), lo + g * (hi - lo)
        if nll(a) < nll(b):
            hi = b
        else:
            lo = a
    return float(np.exp((lo + hi) / 2))


def sure_threshold(top: np.ndarray, right: np.ndarray, target: float = TARGET_SURE_ACCURACY,
                   weights: np.ndarray | None = None) -> float:
    """The least probability whose readings at or above it are right at least `target` of the time (a
    weighted share with `weights`, (N,), such as `writer_weights`)."""
    w = np.ones(len(top)) if weights is None else np.asarray(weights, np.float64)
    lo, hi = SURE_RANGE
    for t in np.round(np.arange(lo, hi + 1e-9, 0.01), 2):
        sure = top >= t
        if not sure.any() or (w * right * sure).sum() >= target * (w * sure).sum():
            return float(t)
    return hi


def sure_threshold_of(p: np.ndarray, labels: np.ndarray, target: float = TARGET_SURE_ACCURACY,
                      weights: np.ndarray | None = None) -> float:
    """`sure_threshold` of calibrated probabilities (N, outputs) of drawings with `labels` (OTHER_CLASS for
    a non-digit): a reading that says "not a digit" is never a sure digit, and a non-digit read as one is
    never right."""
    read = p[:, :OTHER_CLASS].argmax(1)
    said_digit = p.argmax(1) < OTHER_CLASS
    top = np.where(said_digit, p[np.arange(len(p)), read], 0.0)
    return sure_threshold(top, (read == labels) & (labels < OTHER_CLASS), target, weights)


@dataclass(frozen=True)
class Lowering:
    """How much a picture model's "not a digit" is lowered by when it reads pictures, and where that came from."""

    offset: float = 0.0
    source: str = ""


def fit_calibration(picture: torch.Tensor, labels: torch.Tensor, writers: torch.Tensor,
                    strokes: torch.Tensor | None = None, lowering: Lowering = Lowering(), fitted_on: str = "",
                    sure_from_at_least: float = 0.0) -> Calibration:
    """The calibration of a picture model whose raw outputs on drawings with `labels` (OTHER_CLASS for made-up
    non-digits), drawn by `writers`, are `picture`; with `strokes`, a stroke reader's on the same drawings, the
    pair's (its weight from STROKE_WEIGHTS). Every writer counts alike. A model without a "not a digit"
    output is fitted on the digits alone. `lowering`: "not a digit" lowered first (a picture read alone).
    `sure_from_at_least`: the pair's answer needs at least the confidence the picture's alone needs (its
    `sure_from`)."""
    if strokes is not None and picture.shape[1] != strokes.shape[1]:
        raise ValueError(f"the picture model answers with {picture.shape[1]} outputs and the stroke reader with "
                         f"{strokes.shape[1]}: they cannot read together")
    if picture.shape[1] <= OTHER_CLASS:
        keep = labels < OTHER_CLASS
        picture, labels, writers = picture[keep], labels[keep], writers[keep]
        strokes = strokes[keep] if strokes is not None else None
    balance = writer_weights(writers)
    temperatures, losses = {}, {}
    for weight in STROKE_WEIGHTS if strokes is not None else (0.0,):
        z = Calibration(stroke_weight=weight, other_offset=lowering.offset).scores(picture, strokes)
        temperatures[weight] = fit_temperature(z, labels, balance)
        losses[weight] = torch.nn.functional.cross_entropy(z / temperatures[weight], labels, reduction="none")
    weight = least_within_one_error(losses, writers)
    temperature = temperatures[weight]
    fitted = Calibration(temperature=temperature, stroke_weight=weight, other_offset=lowering.offset,
                         drawings=len(labels), fitted_on=fitted_on, other_offset_from=lowering.source)
    sure_from = max(sure_threshold_of(fitted.probabilities(picture, strokes), labels.numpy(), weights=balance.numpy()),
                    sure_from_at_least)
    return replace(fitted, sure_from=sure_from)


def least_within_one_error(losses: dict[float, torch.Tensor], writers: torch.Tensor) -> float:
    """Of stroke weights and each one's log loss on every drawing (N,), the least weight whose loss, every writer
    counting alike, is within one standard error of the least loss's; the standard error is over the writers'
    own differences from it, since a writer's drawings are alike. The path's say is measured on calibration
    writers of the tablets it was trained on, where it reads better than it will on another device: where
    the writers cannot tell two weights apart, the path gets the smaller (docs/experiments.md)."""
    groups = torch.unique(writers)
    by_writer = {w: torch.stack([loss[writers == g].mean() for g in groups]) for w, loss in losses.items()}
    best = min(by_writer, key=lambda w: float(by_writer[w].mean()))
    for weight in sorted(w for w in by_writer if w < best):
        gap = by_writer[weight] - by_writer[best]
        error = float(gap.std()) / len(groups) ** 0.5 if len(groups) > 1 else 0.0
        if float(gap.mean()) <= error:
            return weight
    return best


def other_offset(logits: torch.Tensor, target: float = MAX_OTHER_ON_DIGITS) -> float:
    """How much to lower the "not a digit" output (a multiple of `OFFSET_STEP`, 0 when none is needed) so
    that at most `target` of these digits' readings, raw outputs `logits` (N, 11), stay "not a digit"."""
    if not len(logits):
        return 0.0
    # Above 0: read as "not a digit" (a tie goes to the digit: argmax takes the first largest).
    lead = (logits[:, OTHER_CLASS] - logits[:, :OTHER_CLASS].amax(1)).sort(descending=True).values
    allowed = int(target * len(lead))
    need = float(lead[allowed]) if allowed < len(lead) else 0.0
    return float(np.ceil(need / OFFSET_STEP) * OFFSET_STEP) if need > 0 else 0.0


@dataclass(frozen=True)
class Reliability:
    """Calibration figures of a set of readings: confidence against accuracy, bin by bin."""

    ece: float  # expected calibration error: the bins' |accuracy - confidence|, weighted by their share
    bins: list[dict[str, float]]  # lo, hi, n, confidence, accuracy

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def reliability(confidence: np.ndarray, right: np.ndarray, bins: int = BINS) -> Reliability:
    edges = np.linspace(0.0, 1.0, bins + 1)
    rows, ece = [], 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (confidence >= lo) & ((confidence < hi) if hi < 1 else (confidence <= hi))
        n = int(inside.sum())
        if n:
            conf, acc = float(confidence[inside].mean()), float(right[inside].mean())
            ece += n / len(confidence) * abs(acc - conf)
            rows.append({"lo": float(lo), "hi": float(hi), "n": n, "confidence": conf, "accuracy": acc})
    return Reliability(float(ece), rows)
