"""Confidence that means something: temperature scaling and the "sure" threshold, fitted on
writers kept out of training, and the figures that show it holds (reliability, ECE).

A network trained with label smoothing says "80%" about digits it reads right
99% of the time. One temperature T (probabilities = softmax(logits / T)) is
fitted to minimise the log loss on the calibration writers' drawings
(`PenCollection.calibration_writers`: in neither training nor the held-out
measurements), together with made-up non-digits for models with an "other"
class. Then `min_top`, the least calibrated probability a reading needs to be
called sure, is the smallest that keeps the sure readings of those drawings
right at least `TARGET_SURE_ACCURACY` of the time. Both travel in the weights
file (`info["calibration"]`), where `Predictor` reads them.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mnist_demo.mnist import OTHER_CLASS
from mnist_demo.models import inputs_of, output_count
from mnist_demo.training.data import Split

TARGET_SURE_ACCURACY = 0.998
# "Not a digit" is a fine answer to a scribble and a wrong one to a digit written oddly. An image model
# trained with a validation split of MNIST has its "not a digit" output lowered, where needed, until at
# most this share of those digits (held out of its training) are read as "not a digit": 1 in 2,000, an
# eighth of the 0.4% of MNIST's test set the project allows to be read wrong, whatever the reason.
MAX_OTHER_ON_DIGITS = 0.0005
OFFSET_STEP = 0.05
MIN_TOP_RANGE = (0.5, 0.95)  # never call a coin toss sure; never ask for more than this
BINS = 10


@dataclass(frozen=True)
class Calibration:
    temperature: float
    min_top: float  # a reading is sure when its digit's calibrated probability reaches this
    drawings: int  # how many drawings it was fitted on
    fitted_on: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "Calibration":
        return cls(float(values["temperature"]), float(values["min_top"]), int(values.get("drawings", 0)),
                   str(values.get("fitted_on", "")))


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
    weighted share with `weights`, (N,), such as `pairing.writer_weights`)."""
    w = np.ones(len(top)) if weights is None else np.asarray(weights, np.float64)
    lo, hi = MIN_TOP_RANGE
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


def lower_other(model: nn.Module, offset: float) -> None:
    """Lower the "not a digit" output of `model` by `offset`, in the bias of its last linear layer, so that
    every reader of the weights (the app, evaluation, a fine-tune) reads with it."""
    if output_count(model) <= OTHER_CLASS:
        raise ValueError("the model has no 'not a digit' output to lower")
    last = [m for m in model.modules() if isinstance(m, nn.Linear) and m.out_features == output_count(model)]
    if not last or last[-1].bias is None:
        raise ValueError("the model has no last linear layer with a bias to lower 'not a digit' in")
    with torch.no_grad():
        last[-1].bias[OTHER_CLASS] -= offset


def recorded_offset(info: dict[str, Any]) -> float:
    """How much the "not a digit" output of the weights with this info was lowered (`lower_other`), 0 if never."""
    return float(info.get("other_offset", {}).get("offset", 0.0))


def fit_confidence(model: nn.Module, seed: int, validation: Split | None, notes: list[str],
                   recipe_offset: float = 0.0, carried: dict[str, Any] | None = None) -> dict[str, Any]:
    """Weights-file info of an image model just trained with the pen digits: its "not a digit" output lowered
    (with an "other" class: fitted on the MNIST digits held out for it, `other_offset`, when there are any,
    else by the recipe's `recipe_offset`, unless the weights the run started from were lowered already: their
    `carried` record goes on), then its calibration on the calibration writers (`calibrate`)."""
    info: dict[str, Any] = {}
    offset = 0.0  # lowered by this run
    if output_count(model) > OTHER_CLASS:
        if validation is not None and len(validation):
            offset = other_offset(logits_of(model, validation.images[validation.labels < OTHER_CLASS]))
            info["other_offset"] = {"offset": offset, "digits": len(validation), "target": MAX_OTHER_ON_DIGITS,
                                    "fitted_on": "MNIST training digits held out of training (the validation split)"}
            notes.append(f"'not a digit' lowered by {offset:.2f}: at most {MAX_OTHER_ON_DIGITS:.2%} of "
                         f"{len(validation)} held-out MNIST digits are read as 'not a digit'")
        elif carried is not None:  # a fine-tune or a resumed run: its weights hold the lowering already
            info["other_offset"] = carried
        elif recipe_offset:
            offset = recipe_offset
            info["other_offset"] = {"offset": offset, "fitted_on": "the recipe (other_offset)"}
            notes.append(f"'not a digit' lowered by {offset:.2f}, as the recipe says")
    if offset:
        lower_other(model, offset)
    info["calibration"] = calibrate(model, seed).to_dict()
    return info


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


