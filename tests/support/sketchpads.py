"""Drawings for tests, as a `gr.Sketchpad` would hand them over: strokes placed on a canvas, then its layers."""

from __future__ import annotations

from typing import Any

from mnist_demo.handwriting.pen_digits import PadPlacement, Strokes
from mnist_demo.reading.sketch import BRUSH_RADIUS, CANVAS
from mnist_demo.reading.sketchpad import sketchpad_value


def sketchpad_drawing(strokes: Strokes, *, canvas: int = CANVAS, brush_radius: float = BRUSH_RADIUS,
                      height: float | None = None, center: tuple[float, float] | None = None,
                      theme: str = "light") -> dict[str, Any]:
    """`strokes` (y down) drawn on a `canvas` px sketchpad: the path `height` tall (default 60% of the
    canvas) around `center` (default the middle), as {"background", "layers", "composite"}."""
    placement = PadPlacement(0.6 * canvas if height is None else height,
                             (canvas / 2, canvas / 2) if center is None else center, brush_radius, canvas)
    return sketchpad_value(placement.sketch(strokes), theme)
