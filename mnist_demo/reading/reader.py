"""The Reader: one object that reads a drawing, from the pad's JSON or a picture, to an answer.

A `Reader` holds a picture model (it reads the 28x28 that `preprocess` makes of
any drawing), optionally a stroke reader (it reads the pen's path, which the
pad's drawings keep: `base.strokes`), and one `Calibration` for each kind of
input: the picture alone, and the picture with its path. `Reader.load` reads
them from a weights file: a bundle of both models (what the Draw tab reads
with, `Weights.DEFAULT`), or one picture model (a training's output).

A `Prediction` has a status (`Status`):
- EMPTY: nothing to read: preprocessing found no digit (its
  `problem` says why: a blank canvas, a lone dot, a canvas painted all over,
  a blob, a picture without a plain background). `top` is empty.
- UNSURE: the answer is not to be trusted; `doubt` (`Doubt`) says why, by the
  first rule that applies:
  1. OFF_THE_PAD: more than `OFF_PAD_SHARE` of the pen's path lies beyond the
     pad's edge, so the digit is cut (pad drawings only);
  2. NOT_A_DIGIT: the 28x28 is unlike any digit: its mean intensity is outside
     `COVERAGE_RANGE`, or its ink's pieces minus holes (Euler number) outside
     `EULER_RANGE` (a digit is one or two pieces with at most two loops);
  3. TOO_WIDE: the ink is more than `MAX_ASPECT` times as wide as it is tall;
  4. NOT_ONE_DIGIT: "not a digit" (a model's 11th output) is likelier than
     any digit: a letter, a symbol, a scribble, two digits;
  5. AMBIGUOUS: the top digit's probability is below the calibration's
     `sure_from`, or leads the second by less than `MIN_MARGIN`.
  `top` still holds the k best digit guesses.
- OK: otherwise; `message` is e.g. "Looks like a 7".

A Reader never changes after it is made, so any number of threads may read
with it at once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from mnist_demo.base.devices import pick_device
from mnist_demo.base.mnist import DIGITS
from mnist_demo.base.status import Doubt, Problem, Status
from mnist_demo.base.strokes import strokes_tensor
from mnist_demo.models.checkpoint import (
    PICTURE,
    STROKES,
    CheckpointError,
    LoadedModel,
    load_models,
    save_bundle,
    save_weights,
)
from mnist_demo.reading.calibration import PAIR, Calibration, calibrations_of, keep_the_pictures_doubt
from mnist_demo.reading.preprocess import preprocess
from mnist_demo.reading.sketch import Sketch

MIN_MARGIN = 0.2
COVERAGE_RANGE = (0.03, 0.30)
EULER_RANGE = (-4, 2)
MAX_ASPECT = 2.5  # ink width over height; no MNIST training digit exceeds it
OFF_PAD_SHARE = 0.05  # of the pen's path beyond the pad's edge


@dataclass
class Prediction:
    status: Status  # OK, UNSURE or EMPTY
    top: list[tuple[int, float]]  # (digit, probability), most likely first; [] when nothing was read
    image: np.ndarray  # uint8 (28, 28): what the picture model saw (zeros when nothing was read)
    message: str
    probabilities: np.ndarray | None = field(default=None, repr=False)  # every output's, None when nothing read
    problem: Problem | None = None  # preprocessing's reason when nothing was read
    doubt: Doubt | None = None  # why, when UNSURE

    @property
    def other(self) -> float:
        """The probability of "not a digit" (0 for a model without that class)."""
        p = self.probabilities
        return float(p[DIGITS]) if p is not None and len(p) > DIGITS else 0.0

    @property
    def digit(self) -> int | None:
        """The most likely digit, None when nothing was read."""
        return self.top[0][0] if self.top else None

    def label_dict(self) -> dict[str, float]:
        """{"7": 0.91, ...} of the top k, what gr.Label takes."""
        return {str(d): float(p) for d, p in self.top}


class Reader:
    """A picture model, an optional stroke reader and their calibrations: reads drawings (thread-safe)."""

    def __init__(self, picture: LoadedModel, strokes: LoadedModel | None = None,
                 device: str | torch.device | None = None) -> None:
        """The calibrations are the picture model's (`info["calibrations"]`; none: temperature 1). A stroke
        reader needs the picture model's calibration for reading beside it (PAIR), or CheckpointError."""
        self.device = device if isinstance(device, torch.device) else pick_device(device)
        calibrations = calibrations_of(picture.info)
        if strokes is not None and PAIR not in calibrations:
            raise CheckpointError(f"this {picture.name} has no calibration for reading beside a stroke reader: "
                                  "pair the two first (`mnist-demo pair`)")
        self.picture = picture
        self.strokes = strokes
        self.picture_calibration = calibrations.get(PICTURE, Calibration())
        self.pair_calibration = calibrations[PAIR] if strokes is not None else None
        for loaded in (picture, strokes):
            if loaded is not None:
                loaded.model.to(self.device).eval()

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device | None = None) -> "Reader":
        """The reader in a weights file: a bundle (picture model and stroke reader), or one picture model."""
        models = load_models(path, "cpu")
        if PICTURE not in models:
            raise CheckpointError(f"{path} holds a stroke reader, which reads beside a picture model: pair it with "
                                  "one (`mnist-demo pair --strokes ...`)")
        return cls(models[PICTURE], models.get(STROKES), device)

    def save(self, path: str | os.PathLike) -> os.PathLike:
        """Write this reader to one file: a bundle with a stroke reader, else the picture model's file."""
        if self.strokes is None:
            return save_weights(path, self.picture.model, self.picture.info)
        return save_bundle(path, {PICTURE: self.picture, STROKES: self.strokes})

    def with_picture(self, picture: LoadedModel) -> "Reader":
        """This reader with another picture model (one fitted to a visitor's hand from this one's, its
        calibrations fitted with this stroke reader), the stroke reader kept when that model was paired."""
        paired = self.strokes is not None and PAIR in calibrations_of(picture.info)
        return Reader(picture, self.strokes if paired else None, self.device)

    # ------------------------------------------------------------ what it is

    @property
    def info(self) -> dict[str, Any]:
        return self.picture.info

    @property
    def model_name(self) -> str:
        return self.picture.name

    @property
    def test_accuracy(self) -> float | None:
        return self.picture.test_accuracy

    # ------------------------------------------------------------ reading

    def read(self, value: Any, k: int = 3) -> Prediction:
        """Read one drawing: the pad's strokes (a `Sketch`), or any picture `preprocess` accepts."""
        return self.read_batch([value], k)[0]

    def read_batch(self, values: Sequence[Any], k: int = 3) -> list[Prediction]:
        """Read many drawings with one forward pass of each model: the pad's drawings from their picture
        and their path together (when there is a stroke reader), the rest from their picture."""
        k = max(1, min(DIGITS, int(k)))
        items = [preprocess(v) for v in values]
        ready = [i for i, p in enumerate(items) if p.ok]
        out = [Prediction(Status.EMPTY, [], p.image, p.message, problem=p.problem) for p in items]
        if not ready:
            return out
        raw = self.outputs(torch.cat([items[i].tensor for i in ready]))
        probs = self.picture_calibration.probabilities(raw)
        sure_from = [self.picture_calibration.sure_from] * len(ready)
        paired = [row for row, i in enumerate(ready) if isinstance(values[i], Sketch) and self.strokes is not None]
        if paired:
            paths = strokes_tensor([[s.points for s in values[ready[row]].strokes] for row in paired])
            pair = self.pair_calibration.probabilities(raw[paired], self.outputs(paths, self.strokes))
            probs[paired] = keep_the_pictures_doubt(pair, probs[paired])
            for row in paired:
                sure_from[row] = self.pair_calibration.sure_from
        for row, i in enumerate(ready):
            cut = isinstance(values[i], Sketch) and values[i].outside_share() > OFF_PAD_SHARE
            out[i] = _judge(items[i].image, probs[row], k, cut, sure_from[row])
        return out

    def outputs(self, x: torch.Tensor, model: LoadedModel | None = None) -> torch.Tensor:
        """Raw outputs, float64 on the CPU, of the picture model (or `model`) for a prepared batch."""
        with torch.inference_mode():
            return (model or self.picture).model(x.to(self.device)).double().cpu()

    def probabilities(self, x: torch.Tensor) -> np.ndarray:
        """Calibrated probabilities of the picture alone for normalised (N, 1, 28, 28) input, float64
        numpy (N, outputs): 10 digits, and "not a digit" for a model with 11 outputs."""
        return self.picture_calibration.probabilities(self.outputs(x))