def calibration_data(seed: int = 0, renders: int = 2, non_digits: int = 600) -> tuple[torch.Tensor, torch.Tensor]:
    """Drawings of the calibration writers of every collection (as the pad draws them, no writer
    variation), and made-up non-digits of the training families (labelled OTHER_CLASS)."""
    from mnist_demo.handwriting.non_digits import non_digit_training_images
    from mnist_demo.pen_digits import COLLECTIONS, pen_training_images

    digits = [d for c in COLLECTIONS.values() for d in c.digits(c.calibration_writers)]
    images, labels = pen_training_images(digits, renders, seed=seed + 7919, vary=False)
    if non_digits:
        other_images, other_labels = non_digit_training_images(non_digits, seed + 104729, digits)
        images, labels = torch.cat([images, other_images]), torch.cat([labels, other_labels])
    return images, labels


def calibrate(model: nn.Module, seed: int = 0) -> Calibration:
    """Fit the temperature and the sure threshold of `model` on the calibration writers' drawings."""
    images, labels = calibration_data(seed, non_digits=600 if output_count(model) > OTHER_CLASS else 0)
    return calibration_of(logits_of(model, images), labels)


def calibration_of(logits: torch.Tensor, labels: torch.Tensor) -> Calibration:
    """The temperature and sure threshold of a model whose outputs on drawings of the calibration writers
    are `logits` (labels OTHER_CLASS for made-up non-digits, left out for a model without that output)."""
    from mnist_demo.pen_digits import writer_ranges

    other = logits.shape[1] > OTHER_CLASS
    if not other:
        keep = labels < OTHER_CLASS
        logits, labels = logits[keep], labels[keep]
    temperature = fit_temperature(logits, labels)
    min_top = sure_threshold_of(torch.softmax(logits / temperature, 1).numpy(), labels.numpy())
    return Calibration(temperature, min_top, len(labels), "pen digits of calibration writers "
                       f"({writer_ranges(lambda c: c.calibration_writers)})"
                       + (" and made-up non-digits" if other else ""))


def lower_file(weights: str | os.PathLike, offset: float, fitted_on: str, out: str | os.PathLike,
               test: Split) -> dict[str, Any]:
    """A copy of the image model in `weights` with its "not a digit" output lowered by `offset` (fitted
    elsewhere: `fitted_on` says where, e.g. on MNIST digits held out of a twin run, which a model trained on
    all of them cannot give) and calibrated anew, saved to `out`; `weights` is only read. Its MNIST test
    accuracy is measured again on `test`; its other figures are dropped. Returns its info."""
    from mnist_demo.checkpoint import load_weights, save_weights
    from mnist_demo.training.evaluation import evaluate

    if offset <= 0:
        raise ValueError(f"the offset must be more than 0, not {offset}")
    loaded = load_weights(weights)
    if "other_offset" in loaded.info:
        raise ValueError(f"{weights} was lowered already (by {recorded_offset(loaded.info):.2f}): lower the "
                         "weights it was made from")
    lower_other(loaded.model, offset)
    info = {k: v for k, v in loaded.info.items() if k not in ("metrics", "optimizer_state", "pairing")}
    info["other_offset"] = {"offset": offset, "fitted_on": fitted_on, "lowered_from": Path(weights).name}
    info["calibration"] = calibrate(loaded.model, int(info.get("seed", 0))).to_dict()
    info["metrics"] = {}  # they measured the weights before the lowering
    info["notes"] = list(info.get("notes", [])) + [
        f"'not a digit' lowered by {offset:.2f} from {Path(weights).name} ({fitted_on}) and calibrated anew"]
    result = evaluate(loaded.model, test)
    info["test_accuracy"], info["per_class_accuracy"], info["test_samples"] = (
        result.accuracy, result.per_class, len(test))
    save_weights(out, loaded.model, info)
    return info
