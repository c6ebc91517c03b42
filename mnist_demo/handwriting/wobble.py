"""The wobble of a hand on the pad: what a mouse or a finger adds to a pen's path.

A stylus (pendigits, UJI) draws smooth lines; a mouse drawn across a desk
wavers by a few pixels over a few centimetres, and a finger on glass more,
with jitter from the touch sensor. The pad also samples the pointer densely
(every few pixels), where pendigits has a point every 100 ms. `Wobble.apply`
resamples each stroke along its length the way the pad does and adds a smooth
sideways drift (a sum of a few random sinusoids along the arc length) plus
per-point jitter, all in canvas pixels.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

Point = tuple[float, float]


class Hand(str, enum.Enum):
    """What drew the strokes on the pad."""

    STYLUS = "stylus"
    MOUSE = "mouse"
    FINGER = "finger"


@dataclass(frozen=True)
class Wobble:
    """A hand's wobble, in canvas px: smooth drift of `amplitude` over `wavelength`, plus `jitter`."""

    amplitude: float = 0.0
    wavelength: float = 60.0
    jitter: float = 0.0
    step: float = 6.0  # px between the pad's samples of the pointer
    seed: int = 0

    def apply(self, strokes: Sequence[Sequence[Point]]) -> list[list[Point]]:
        rng = np.random.default_rng(self.seed)
        out = []
        for stroke in strokes:
            pts = resample(np.asarray(stroke, np.float64).reshape(-1, 2), self.step)
            if len(pts) > 1 and (self.amplitude > 0 or self.jitter > 0):
                s = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(pts, axis=0).T))])
                drift = np.zeros_like(pts)
                for axis in range(2):
                    for _ in range(3):
                        wl = self.wavelength * rng.uniform(0.5, 2.0)
                        drift[:, axis] += (self.amplitude / math.sqrt(3)) * math.sqrt(2) * np.sin(
                            2 * math.pi * s / wl + rng.uniform(0, 2 * math.pi))
                pts = pts + drift + rng.normal(0.0, self.jitter, pts.shape)
            out.append([(float(x), float(y)) for x, y in pts])
        return out


NONE = Wobble()


def hand_wobble(hand: Hand, rng: np.random.Generator) -> Wobble:
    """A random wobble of the kind `hand` makes (a stylus: none, only the pad's sampling)."""
    seed = int(rng.integers(2**31))
    if hand is Hand.MOUSE:
        return Wobble(rng.uniform(0.5, 4.0), rng.uniform(40, 120), rng.uniform(0.0, 1.0), rng.uniform(3, 10), seed)
    if hand is Hand.FINGER:
        return Wobble(rng.uniform(1.5, 7.0), rng.uniform(50, 160), rng.uniform(0.3, 2.0), rng.uniform(4, 12), seed)
    return Wobble(0.0, 60.0, 0.0, rng.uniform(3, 10), seed)


def resample(points: np.ndarray, step: float) -> np.ndarray:
    """Points every `step` px along the polyline (its ends kept): the pad's pointer sampling."""
    if len(points) < 2:
        return points
    seg = np.hypot(*np.diff(points, axis=0).T)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    if s[-1] <= step:
        return points[[0, -1]] if s[-1] > 0 else points[:1]
    at = np.append(np.arange(0.0, s[-1], step), s[-1])
    return np.stack([np.interp(at, s, points[:, 0]), np.interp(at, s, points[:, 1])], axis=1)
