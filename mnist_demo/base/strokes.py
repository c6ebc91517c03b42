"""The pen's path as a stroke reader sees it: the one place a drawing's strokes become its input.

A picture loses how a digit was drawn; the pad's JSON keeps it. A 1 with a
long flag and a 7 can look alike in 28x28 pixels, but the 1 is drawn up to the
top and then down, the 7 along the top and then down to the left. The stroke
reader (`models.StrokeNet`) reads the path: the strokes joined in the order
they were drawn (the pen's jump between strokes included, marked pen-up),
centred and scaled so the longer side of their box is 1, and resampled at
`POINTS` equally spaced points along their length, so the pad's sampling rate,
the drawing's size and place, and the pen's width do not matter. Each point
holds x, y, the step to the next point (x, y, times `POINTS`), and whether the
pen is down.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

POINTS = 64
FEATURES = 5  # x, y, dx, dy, pen down
STROKE_FEATURES_VERSION = 1  # a stroke reader's weights file records it; change it when the features change

Point = tuple[float, float]


def path_features(strokes: Sequence[Sequence[Point]], points: int = POINTS) -> np.ndarray:
    """float32 (points, FEATURES) of the strokes (see the module docstring); empty strokes are skipped.
    Raises ValueError when there is no point at all."""
    parts = [np.asarray(s, np.float64).reshape(-1, 2) for s in strokes if len(s)]
    if not parts:
        raise ValueError("no strokes to read")
    path, down = [], []
    for i, part in enumerate(parts):
        if i:  # the jump from the last stroke's end to this one's start is drawn pen-up
            path.append(part[:1])
            down.append([0.0])
        path.append(part)
        down.append(np.ones(len(part)))
    p, pen = np.concatenate(path), np.concatenate(down)
    lo, hi = p.min(0), p.max(0)
    p = (p - (lo + hi) / 2) / max(float((hi - lo).max()), 1e-6)
    s = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(p, axis=0).T))])
    if s[-1] <= 0:  # a dot
        q, pen_at = np.repeat(p[:1], points, 0), np.ones(points)
    else:
        t = np.linspace(0.0, s[-1], points)
        q = np.stack([np.interp(t, s, p[:, 0]), np.interp(t, s, p[:, 1])], 1)
        # A sample is pen-up when the segment it lies on ends where a stroke starts.
        pen_at = pen[np.clip(np.searchsorted(s, t, side="right"), 1, len(p) - 1)]
    step = np.diff(q, axis=0, append=q[-1:]) * points
    return np.concatenate([q, step, pen_at[:, None]], 1).astype(np.float32)


def strokes_tensor(drawings: Sequence[Sequence[Sequence[Point]]]) -> torch.Tensor:
    """float32 (N, POINTS, FEATURES) of several drawings' strokes."""
    if not drawings:
        return torch.zeros(0, POINTS, FEATURES)
    return torch.from_numpy(np.stack([path_features(d) for d in drawings]))
