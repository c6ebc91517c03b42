"""The Draw tab's pad sends strokes, not pixels: parse them, check them, draw them as the page did.

Sending the pen's path instead of an exported canvas is what makes the app
answer within a fraction of a second: a digit is a few hundred points (a few
kB of JSON) where three 800x800 PNGs are hundreds of kB and take the browser
seconds to encode. The server draws the strokes again with the same round
brush the page used, so it reads exactly what the visitor sees.

The pad's value, a JSON string (or the same as a dict)::

    {"size": 800, "version": 7,
     "strokes": [{"r": 22, "points": [[x, y], [x, y], ...]}, ...]}

`size` is the side of the square canvas the points refer to (pixels, y
pointing down), `r` the brush radius in the same pixels, `version` a counter
the page uses to match answers to drawings (echoed back, never interpreted).
A stroke may also be given as a bare list of points, which gets the default
brush. Anything else gets a `SketchError` whose message says what is wrong.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
from PIL import Image, ImageDraw

CANVAS = 800  # the pad's coordinate space: preprocessing scales any drawing down to 28x28 anyway
BRUSH_RADIUS = 22  # the pad's pen: a thick felt pen on the 800 px canvas; thinned to MNIST's width anyway
PAD_BRUSH_RANGE = (8, 40)  # what the pad's pen-width slider offers, radius in canvas px
MIN_BRUSH, MAX_BRUSH = 2.0, 80.0  # radius accepted from API clients, in canvas px
MIN_CANVAS, MAX_CANVAS = 28, 2000
MAX_STROKES = 200
MAX_POINTS = 20_000  # all strokes together: minutes of drawing at the pad's sampling rate
MAX_CHARS = 1_000_000  # of the JSON text, checked before parsing it

Point = tuple[float, float]


class SketchError(ValueError):
    """The value is not a drawing the pad could have sent; the message says why, for people."""


@dataclass(frozen=True)
class Stroke:
    points: tuple[Point, ...]  # canvas px, y down
    radius: float = BRUSH_RADIUS


@dataclass(frozen=True)
class Sketch:
    """A drawing as the pad sends it."""

    strokes: tuple[Stroke, ...] = ()
    size: int = CANVAS
    version: int = 0

    @property
    def empty(self) -> bool:
        return not any(s.points for s in self.strokes)

    def ink(self, detail: int | None = None) -> np.ndarray:
        """uint8 ink map, 255 where the brush went: the pad's drawing as the model's input.

        By default the whole (size, size) canvas; ink beyond its edge is cut off, as
        on the page. With `detail`, only the ink's box, drawn scaled so its longer
        side is about `detail` px (never enlarged): ~15x fewer pixels to draw for
        training renders, and `preprocess_ink(..., whole_canvas=False)` of it
        matches the full canvas.
        """
        if detail is None:
            return np.asarray(draw_strokes((self.size, self.size), self.strokes))
        inked = [s for s in self.strokes if s.points]
        x0 = min(x - s.radius for s in inked for x, _ in s.points)
        y0 = min(y - s.radius for s in inked for _, y in s.points)
        x1 = max(x + s.radius for s in inked for x, _ in s.points)
        y1 = max(y + s.radius for s in inked for _, y in s.points)
        scale = min(1.0, detail / max(x1 - x0, y1 - y0, 1e-6))
        margin = 3
        size = (int(math.ceil((x1 - x0) * scale)) + 2 * margin, int(math.ceil((y1 - y0) * scale)) + 2 * margin)
        scaled = [Stroke(tuple(((x - x0) * scale + margin, (y - y0) * scale + margin) for x, y in s.points),
                         max(s.radius * scale, 0.5)) for s in inked]
        return np.asarray(draw_strokes(size, scaled))

    def path_extent(self) -> float:
        """The longer side of the box around the pen's path (the stroke centre lines), canvas px."""
        if self.empty:
            return 0.0
        x0, y0, x1, y1 = path_box([s.points for s in self.strokes])
        return max(x1 - x0, y1 - y0)

    def outside_share(self) -> float:
        """The share of the pen's path (by length) that lies beyond the canvas edge, where the pad
        cannot show it: a drawing cut by the edge."""
        inside = total = 0.0
        for stroke in self.strokes:
            pts = np.asarray(stroke.points, np.float64).reshape(-1, 2)
            if len(pts) < 2:
                continue
            mids = (pts[1:] + pts[:-1]) / 2
            lengths = np.hypot(*np.diff(pts, axis=0).T)
            ok = ((mids >= 0) & (mids <= self.size)).all(1)
            inside += float(lengths[ok].sum())
            total += float(lengths.sum())
        return 1.0 - inside / total if total > 0 else 0.0

    def to_json(self) -> str:
        """The pad's value for this drawing (what `parse_sketch` reads back)."""
        return json.dumps({"size": self.size, "version": self.version,
                           "strokes": [{"r": s.radius, "points": [[round(x, 1), round(y, 1)] for x, y in s.points]}
                                       for s in self.strokes]}, separators=(",", ":"))


