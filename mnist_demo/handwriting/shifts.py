"""What changes when the same digit comes from another device or another hand, as strokes on the pad.

A digit drawn on a phone, a touch tablet or with a mouse reaches the pad as
the same shape with another path: the pointer sampled more or less often,
strokes drawn the other way or in another order, a stroke split where the
finger paused, strokes joined where the pen never lifted, a finger's wobble.
A reader of the pen's path must not depend on any of these (the picture
barely changes). `shifted` applies one to strokes already placed on the pad
(canvas px): the transfer benchmark judges readers by them, and training
draws them at random (`device_shifted`) for a recipe's `pen_shifts`.
"""

from __future__ import annotations

import enum
from typing import Sequence

import numpy as np

from mnist_demo.handwriting.wobble import Wobble, resample

Point = tuple[float, float]
Strokes = Sequence[Sequence[Point]]


class Shift(str, enum.Enum):
    """One way a device or a hand changes the path of the same digit."""

    AS_DRAWN = "as drawn"
    SPARSE = "the pointer sampled 4 times less often"
    DENSE = "the pointer sampled 4 times more often"
    REVERSED = "every stroke drawn the other way"
    REORDERED = "the strokes in another order"
    SPLIT = "strokes split where the pen paused"
    JOINED = "strokes joined, the pen never lifted"
    WOBBLE = "a finger's strong wobble"


SPARSE_EVERY = 4  # SPARSE keeps one point in this many (and each stroke's last)
DENSE_FACTOR = 4  # DENSE puts this many points where there was one
MIN_SPLIT_POINTS = 6  # a stroke is split only where it has room on both sides
DEVICE_SHIFTS = tuple(s for s in Shift if s is not Shift.AS_DRAWN)


def device_shifted(strokes: Strokes, share: float, rng: np.random.Generator) -> Strokes:
    """The strokes, `share` of the time changed by one of the `DEVICE_SHIFTS` at random, else as they are
    (no draw at all when `share` is 0: a recipe without shifts draws what it drew before there were any)."""
    if share > 0 and rng.random() < share:
        return shifted(strokes, DEVICE_SHIFTS[int(rng.integers(len(DEVICE_SHIFTS)))], rng)
    return strokes


def shifted(strokes: Strokes, shift: Shift, rng: np.random.Generator) -> list[list[Point]]:
    """The strokes (canvas px, y down) as `shift` changes them; empty strokes are dropped."""
    parts = [np.asarray(s, np.float64).reshape(-1, 2) for s in strokes if len(s)]
    if shift is Shift.SPARSE:
        parts = [np.concatenate([p[:-1][::SPARSE_EVERY], p[-1:]]) for p in parts]
    elif shift is Shift.DENSE:
        parts = [_denser(p) for p in parts]
    elif shift is Shift.REVERSED:
        parts = [p[::-1] for p in parts]
    elif shift is Shift.REORDERED and len(parts) > 1:
        turn = int(rng.integers(1, len(parts)))  # never the order drawn
        parts = parts[turn:] + parts[:turn]
    elif shift is Shift.SPLIT:
        parts = [half for p in parts for half in _split(p, rng)]
    elif shift is Shift.JOINED and len(parts) > 1:
        parts = [np.concatenate(parts)]  # the pen goes straight on to where the next stroke began
    elif shift is Shift.WOBBLE:
        wobble = Wobble(rng.uniform(5.0, 9.0), rng.uniform(50, 120), rng.uniform(1.0, 2.5), rng.uniform(4, 10),
                        int(rng.integers(2**31)))
        return wobble.apply([p.tolist() for p in parts])
    return [[(float(x), float(y)) for x, y in p] for p in parts]


def _denser(p: np.ndarray) -> np.ndarray:
    if len(p) < 2:
        return p
    t = np.linspace(0, len(p) - 1, (len(p) - 1) * DENSE_FACTOR + 1)
    return np.stack([np.interp(t, np.arange(len(p)), p[:, 0]), np.interp(t, np.arange(len(p)), p[:, 1])], 1)


def _split(p: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """A stroke lifted once in its middle third (the finger paused), or as it was when too short."""
    if len(p) < MIN_SPLIT_POINTS:
        p = resample(p, max(float(np.hypot(*np.ptp(p, 0))) / MIN_SPLIT_POINTS, 1e-6)) if len(p) > 1 else p
    if len(p) < MIN_SPLIT_POINTS:
        return [p]
    at = int(rng.integers(len(p) // 3, 2 * len(p) // 3 + 1))
    return [p[:at + 1], p[at:]]