def _judge(image: np.ndarray, p: np.ndarray, k: int, off_pad: bool, sure_from: float) -> Prediction:
    digits = p[:DIGITS]
    order = np.argsort(-digits, kind="stable")
    top = [(int(d), float(digits[d])) for d in order[:k]]
    first, second = int(order[0]), int(order[1])
    doubt = None
    if off_pad:
        doubt = Doubt.OFF_THE_PAD
    elif not looks_like_a_digit(image):
        doubt = Doubt.NOT_A_DIGIT
    elif ink_aspect(image) > MAX_ASPECT:
        doubt = Doubt.TOO_WIDE
    elif len(p) > DIGITS and p[DIGITS] >= digits[first]:
        doubt = Doubt.NOT_ONE_DIGIT
    elif digits[first] < sure_from or digits[first] - digits[second] < MIN_MARGIN:
        return Prediction(Status.UNSURE, top, image, f"Not sure: could be {first} or {second}", p,
                          doubt=Doubt.AMBIGUOUS)
    if doubt is not None:
        return Prediction(Status.UNSURE, top, image, doubt.message, p, doubt=doubt)
    return Prediction(Status.OK, top, image, f"Looks like a {first}", p)


def looks_like_a_digit(image: np.ndarray) -> bool:
    """Rule 2's check on a preprocessed uint8 28x28: its ink's coverage and Euler number are a digit's."""
    coverage = float(image.mean()) / 255.0
    lo, hi = COVERAGE_RANGE
    e_lo, e_hi = EULER_RANGE
    return lo <= coverage <= hi and e_lo <= euler_number(image >= 128) <= e_hi


def ink_aspect(image: np.ndarray) -> float:
    """Width over height of the half-intensity ink's box in a preprocessed 28x28 image."""
    mask = image >= 128
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if not len(rows):
        return 0.0
    return (cols[-1] - cols[0] + 1) / (rows[-1] - rows[0] + 1)


def euler_number(mask: np.ndarray) -> int:
    """Pieces minus holes of a binary image (8-connected pieces), by counting 2x2 patterns.

    Gray's bit quads: with n1, n3 the 2x2 windows holding one and three ink
    pixels and nd the diagonal pairs, E = (n1 - n3 - 2 nd) / 4. No labelling needed.
    """
    b = np.zeros((mask.shape[0] + 2, mask.shape[1] + 2), np.int8)
    b[1:-1, 1:-1] = mask
    a, c, d, e = b[:-1, :-1], b[:-1, 1:], b[1:, :-1], b[1:, 1:]
    s = a + c + d + e
    n1, n3 = np.count_nonzero(s == 1), np.count_nonzero(s == 3)
    nd = np.count_nonzero((s == 2) & (a == e))
    return (n1 - n3 - 2 * nd) // 4
