"""How a reader's raw outputs become probabilities that mean what they say, one `Calibration` per kind of input.

A drawing is read from its picture alone (an upload, or a reader without a
stroke reader), or from its picture and its path together (the pad's JSON).
Each kind has its own calibration, fitted on writers kept out of training
(`training.calibration`), and kept in the picture model's info under
"calibrations" ({"picture": ..., "pair": ...}):

- the picture model's "not a digit" score is lowered by `other_offset`
  (fitted where many MNIST digits were read as "not a digit", or 0; where
  it came from is in `other_offset_from`);
- for the pair, the stroke reader's log-probabilities join the picture's,
  times `stroke_weight` (a product of the two readers' probabilities);
- the joined scores are divided by `temperature` and go through a softmax;
- the pair's "not a digit" is at least the picture's alone (`keep_the_pictures_doubt`);
- a reading is sure when its digit's probability reaches `sure_from`; for the
  pair at least what the picture alone needs: the path re-ranks and sharpens
  the picture's reading, and a symbol the picture reads as a digit, but not
  surely enough, is no surer for its path (`benchmarks/transfer.py`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

import numpy as np
import torch

from mnist_demo.base.mnist import OTHER_CLASS

PAIR = "pair"  # the kinds of input, as keys of info["calibrations"]: PICTURE (read alone) and PAIR
SURE_FROM = 0.5  # of an uncalibrated model: never call a coin toss sure


@dataclass(frozen=True)
class Calibration:
    """Temperature, sure threshold and the rest for one kind of input (see the module docstring)."""

    temperature: float = 1.0
    sure_from: float = SURE_FROM  # a reading is sure when its digit's probability reaches this
    stroke_weight: float = 0.0  # of the stroke reader's log-probabilities, the picture's counting 1 (pair only)
    other_offset: float = 0.0  # subtracted from the picture model's "not a digit" score
    drawings: int = 0  # how many drawings it was fitted on (0: not fitted)
    fitted_on: str = ""
    # Where other_offset came from: fitted on held-out MNIST digits, a recipe's, or kept from the model a
    # fine-tune started from (which was fitted on other drawings than the temperature).
    other_offset_from: str = ""

    def scores(self, picture: torch.Tensor, strokes: torch.Tensor | None = None) -> torch.Tensor:
        """Joined log-scores, float64 (N, outputs), of raw outputs (logits or log-probabilities) before the
        temperature: the picture model's, and the stroke reader's for the pair."""
        z = picture.double()
        if self.other_offset and z.shape[1] > OTHER_CLASS:
            z = z.clone()
            z[:, OTHER_CLASS] -= self.other_offset
        z = torch.log_softmax(z, 1)
        if strokes is not None:
            z = z + self.stroke_weight * torch.log_softmax(strokes.double(), 1)
        return z

    def probabilities(self, picture: torch.Tensor, strokes: torch.Tensor | None = None) -> np.ndarray:
        """Calibrated probabilities, float64 numpy (N, outputs)."""
        return torch.softmax(self.scores(picture, strokes) / self.temperature, 1).numpy()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "Calibration":
        return cls(**{k: type(getattr(cls(), k))(v) for k, v in values.items() if k in cls.__dataclass_fields__})


def calibrations_of(info: Mapping[str, Any]) -> dict[str, Calibration]:
    """A picture model's calibrations by kind (PICTURE, PAIR), as its info holds them (none: {})."""
    return {kind: Calibration.from_dict(values) for kind, values in (info.get("calibrations") or {}).items()}


def keep_the_pictures_doubt(pair: np.ndarray, picture: np.ndarray) -> np.ndarray:
    """The pair's probabilities (N, outputs) with "not a digit" raised to the picture's alone where the path
    lowered it, the digits scaled to share the rest: the path re-ranks and sharpens the picture's digits, but
    never makes a drawing surer to be a digit than its picture says. A symbol the stroke reader never met can
    have a digit's path (a `^` drawn as a 1 with its flag), and the pair read it as that digit,
    surely (docs/experiments.md)."""
    if pair.shape[1] <= OTHER_CLASS:
        return pair
    other = np.maximum(pair[:, OTHER_CLASS], picture[:, OTHER_CLASS])
    digits = pair[:, :OTHER_CLASS]
    kept = pair.copy()
    kept[:, :OTHER_CLASS] = digits * ((1.0 - other) / np.maximum(digits.sum(1), np.finfo(float).tiny))[:, None]
    kept[:, OTHER_CLASS] = other
    return kept