def path_box(strokes: Iterable[Sequence[Point]]) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of the pen path."""
    xs = [x for s in strokes for x, _ in s]
    ys = [y for s in strokes for _, y in s]
    return min(xs), min(ys), max(xs), max(ys)


def draw_strokes(size: tuple[int, int], strokes: Iterable[Stroke]) -> Image.Image:
    """The one stroke renderer: an "L" mask of `size` (width, height), the strokes in 255 by a round,
    hard-edged brush.

    A line 2r wide through the points plus a disc on each point (round caps
    and joins), the way the page's canvas draws them.
    """
    mask = Image.new("L", size, 0)
    draw = ImageDraw.Draw(mask)
    for stroke in strokes:
        r = stroke.radius
        if len(stroke.points) > 1:
            draw.line(stroke.points, fill=255, width=max(1, int(round(2 * r))))
        for x, y in stroke.points:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    return mask


def _number(value: Any, what: str) -> float:
    # bool is an int in Python, but true/false in a drawing is a mistake, not 1/0.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SketchError(f"{what} must be a number, not {type(value).__name__}")
    if not math.isfinite(value):
        raise SketchError(f"{what} must be a finite number, not {value}")
    return float(value)


def _stroke(value: Any, i: int) -> Stroke:
    radius: float = BRUSH_RADIUS
    if isinstance(value, Mapping):
        if "r" in value:
            radius = _number(value["r"], f"stroke {i + 1}'s brush radius")
            if not MIN_BRUSH <= radius <= MAX_BRUSH:
                raise SketchError(f"stroke {i + 1}'s brush radius must be {MIN_BRUSH:g} to {MAX_BRUSH:g} px, "
                                  f"not {radius:g}")
        value = value.get("points")
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise SketchError(f"stroke {i + 1} must be a list of [x, y] points")
    points = []
    for j, p in enumerate(value):
        if not isinstance(p, Sequence) or isinstance(p, str) or len(p) != 2:
            raise SketchError(f"point {j + 1} of stroke {i + 1} must be [x, y]")
        points.append((_number(p[0], "x"), _number(p[1], "y")))
    return Stroke(tuple(points), radius)


def parse_sketch(value: str | bytes | Mapping[str, Any] | None) -> Sketch:
    """The pad's value (JSON text or dict) as a Sketch; None or "" is an empty drawing.

    Raises SketchError, with a message for people, for anything else: text that
    is not JSON, missing or mistyped fields, numbers that are not finite, and
    drawings beyond the limits (MAX_STROKES, MAX_POINTS, MAX_CHARS).
    """
    if value is None or (isinstance(value, (str, bytes)) and not value.strip()):
        return Sketch()
    if isinstance(value, (str, bytes)):
        if len(value) > MAX_CHARS:
            raise SketchError(f"the drawing is too large ({len(value):,} characters; at most {MAX_CHARS:,})")
        try:
            value = json.loads(value)
        except (ValueError, RecursionError) as exc:
            raise SketchError(f"the drawing is not valid JSON ({exc})") from None
    if not isinstance(value, Mapping):
        raise SketchError('a drawing is an object like {"strokes": [[[x, y], ...], ...]}')
    size = value.get("size", CANVAS)
    if isinstance(size, bool) or not isinstance(size, int) or not MIN_CANVAS <= size <= MAX_CANVAS:
        raise SketchError(f"size must be a whole number of pixels from {MIN_CANVAS} to {MAX_CANVAS}, not {size!r}")
    version = value.get("version", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise SketchError(f"version must be a whole number, not {version!r}")
    strokes = value.get("strokes", [])
    if not isinstance(strokes, Sequence) or isinstance(strokes, str):
        raise SketchError("strokes must be a list of strokes")
    if len(strokes) > MAX_STROKES:
        raise SketchError(f"too many strokes ({len(strokes)}; at most {MAX_STROKES}): clear the pad and draw one digit")
    parsed = tuple(_stroke(s, i) for i, s in enumerate(strokes))
    if sum(len(s.points) for s in parsed) > MAX_POINTS:
        raise SketchError(f"too many points (at most {MAX_POINTS:,}): clear the pad and draw one digit")
    return Sketch(parsed, size, version)
