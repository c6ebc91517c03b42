"""Writers vary: stroke-level changes that turn one pen digit into another writer's.

Applied to a digit's strokes before it is placed on the pad, for training
renders only. The image-level augmentation (`training/augment.py`) works on
28x28 pixels after preprocessing; this works on the pen's path, so the pad's
round brush, its width and the preprocessing see a drawing a person could
have made: a slant or a rotation of the whole hand, wider or narrower
writing, strokes of a two-stroke digit placed a little apart (a 4's or a 5's
bar), and the other ways people draw a digit (a 1 with a flag and a base, a
7 with a bar across, a 0 with a slash through it as programmers and engineers
write it to tell it from the letter O).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from mnist_demo.reading.sketch import path_box

Point = tuple[float, float]
Strokes = Sequence[Sequence[Point]]

ROTATION_DEG = 10.0
SHEAR = 0.3
ASPECT = (0.75, 1.25)
STROKE_SHIFT = 0.05  # of the digit's height, each stroke of a digit with several
P_FLAG_ON_1 = 0.3
P_BASE_ON_1 = 0.12
P_BAR_ON_7 = 0.2
P_SLASH_ON_0 = 0.15


def vary_strokes(strokes: Strokes, label: int, rng: np.random.Generator) -> list[list[Point]]:
    """A copy of a digit's strokes (y down) as another writer might draw it."""
    pts = [np.asarray(s, np.float64).reshape(-1, 2) for s in strokes]
    x0, y0, x1, y1 = path_box(strokes)
    h = max(y1 - y0, x1 - x0, 1e-6)
    if label == 1 and rng.random() < P_FLAG_ON_1:
        pts = _add_flag(pts, h, rng)
    if label == 1 and rng.random() < P_BASE_ON_1:
        pts = _add_base(pts, h, rng)
    if label == 7 and rng.random() < P_BAR_ON_7:
        pts = _add_bar(pts, rng)
    if label == 0 and rng.random() < P_SLASH_ON_0:
        pts = _add_slash(pts, rng)
    if len(pts) > 1:
        pts = [p + rng.normal(0, STROKE_SHIFT * h, 2) for p in pts]
    angle = math.radians(rng.uniform(-ROTATION_DEG, ROTATION_DEG))
    shear = rng.uniform(-SHEAR, SHEAR)
    aspect = rng.uniform(*ASPECT)
    c, s = math.cos(angle), math.sin(angle)
    # x' = aspect * (x + shear * y), then rotate; y down, so a positive shear leans the top left.
    m = np.array([[c, -s], [s, c]]) @ np.array([[aspect, aspect * shear], [0.0, 1.0]])
    centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    return [[(float(x), float(y)) for x, y in (p - centre) @ m.T] for p in pts]


def _add_flag(pts: list[np.ndarray], h: float, rng: np.random.Generator) -> list[np.ndarray]:
    """A 1's flag: a short stroke from the top of the stem down to the left, as one pen stroke."""
    stem = max(pts, key=lambda p: np.ptp(p[:, 1]) if len(p) else 0)
    top = stem[np.argmin(stem[:, 1])]
    length = h * rng.uniform(0.15, 0.45)
    angle = math.radians(rng.uniform(20, 60))  # below the horizontal, to the left
    start = top + np.array([-length * math.cos(angle), length * math.sin(angle)])
    flag = np.linspace(start, top, 6)
    others = [p for p in pts if p is not stem]
    # Drawn in one go: the flag, then the stem from its top down.
    ordered = stem if stem[0, 1] <= stem[-1, 1] else stem[::-1]
    return [np.concatenate([flag, ordered[1:]])] + others


def _add_base(pts: list[np.ndarray], h: float, rng: np.random.Generator) -> list[np.ndarray]:
    """A 1's base: a horizontal stroke across the foot of the stem."""
    allp = np.concatenate(pts)
    foot = allp[np.argmax(allp[:, 1])]
    half = h * rng.uniform(0.12, 0.25)
    return pts + [np.linspace(foot - [half, 0], foot + [half, 0], 6)]


def _add_bar(pts: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """A 7's bar: a short horizontal stroke across the middle of the stem."""
    allp = np.concatenate(pts)
    x0, y0 = allp.min(0)
    x1, y1 = allp.max(0)
    y = y0 + (y1 - y0) * rng.uniform(0.45, 0.6)
    near = allp[np.abs(allp[:, 1] - y) <= (y1 - y0) * 0.08]
    x = float(near[:, 0].mean()) if len(near) else (x0 + x1) / 2
    half = (x1 - x0) * rng.uniform(0.2, 0.35)
    return pts + [np.linspace([x - half, y], [x + half, y], 6)]


def _add_slash(pts: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """A slashed 0: a straight stroke down to the left across the oval, its ends inside it or a little beyond."""
    allp = np.concatenate(pts)
    (x0, y0), (x1, y1) = allp.min(0), allp.max(0)
    w, h = x1 - x0, y1 - y0
    start = [x0 + w * rng.uniform(0.55, 1.0), y0 + h * rng.uniform(-0.15, 0.3)]
    end = [x0 + w * rng.uniform(0.0, 0.45), y0 + h * rng.uniform(0.7, 1.15)]
    return pts + [np.linspace(start, end, 8)]


def warp_strokes(strokes: Strokes, amount: float, rng: np.random.Generator, centres: int = 4) -> list[list[Point]]:
    """A copy of strokes bent by a smooth random field (elastic distortion at the pen's level): a few
    centres in the drawing's box each pull the path near them (a normal pull of about `amount` of its
    size, fading over about a third of it), so a loop grows or shrinks, a stem bends, one half of an 8
    gets larger, as hands differ beyond an affine change. Smooth at the scale of the drawing, so strokes
    that touch still touch."""
    pts = [np.asarray(s, np.float64).reshape(-1, 2) for s in strokes]
    x0, y0, x1, y1 = path_box(strokes)
    h = max(y1 - y0, x1 - x0, 1e-6)
    where = np.array([x0, y0]) + rng.random((centres, 2)) * [max(x1 - x0, 1e-6), max(y1 - y0, 1e-6)]
    pull = rng.normal(0.0, amount * h, (centres, 2))
    width = 0.35 * h

    def bent(p: np.ndarray) -> np.ndarray:
        if not len(p):
            return p
        near = np.exp(-((p[:, None, :] - where[None]) ** 2).sum(-1) / (2 * width ** 2))  # (N, centres)
        return p + near @ pull

    return [[(float(x), float(y)) for x, y in bent(p)] for p in pts]
