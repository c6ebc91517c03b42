"""Letters, symbols and shapes as pen strokes in a unit box (x right, y down, 0..1).

Two separate sets: `TRAINING_GLYPHS` teach a model what is not a digit (its
"other" class); `HELD_OUT_GLYPHS` are never trained on and measure whether
that lesson generalises. Neither holds a shape that is a digit in some hand
(no O, I, l, S, Z, B, G, q, g, b).
"""

from __future__ import annotations

import math

import numpy as np

Glyph = list[list[tuple[float, float]]]


def line(*points: tuple[float, float]) -> list[tuple[float, float]]:
    """A polyline through the points, with points every ~0.05 so wobble has something to bend."""
    out: list[tuple[float, float]] = []
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        n = max(2, int(math.hypot(x1 - x0, y1 - y0) / 0.05))
        out += [(x0 + (x1 - x0) * t, y0 + (y1 - y0) * t) for t in np.linspace(0, 1, n, endpoint=False)]
    return out + [points[-1]]


def arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float) -> list[tuple[float, float]]:
    """An elliptic arc from `start` to `end` degrees (0 = right, 90 = down, as y points down)."""
    n = max(4, int(abs(end - start) / 10))
    return [(cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a)))
            for a in np.linspace(start, end, n)]


def dot(x: float, y: float) -> list[tuple[float, float]]:
    return [(x, y), (x + 0.01, y + 0.01)]


def _star() -> Glyph:
    pts = [(0.5 + 0.5 * math.cos(math.radians(-90 + 144 * k)), 0.5 + 0.5 * math.sin(math.radians(-90 + 144 * k)))
           for k in range(6)]
    return [line(*pts)]


