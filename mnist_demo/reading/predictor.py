"""Read a drawn digit: preprocess, run the model, say how sure it is.

A `Prediction` has a status (`status.Status`):
- EMPTY: nothing to read: preprocessing found no digit (its `problem` says
  why: a blank canvas, a few specks, a lone dot; a canvas painted all over, a
  blob, an image without a plain background such as noise; see
  `preprocess`). `top` is empty and `message` is preprocessing's.
- UNSURE: the model's answer is not to be trusted; `doubt` (`status.Doubt`)
  says why, by the first rule that applies:
  1. OFF_THE_PAD: more than `OFF_PAD_SHARE` of the pen's path lies beyond the
     pad's edge, so the digit is cut (pad drawings only);
  2. NOT_A_DIGIT: the 28x28 image is unlike any digit after preprocessing,
     which makes every digit alike in size and stroke width: its mean intensity
     is outside `coverage_range` (3% to 30%), or its half-intensity ink has a
     number of pieces minus holes (Euler number) outside `euler_range` (-4 to
     2; a digit is one or two pieces with at most two loops);
  3. TOO_WIDE: the ink is more than `MAX_ASPECT` times as wide as it is tall
     (no MNIST training digit is);
  4. NOT_ONE_DIGIT: a model with an "other" class (11 outputs) finds "not a
     digit" the likeliest answer: a letter, a symbol, a scribble, two digits;
  5. AMBIGUOUS: the top digit's probability is below `min_top`, or it leads
     the second by less than `min_margin`: "Not sure: could be 4 or 9".
  `top` still holds the k best digit guesses.
- OK: otherwise; `message` is e.g. "Looks like a 7".

Probabilities are the model's softmax at the temperature its weights file
carries (`info["calibration"]`, fitted on writers kept out of training, see
`training.calibration`), and `min_top` is the file's too, so "97% sure" is
right about that often. Without one, temperature 1 and `MIN_TOP`.

The pad's drawings keep their path (a `Sketch`): a stroke reader
(`models.StrokeNet`, `reading.strokes`) reads it beside the image model, and
the two answers are joined by the `Pairing` fitted for these very weights,
whose temperature and `min_top` then replace the file's. By default that is
the shipped stroke reader when it was paired with these weights (the shipped
ones, or a model fitted to a visitor's hand from them); pictures, and any
other model, are read by the image model alone.

A Predictor never changes after it is made, so any number of threads may
read drawings with it at once.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from mnist_demo.checkpoint import CheckpointError, LoadedModel, load_weights, model_digest
from mnist_demo.devices import pick_device
from mnist_demo.mnist import DIGITS
from mnist_demo.models import Inputs, inputs_of
from mnist_demo.reading.preprocess import Preprocessed, preprocess
from mnist_demo.reading.sketch import Sketch
from mnist_demo.reading.strokes import Pairing, combine, strokes_tensor
from mnist_demo.reading.status import Doubt, Problem, Status

MIN_TOP = 0.5
MIN_MARGIN = 0.2
COVERAGE_RANGE = (0.03, 0.30)
EULER_RANGE = (-4, 2)
MAX_ASPECT = 2.5  # ink width over height; no MNIST training digit exceeds it
OFF_PAD_SHARE = 0.05  # of the pen's path beyond the pad's edge
NOT_A_DIGIT = Doubt.NOT_A_DIGIT.message


class Paired(enum.Enum):
    SHIPPED = "the shipped stroke reader, when it was paired with these weights"


def pairing_of(strokes: LoadedModel, image: LoadedModel) -> Pairing:
    """The pairing of this stroke reader with this image model, from the stroke reader's file or the image
    model's; CheckpointError when there is none fitted for these two (its confidence would mean nothing)
    or it is no stroke reader."""
    if inputs_of(strokes.model) is not Inputs.STROKES or "pairing" not in strokes.info:
        raise CheckpointError(f"a {strokes.name} is no stroke reader paired with an image model")
    image_digest = model_digest(image.model)
    own = Pairing.from_dict(strokes.info["pairing"])
    if own.image_digest == image_digest:
        return own
    if "pairing" in image.info:  # a fitted model carries its pairing with the shipped stroke reader
        carried = Pairing.from_dict(image.info["pairing"])
        if carried.image_digest == image_digest and carried.strokes_digest == model_digest(strokes.model):
            return carried
    raise CheckpointError(f"this stroke reader was paired with other weights than this {image.name}'s "
                          f"(it was fitted with {strokes.info.get('paired_with', 'another model')})")


def shipped_stroke_reader(image: LoadedModel) -> LoadedModel | None:
    """The shipped stroke reader when it was paired with these image weights (the shipped ones); else None."""
    from mnist_demo.weights import Weights

    if Weights.STROKES is None or image.name != Weights.DEFAULT.model:
        return None
    try:
        strokes = Weights.STROKES.load()
        pairing_of(strokes, image)
    except (CheckpointError, OSError):
        return None  # a visitor's own model, or weights trained anew: read the picture alone
    return strokes


@dataclass
class Prediction:
    status: Status  # OK, UNSURE or EMPTY
    top: list[tuple[int, float]]  # (digit, probability), most likely first; [] when "empty"
    image: np.ndarray  # uint8 (28, 28): what the model saw (zeros when "empty")
    message: str
    probabilities: np.ndarray | None = field(default=None, repr=False)  # every output's, None when EMPTY
    problem: Problem | None = None  # preprocessing's reason when EMPTY
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


class Predictor:
    """A model ready to read drawings; thread-safe (nothing in it changes after it is made)."""

    def __init__(self, weights: str | os.PathLike | LoadedModel, device: str | torch.device | None = None, *,
                 min_top: float | None = None, min_margin: float = MIN_MARGIN,
                 coverage_range: tuple[float, float] = COVERAGE_RANGE,
                 euler_range: tuple[int, int] = EULER_RANGE, temperature: float | None = None,
                 strokes: str | os.PathLike | LoadedModel | None | Paired = Paired.SHIPPED) -> None:
        """`min_top` and `temperature`: None takes the weights file's calibration (else MIN_TOP and 1); they
        apply to pictures, and to drawings when no stroke reader joins in.

        `strokes`: a stroke reader to read the pad's drawings with, beside the image model (its weights
        file must hold a pairing fitted for these very weights); by default the shipped one when it was
        paired with these weights, else none; None: never.
        """
        dev = device if isinstance(device, torch.device) else pick_device(device)
        self.loaded = self._load(weights, dev)
        self.device = dev
        calibration = self.loaded.info.get("calibration") or {}
        self.temperature = float(temperature or calibration.get("temperature") or 1.0)
        self.min_top = float(min_top if min_top is not None else calibration.get("min_top", MIN_TOP))
        self.strokes: LoadedModel | None = None
        self.pairing: Pairing | None = None
        if strokes is Paired.SHIPPED:
            strokes = shipped_stroke_reader(self.loaded)
        if strokes is not None:
            self.strokes = self._load(strokes, dev)
            self.pairing = pairing_of(self.strokes, self.loaded)
        self.min_margin = min_margin
        self.coverage_range = coverage_range
        self.euler_range = euler_range

    @staticmethod
    def _load(weights: str | os.PathLike | LoadedModel, device: torch.device) -> LoadedModel:
        if isinstance(weights, LoadedModel):
            weights.model.to(device).eval()
            return weights
        return load_weights(weights, device)

    # ------------------------------------------------------------ model

    @property
    def info(self) -> dict[str, Any]:
        return self.loaded.info

    @property
    def model_name(self) -> str:
        return self.loaded.name

    @property
    def test_accuracy(self) -> float | None:
        return self.loaded.test_accuracy

    # ------------------------------------------------------------ reading drawings

    def predict(self, value: Any, k: int = 3) -> Prediction:
        """Read one drawing (anything `preprocess` accepts)."""
        return self.predict_batch([value], k)[0]

    def predict_batch(self, values: Sequence[Any], k: int = 3) -> list[Prediction]:
        """Read many drawings with one forward pass (two with a stroke reader: the pad's drawings are
        read from their picture and from their path together)."""
        off_pad = [isinstance(v, Sketch) and v.outside_share() > OFF_PAD_SHARE for v in values]
        sketches = [v if isinstance(v, Sketch) else None for v in values]
        return self.predict_preprocessed([preprocess(v) for v in values], k, off_pad, sketches)

    def predict_preprocessed(self, items: Sequence[Preprocessed], k: int = 3,
                             off_pad: Sequence[bool] | None = None,
                             sketches: Sequence[Sketch | None] | None = None) -> list[Prediction]:
        """Predictions for already preprocessed drawings (one forward pass for all that hold a digit).
        `off_pad`: which drawings run off the pad's edge (rule 1). `sketches`: the pad's drawings they were
        made from, for the stroke reader (None where there is none, or to read the picture alone)."""
        k = max(1, min(DIGITS, int(k)))
        off_pad = off_pad or [False] * len(items)
        sketches = sketches or [None] * len(items)
        ready = [i for i, p in enumerate(items) if p.ok]
        batch = [items[i].tensor for i in ready]
        raw = self._outputs(batch[0] if len(batch) == 1 else torch.cat(batch)) if ready else None
        probs = torch.softmax(raw / self.temperature, 1).numpy() if ready else None
        both = {i for i in ready if sketches[i] is not None and self.strokes is not None}
        if both:
            rows = [row for row, i in enumerate(ready) if i in both]
            paths = strokes_tensor([[s.points for s in sketches[i].strokes] for i in ready if i in both])
            with torch.inference_mode():
                read = self.strokes.model(paths.to(self.device)).double().cpu()
            joined = combine(raw[rows], read, self.pairing.weight, self.pairing.image_offset)
            probs[rows] = torch.softmax(joined / self.pairing.temperature, 1).numpy()
        out: list[Prediction] = []
        row = 0
        for i, (item, cut) in enumerate(zip(items, off_pad)):
            if not item.ok:
                out.append(Prediction(Status.EMPTY, [], item.image, item.message, problem=item.problem))
                continue
            min_top = self.pairing.min_top if i in both else self.min_top
            out.append(self._judge(item.image, probs[row], k, cut, min_top))
            row += 1
        return out

    def _outputs(self, x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self.loaded.model(x.to(self.device)).double().cpu()

    def probabilities(self, x: torch.Tensor) -> np.ndarray:
        """Calibrated softmax of the image model on normalised (N, 1, 28, 28) input, as float64 numpy
        (N, outputs): 10 digits, and "not a digit" for a model with 11 outputs."""
        # Softmax fits both kinds of model output: logits, and log-probabilities (it undoes the log).
        return torch.softmax(self._outputs(x) / self.temperature, dim=1).numpy()

    def _judge(self, image: np.ndarray, p: np.ndarray, k: int, off_pad: bool, min_top: float) -> Prediction:
        digits = p[:DIGITS]
        order = np.argsort(-digits, kind="stable")
        top = [(int(d), float(digits[d])) for d in order[:k]]
        first, second = int(order[0]), int(order[1])
        doubt = None
        if off_pad:
            doubt = Doubt.OFF_THE_PAD
        elif not self.looks_like_a_digit(image):
            doubt = Doubt.NOT_A_DIGIT
        elif ink_aspect(image) > MAX_ASPECT:
            doubt = Doubt.TOO_WIDE
        elif len(p) > DIGITS and p[DIGITS] >= digits[first]:
            doubt = Doubt.NOT_ONE_DIGIT
        elif digits[first] < min_top or digits[first] - digits[second] < self.min_margin:
            return Prediction(Status.UNSURE, top, image, f"Not sure: could be {first} or {second}", p,
                              doubt=Doubt.AMBIGUOUS)
        if doubt is not None:
            return Prediction(Status.UNSURE, top, image, doubt.message, p, doubt=doubt)
        return Prediction(Status.OK, top, image, f"Looks like a {first}", p)


    def looks_like_a_digit(self, image: np.ndarray) -> bool:
        """The out-of-distribution check of rule 1 on a preprocessed uint8 28x28 image."""
        coverage = float(image.mean()) / 255.0
        lo, hi = self.coverage_range
        e_lo, e_hi = self.euler_range
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
