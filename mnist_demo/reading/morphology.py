"""Stroke width, and thickening or thinning it, on the small working crop of a drawing.

numpy slices on a ~100x100 array cost a few microseconds an operation; torch's
max_pool2d costs ~100 us a call on one CPU thread, which blew the latency budget.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _neighbourhood(a: np.ndarray, step: int, op: Any) -> np.ndarray:
    """One step of a 3x3 max (op=np.maximum) or min filter, alternating square and cross.

    Alternating the two approximates a disc (an octagon) better than either alone.
    Pixels outside the array do not count, so keep ink away from the edges.
    """
    out = a.copy()
    if step % 2 == 0:  # square, as two separable passes
        op(out[:, 1:], a[:, :-1], out=out[:, 1:])
        op(out[:, :-1], a[:, 1:], out=out[:, :-1])
        rows = out.copy()
        op(out[1:], rows[:-1], out=out[1:])
        op(out[:-1], rows[1:], out=out[:-1])
    else:  # cross: the four direct neighbours
        op(out[1:], a[:-1], out=out[1:])
        op(out[:-1], a[1:], out=out[:-1])
        op(out[:, 1:], a[:, :-1], out=out[:, 1:])
        op(out[:, :-1], a[:, 1:], out=out[:, :-1])
    return out


def dilate(a: np.ndarray, step: int) -> np.ndarray:
    """Step `step` of a growing disc: call with step 0, 1, 2, ... to thicken by one pixel a side each."""
    return _neighbourhood(a, step, np.maximum)


def erode(a: np.ndarray, step: int) -> np.ndarray:
    """Step `step` of a shrinking disc (see `dilate`)."""
    return _neighbourhood(a, step, np.minimum)


def stroke_width(mask: np.ndarray) -> tuple[float, float]:
    """(Typical, widest) stroke width in pixels of a binary (H, W) mask.

    The distance to the background (counted in erosion steps) peaks on the
    centre line of each stroke at half its width; the median over those ridge
    pixels ignores the caps, junctions and blobs. The widest is twice the
    largest distance: a dot is about as long as it is wide.
    """
    dist = mask.astype(np.int16)
    cur = mask
    for step in range(max(mask.shape)):
        cur = erode(cur, step)
        if not cur.any():
            break
        dist += cur
    ridge = (dist > 0) & (dist >= dilate(dist, 0))
    d = dist[ridge]
    if d.size == 0:
        return 0.0, 0.0
    # A band n px wide has a ridge at ceil(n / 2) steps: 2 * d - 0.5 is unbiased over odd and even n.
    return max(1.0, 2.0 * float(np.median(d)) - 0.5), max(1.0, 2.0 * float(d.max()) - 0.5)


def pad(a: np.ndarray, n: int) -> np.ndarray:
    """Zero border of n px (np.pad costs ten times more on small arrays)."""
    out = np.zeros((a.shape[0] + 2 * n, a.shape[1] + 2 * n), a.dtype)
    out[n:n + a.shape[0], n:n + a.shape[1]] = a
    return out
