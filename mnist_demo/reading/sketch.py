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

Points are kept to 0.1 px (as the pad sends them and a collection file holds
them), as float32 arrays. What a drawing may hold is limited (the constants
below), and so is what it costs to read: one the pad could not have made, too
much ink to draw within `brush.BUDGET_US` on a canvas of `brush.MIN_SIDE` px or
more, is refused as too dense (`brush.drawing_scale`).
"""

from __future__ import annotations

import functools
import itertools
import json
import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import orjson

from mnist_demo.reading.brush import BRUSH_RADIUS, HALF_PIXEL, MIN_SIDE, Joined, Stroke, draw_strokes, drawing_scale

CANVAS = 800  # the pad's coordinate space: preprocessing scales any drawing down to 28x28 anyway
PAD_BRUSH_RANGE = (8, 40)  # what the pad's pen-width slider offers, radius in canvas px
MIN_BRUSH, MAX_BRUSH = 2.0, 80.0  # radius accepted from API clients, in canvas px
MIN_CANVAS, MAX_CANVAS = 28, 2000
MAX_STROKES = 200
MAX_POINTS = 20_000  # all strokes together: minutes of drawing at the pad's sampling rate
MAX_CHARS = 1_000_000  # of the JSON text, checked before parsing it
MAX_COORD = 100_000  # px either way from the canvas's corner: beyond any screen a pen can reach
DECIMALS = 1  # points are kept to 0.1 px

Point = tuple[float, float]


class SketchError(ValueError):
    """The value is not a drawing the pad could have sent; the message says why, for people."""


@dataclass(frozen=True)
class Sketch:
    """A drawing as the pad sends it."""

    strokes: tuple[Stroke, ...] = ()
    size: int = CANVAS
    version: int = 0

    @property
    def empty(self) -> bool:
        return not any(len(s.points) for s in self.strokes)

    @functools.cached_property
    def joined(self) -> Joined:
        """The strokes as one array, to read them at C speed; 34 bytes a point, held as long as this
        object: keep `bare()` of a drawing kept for long."""
        return Joined.of(self.strokes)

    @functools.cached_property
    def scale(self) -> float | None:
        """How much smaller than its canvas the drawing is drawn (`brush.drawing_scale`): 1 for anything
        the pad sends; None for too much ink to draw within the budget."""
        return drawing_scale(self.joined, self.size)

    def bare(self) -> "Sketch":
        """The same drawing without what reading it cached (its strokes, shared, are all it holds)."""
        return Sketch(self.strokes, self.size, self.version)

    def ink(self, detail: int | None = None) -> np.ndarray:
        """uint8 ink map, 255 where the brush went: the pad's drawing as the model's input.

        By default the whole canvas, ink beyond its edge cut off as on the page: (size, size)
        for anything the pad sends, smaller by `scale` for a drawing too heavy to draw at full
        size (the picture is the same, and `preprocess` reads it the same). With `detail`, only
        the ink's box, drawn scaled so its longer side is about `detail` px (never enlarged):
        ~15x fewer pixels to draw for training renders, and `preprocess_ink(..., whole_canvas=False)`
        of it matches the full canvas.
        """
        if detail is None:
            scale = self.scale or min(1.0, MIN_SIDE / self.size)  # too heavy (never parsed): the smallest
            pens = self.joined.pens(self.joined.thinned(HALF_PIXEL / scale), scale)
            side = max(1, round(self.size * scale))
            return np.asarray(draw_strokes((side, side), pens))
        inked = [s for s in self.strokes if len(s.points)]
        x0, y0 = np.min([s.points.astype(np.float64).min(0) - s.radius for s in inked], 0)
        x1, y1 = np.max([s.points.astype(np.float64).max(0) + s.radius for s in inked], 0)
        scale = min(1.0, detail / max(x1 - x0, y1 - y0, 1e-6))
        margin = 3
        size = (int(math.ceil((x1 - x0) * scale)) + 2 * margin, int(math.ceil((y1 - y0) * scale)) + 2 * margin)
        scaled = [((s.points - np.array([x0, y0])) * scale + margin, max(s.radius * scale, 0.5)) for s in inked]
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
        pts, along = self.joined.points, ~self.joined.first[1:]  # the segments within strokes
        mids = (pts[1:] + pts[:-1])[along] / 2
        lengths = np.hypot(*np.diff(pts, axis=0)[along].T)
        total = float(lengths.sum())
        inside = float(lengths[((mids >= 0) & (mids <= self.size)).all(1)].sum())
        return 1.0 - inside / total if total > 0 else 0.0

    def rounded(self) -> "Sketch":
        """The drawing as a file holds it: points to 0.1 px, the page's counter at 0."""
        return Sketch(tuple(Stroke(np.round(s.points.astype(np.float64), DECIMALS), s.radius) for s in self.strokes),
                      self.size)

    def to_json(self) -> str:
        """The pad's value for this drawing (what `parse_sketch` reads back)."""
        strokes = [{"r": s.radius, "points": np.round(s.points.astype(np.float64), DECIMALS)} for s in self.strokes]
        # orjson writes json.dumps's compact text, arrays and all, 20x faster: a collection's download is these.
        return orjson.dumps({"size": self.size, "version": self.version, "strokes": strokes},
                            option=orjson.OPT_SERIALIZE_NUMPY).decode()