TRAINING_GLYPHS: dict[str, Glyph] = {
    "A": [line((0, 1), (0.5, 0), (1, 1)), line((0.25, 0.6), (0.75, 0.6))],
    "C": [arc(0.55, 0.5, 0.45, 0.5, -50, -310)],
    "E": [line((1, 0), (0, 0), (0, 1), (1, 1)), line((0, 0.5), (0.7, 0.5))],
    "F": [line((1, 0), (0, 0), (0, 1)), line((0, 0.5), (0.7, 0.5))],
    "H": [line((0, 0), (0, 1)), line((1, 0), (1, 1)), line((0, 0.5), (1, 0.5))],
    "K": [line((0, 0), (0, 1)), line((1, 0), (0, 0.55), (1, 1))],
    "M": [line((0, 1), (0, 0), (0.5, 0.6), (1, 0), (1, 1))],
    "N": [line((0, 1), (0, 0), (1, 1), (1, 0))],
    "R": [line((0, 1), (0, 0)), arc(0.3, 0.25, 0.6, 0.25, -90, 90) + line((0.3, 0.5), (1, 1))],
    "T": [line((0, 0), (1, 0)), line((0.5, 0), (0.5, 1))],
    "U": [line((0, 0), (0, 0.6)) + arc(0.5, 0.6, 0.5, 0.4, 180, 0) + line((1, 0.6), (1, 0))],
    "V": [line((0, 0), (0.5, 1), (1, 0))],
    "W": [line((0, 0), (0.25, 1), (0.5, 0.3), (0.75, 1), (1, 0))],
    "Y": [line((0, 0), (0.5, 0.5), (1, 0)), line((0.5, 0.5), (0.5, 1))],
    "#": [line((0.35, 0), (0.25, 1)), line((0.75, 0), (0.65, 1)), line((0, 0.33), (1, 0.33)),
          line((0, 0.67), (1, 0.67))],
    "*": [line((0.5, 0), (0.5, 1)), line((0.07, 0.25), (0.93, 0.75)), line((0.93, 0.25), (0.07, 0.75))],
    "%": [arc(0.2, 0.2, 0.15, 0.15, 0, 360), line((0.9, 0), (0.1, 1)), arc(0.8, 0.8, 0.15, 0.15, 0, 360)],
    "@": [arc(0.5, 0.5, 0.2, 0.2, 0, 360) + line((0.7, 0.5), (0.7, 0.7)) + arc(0.5, 0.5, 0.45, 0.45, 30, 330)],
    "&": [line((1, 1), (0.2, 0.3)) + arc(0.35, 0.2, 0.2, 0.2, 150, 390) + line((0.5, 0.35), (0.05, 0.7))
          + arc(0.35, 0.75, 0.3, 0.25, 180, 400)],
    "arrow": [line((0, 0.5), (1, 0.5)), line((0.7, 0.2), (1, 0.5), (0.7, 0.8))],
    "up arrow": [line((0.5, 1), (0.5, 0)), line((0.2, 0.3), (0.5, 0), (0.8, 0.3))],
    "star": _star(),
    "triangle": [line((0.5, 0), (1, 1), (0, 1), (0.5, 0))],
    "square": [line((0, 0), (1, 0), (1, 1), (0, 1), (0, 0))],
    "heart": [arc(0.27, 0.28, 0.25, 0.25, 180, 360) + arc(0.73, 0.28, 0.25, 0.25, 180, 360)
              + line((0.98, 0.3), (0.5, 1), (0.02, 0.3))],
    "check": [line((0, 0.55), (0.35, 1), (1, 0))],
    "spiral": [[(0.5 + 0.05 * t * math.cos(t), 0.5 + 0.05 * t * math.sin(t)) for t in np.linspace(0, 9.5, 60)]],
    "smiley": [arc(0.5, 0.5, 0.5, 0.5, 0, 360), dot(0.33, 0.35), dot(0.67, 0.35), arc(0.5, 0.55, 0.25, 0.2, 20, 160)],
    "infinity": [[(0.5 + 0.5 * math.cos(t), 0.5 + 0.25 * math.sin(2 * t)) for t in np.linspace(0, 2 * math.pi, 40)]],
    "lightning": [line((0.6, 0), (0.2, 0.55), (0.6, 0.5), (0.35, 1))],
    "pi": [line((0, 0.1), (1, 0.1)), line((0.3, 0.1), (0.25, 1)), line((0.7, 0.1), (0.8, 1))],
    "sigma": [line((1, 0), (0, 0), (0.5, 0.5), (0, 1), (1, 1))],
    "omega": [line((0, 1), (0.3, 1)) + arc(0.5, 0.45, 0.4, 0.45, 120, -300)[::-1] + line((0.7, 1), (1, 1))],
    "cross-hatch": [line((0, 0), (1, 1)), line((0, 0.5), (0.5, 1)), line((0.5, 0), (1, 0.5)),
                    line((1, 0), (0, 1))],
}

HELD_OUT_GLYPHS: dict[str, Glyph] = {
    "?": [arc(0.5, 0.28, 0.4, 0.28, 200, 420) + line((0.75, 0.48), (0.5, 0.6), (0.5, 0.78)), dot(0.5, 1)],
    "x": [line((0, 0), (1, 1)), line((1, 0), (0, 1))],
    "-": [line((0, 0.5), (1, 0.5))],
    "/": [line((1, 0), (0, 1))],
    "+": [line((0.5, 0), (0.5, 1)), line((0, 0.5), (1, 0.5))],
    "e": [line((0.05, 0.55), (0.95, 0.55)) + arc(0.5, 0.55, 0.45, 0.45, 0, -300)],
    "^": [line((0, 1), (0.5, 0), (1, 1))],
    "=": [line((0, 0.3), (1, 0.3)), line((0, 0.7), (1, 0.7))],
    "<": [line((1, 0), (0, 0.5), (1, 1))],
    ">": [line((0, 0), (1, 0.5), (0, 1))],
    "~": [[(t, 0.5 - 0.3 * math.sin(2 * math.pi * t)) for t in np.linspace(0, 1, 30)]],
}
