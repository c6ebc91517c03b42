"""Digits drawn by people no model here trained on (UCI pen digits, writers 21-30), as the pad sends them; drawings
as the pad samples a pen, and drawings at every limit of the pad's value."""

from __future__ import annotations

import json

import numpy as np

from mnist_demo.handwriting.pen_digits import HELD_OUT_WRITERS, PenDigit, centred, load_pen_digits
from mnist_demo.reading.sketch import MAX_BRUSH, MAX_CANVAS, MAX_POINTS, MAX_STROKES, Sketch, Stroke


def held_out_digits(labels: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), per_label: int = 1) -> list[PenDigit]:
    """Digits of writers no model trained on, `per_label` of each label, in file order."""
    chosen: dict[int, list[PenDigit]] = {d: [] for d in labels}
    for digit in load_pen_digits():
        if digit.writer in HELD_OUT_WRITERS and digit.label in chosen and len(chosen[digit.label]) < per_label:
            chosen[digit.label].append(digit)
    return [d for label in labels for d in chosen[label]]


def pad_value(digit: PenDigit, version: int = 0) -> str:
    """`digit` drawn on the Draw tab's pad, as the pad sends it (JSON strokes on the 800 px canvas)."""
    return centred().sketch(digit.strokes, version=version).to_json()


def as_the_pad_samples(sketch: Sketch, step: float) -> Sketch:
    """`sketch` as the pad records it: a point every `step` px along each stroke (the pad keeps none closer
    than 1.5 px), each stroke's last point too, all to 0.1 px."""
    strokes = []
    for s in sketch.strokes:
        points = s.points.astype(np.float64)
        along = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(points, axis=0).T))])
        at = np.append(np.arange(0.0, along[-1], step), along[-1]) if along[-1] > 0 else along[:1]
        strokes.append(Stroke(np.round(np.stack([np.interp(at, along, points[:, 0]),
                                                 np.interp(at, along, points[:, 1])], 1), 1), s.radius))
    return Sketch(tuple(strokes), sketch.size)


def at_the_limits(kind: str) -> str:
    """A drawing at every limit of the pad's value (MAX_STROKES strokes, MAX_POINTS points, the widest brush on
    the largest canvas), as JSON. `kind`, one of LIMIT_KINDS: a scribble; random jumps; a zigzag between two
    corners; a loop drawn over itself; a digit sampled every 0.1 px; a digit traced over four times."""
    rng = np.random.default_rng(0)
    size, n = MAX_CANVAS, MAX_POINTS // MAX_STROKES
    if kind in ("dense digit", "retraced digit"):
        placed = centred(canvas=size).sketch(held_out_digits((2,))[0].strokes)
        path = np.concatenate([s.points for s in as_the_pad_samples(placed, 0.1).strokes])
        traced = np.resize(path[:: max(1, 4 * len(path) // MAX_POINTS)], (MAX_POINTS, 2)) if kind == "retraced digit" \
            else path[np.linspace(0, len(path) - 1, MAX_POINTS).astype(int)]
        points = traced + (rng.normal(0, 0.3, traced.shape) if kind == "retraced digit" else 0)  # a shaky hand
        strokes = np.split(points, MAX_STROKES)
    else:
        t = np.linspace(0, 2 * np.pi, n)
        strokes = [{"scribble": lambda: rng.uniform(300, 1700, 2) + np.cumsum(rng.normal(0, 3, (n, 2)), 0),
                    "jumps": lambda: rng.uniform(0, size, (n, 2)),
                    "zigzag": lambda: np.array([[0.0, 0.0], [size, size]] * (n // 2)),
                    "loop": lambda: np.stack([1000 + 500 * np.sin(t), 1000 - 700 * np.cos(t)], 1)}[kind]()
                   for _ in range(MAX_STROKES)]
    return json.dumps({"size": size, "strokes": [{"r": MAX_BRUSH, "points": np.round(np.asarray(s, np.float64), 1).tolist()}
                                                 for s in strokes]})


LIMIT_KINDS = ("scribble", "jumps", "zigzag", "loop", "dense digit", "retraced digit")