def path_box(strokes: Iterable[Sequence[Point] | np.ndarray]) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of the pen path."""
    points = np.concatenate([np.asarray(s, np.float64).reshape(-1, 2) for s in strokes])
    (x0, y0), (x1, y1) = points.min(0), points.max(0)
    return float(x0), float(y0), float(x1), float(y1)


def _number(value: Any, what: str) -> float:
    # bool is an int in Python, but true/false in a drawing is a mistake, not 1/0.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SketchError(f"{what} must be a number, not {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:  # an integer of hundreds of digits
        number = math.inf
    if not math.isfinite(number):
        raise SketchError(f"{what} must be a finite number, not {number}")
    return number


def _stroke(value: Any, i: int) -> tuple[Sequence, float]:
    """A stroke's points (still as sent) and its brush radius; SketchError when it is no stroke."""
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
    return value, radius


def _strokes(values: Sequence) -> tuple[Stroke, ...]:
    """The strokes, their points checked all at once (a drawing at the limits is 20,000 of them)."""
    sent = [_stroke(v, i) for i, v in enumerate(values)]
    counts = [len(points) for points, _ in sent]
    if sum(counts) > MAX_POINTS:
        raise SketchError(f"too many points (at most {MAX_POINTS:,}): clear the pad and draw one digit")
    points = _plain_points(list(itertools.chain.from_iterable(points for points, _ in sent)))
    if points is None:  # something is wrong: find the first point that is, and say which
        points = np.array([_point(p, i, j) for i, (stroke, _) in enumerate(sent) for j, p in enumerate(stroke)],
                          np.float64).reshape(-1, 2)
    ends = np.cumsum(counts)
    far = np.flatnonzero((np.abs(points) > MAX_COORD).any(1))
    if len(far):
        i = int(np.searchsorted(ends, far[0], side="right"))
        raise SketchError(f"point {far[0] - (ends[i] - counts[i]) + 1} of stroke {i + 1} is too far off the pad "
                          f"(x and y are -{MAX_COORD:,} to {MAX_COORD:,} px)")
    points = np.round(points, DECIMALS)
    return tuple(Stroke(p, r) for p, (_, r) in zip(np.split(points, ends[:-1]), sent))


def _plain_points(points: list) -> np.ndarray | None:
    """float64 (n, 2) of points that are all [x, y] of finite JSON numbers, checked at C speed (map,
    chain, fromiter: 3 ms for 20,000 points, where a loop took 40); None to check them one by one."""
    try:
        if set(map(len, points)) - {2}:
            return None
        numbers = list(itertools.chain.from_iterable(points))
        if not set(map(type, numbers)) <= {int, float}:  # bool is no number here, nor a numeric string
            return None
        array = np.fromiter(numbers, np.float64, len(numbers)).reshape(-1, 2)
    except (TypeError, ValueError, OverflowError):
        return None
    return array if np.isfinite(array).all() else None


def _point(p: Any, i: int, j: int) -> tuple[float, float]:
    if not isinstance(p, Sequence) or isinstance(p, str) or len(p) != 2:
        raise SketchError(f"point {j + 1} of stroke {i + 1} must be [x, y]")
    return _number(p[0], "x"), _number(p[1], "y")


def _loads(text: str | bytes) -> Any:
    """The drawing's JSON: orjson reads a drawing at the limits 4x faster than json (3 ms, not 12); what
    it refuses (NaN, Infinity, integers of hundreds of digits) json reads, or says what is wrong with."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise SketchError(f"the drawing is not valid JSON ({exc})") from None


def parse_sketch(value: str | bytes | Mapping[str, Any] | None) -> Sketch:
    """The pad's value (JSON text or dict) as a Sketch; None or "" is an empty drawing.

    Raises SketchError, with a message for people, for anything else: text that
    is not JSON, missing or mistyped fields, numbers that are not finite, and
    drawings beyond the limits (MAX_STROKES, MAX_POINTS, MAX_CHARS, MAX_COORD,
    too dense to draw: `Sketch.scale`).
    """
    if value is None or (isinstance(value, (str, bytes)) and not value.strip()):
        return Sketch()
    if isinstance(value, (str, bytes)):
        if len(value) > MAX_CHARS:
            raise SketchError(f"the drawing is too large ({len(value):,} characters; at most {MAX_CHARS:,})")
        value = _loads(value)
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
    sketch = Sketch(_strokes(strokes), size, version)
    if sketch.scale is None:
        raise SketchError(f"too much ink to read ({len(sketch.joined.points):,} points, laid over the pad "
                          f"about {sketch.joined.ink / size ** 2:,.0f} times): clear the pad and draw one digit")
    return sketch
