"""The pad's brush: strokes drawn as the page drew them, at a cost bounded whatever a client sends.

The page draws a stroke as a line 2r wide with round caps and joins; `draw_strokes` does the same
with PIL: a wide line through the points and a disc on each point. What that costs grows with the
points and the ink laid down (`Joined.cost_us`): a digit from the pad takes a millisecond or two,
but 200 strokes of 100 points with an 80 px brush on a 2000 px canvas took 0.2 to 2 s, and /predict
answers anyone, unqueued, every 150 ms while they draw.

`drawing_scale` bounds it. A drawing whose cost is within `BUDGET_US` is drawn whole, as sent: every
drawing the pad makes (its points are 1.5 px apart at least; tests/test_sketch.py draws digits placed,
sized and penned as visitors do, sampled every 1.5 to 6 px), bar the very heaviest (its widest pen
on a digit as tall as it allows, a point every 1.5 px: one in twenty is drawn at 99%). A heavier one
is drawn smaller, at the largest scale that fits, its strokes thinned to a point every half a pixel
of that canvas (`Joined.thinned`): no edge moves by more than half a pixel of what is drawn, and
preprocessing shrinks the ink to 80 px anyway. One that would not fit on `MIN_SIDE` px is far too
much ink to be a digit: its scale is None, and `parse_sketch` refuses it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np
from PIL import Image, ImageDraw

BRUSH_RADIUS = 22  # the pad's pen: a thick felt pen on the 800 px canvas; thinned to MNIST's width anyway
# What drawing costs (Pillow 12, CPU time on one core of this project's 2-core machine): a point's disc
# and line vertex; each scanline they fill (4r: a disc's and a short segment's); each pixel along the
# line (a long one is slow to rasterize however thin); each pixel of ink it lays.
POINT_US = 1.0
SCANLINE_US = 0.036
LENGTH_US = 0.03
PIXELS_PER_US = 3000.0
BUDGET_US = 12_000.0  # CPU time to draw a drawing at most: a twelfth of the time between two of the pad's sends
HALF_PIXEL = 0.5  # points closer than this along a stroke, in pixels of what is drawn, are thinned out
MIN_SIDE = 200  # px: the smallest canvas a drawing is drawn on (2.5x the 80 px preprocessing works at)
MAX_SIDE = 1000  # px: the largest (an API client's 2000 px canvas is drawn at half size, the pad's 800 as it is)
SEARCH = 0.02  # the scale found is within 2% of the largest that fits


@dataclass(frozen=True, eq=False)
class Stroke:
    """One stroke of the pen: its points (float32 (n, 2), canvas px, y down; read-only: 8 bytes a point,
    where tuples of floats took ~120) and the brush radius in the same pixels."""

    points: np.ndarray
    radius: float = BRUSH_RADIUS

    def __post_init__(self) -> None:
        points = np.array(np.asarray(self.points, np.float32).reshape(-1, 2))  # its own copy: no view of more
        points.flags.writeable = False  # a stroke is a value: shared, never changed
        object.__setattr__(self, "points", points)
        object.__setattr__(self, "radius", float(self.radius))

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Stroke) and self.radius == other.radius
                and np.array_equal(self.points, other.points))

    def __hash__(self) -> int:
        return hash((self.radius, self.points.tobytes()))


Pen = tuple[Any, float]  # points (an (n, 2) array or a sequence of (x, y)) and a brush radius


def draw_strokes(size: tuple[int, int], strokes: Iterable[Stroke | Pen]) -> Image.Image:
    """The one stroke renderer: an "L" mask of `size` (width, height), the strokes in 255 by a round,
    hard-edged brush.

    A line 2r wide through the points plus a disc on each point (round caps
    and joins), the way the page's canvas draws them.
    """
    mask = Image.new("L", size, 0)
    draw = ImageDraw.Draw(mask)
    for stroke in strokes:
        points, r = (stroke.points, stroke.radius) if isinstance(stroke, Stroke) else stroke
        flat = np.asarray(points, np.float64).ravel().tolist()  # x, y, x, y, ...: what PIL reads fastest
        if len(flat) > 2:
            draw.line(flat, fill=255, width=max(1, int(round(2 * r))))
        for x, y in zip(flat[::2], flat[1::2]):
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    return mask


@dataclass(frozen=True)
class Joined:
    """Strokes as one array, for working on all their points at C speed: (n, 2) points, each one's brush
    radius, whether it starts or ends a stroke, and how far along its stroke it lies."""

    points: np.ndarray
    radius: np.ndarray
    first: np.ndarray
    last: np.ndarray
    along: np.ndarray
    length: float  # the lines' length, px
    ink: float  # the ink the lines lay down 2r wide, overlaps counted, px

    @classmethod
    def of(cls, strokes: Sequence[Stroke]) -> "Joined":
        inked = [s for s in strokes if len(s.points)]
        counts = [len(s.points) for s in inked]
        points = np.concatenate([s.points for s in inked]).astype(np.float64) if inked else np.zeros((0, 2))
        radius = np.repeat([s.radius for s in inked], counts).astype(np.float64)
        first = np.zeros(len(points), bool)
        first[np.cumsum([0] + counts[:-1])[: len(counts)]] = True
        steps = np.hypot(*np.diff(points, axis=0, prepend=points[:1]).T)
        steps[first] = 0.0  # no line from one stroke's end to the next one's start
        along = np.cumsum(steps)
        along -= along[np.maximum.accumulate(np.where(first, np.arange(len(points)), 0))]
        return cls(points, radius, first, np.roll(first, -1), along, float(steps.sum()),
                   2 * float((steps * radius).sum()))  # not a matmul: BLAS threads wait on a busy machine

    def thinned(self, spacing: float) -> np.ndarray:
        """Which points to keep so that none lies less than `spacing` along its stroke after the last one
        kept, each stroke's first and last kept: no line moves by more than `spacing` anywhere."""
        bucket = np.floor(self.along / spacing)
        return self.first | self.last | (bucket != np.roll(bucket, 1))

    def cost_us(self, keep: np.ndarray, scale: float) -> float:
        """What drawing the kept points at `scale` costs (CPU time; the lines counted unthinned: at most
        a little more than they are)."""
        radii = float(self.radius[keep].sum()) * scale
        return (int(keep.sum()) * POINT_US + 4 * radii * SCANLINE_US + self.length * scale * LENGTH_US
                + self.ink * scale * scale / PIXELS_PER_US)

    def pens(self, keep: np.ndarray, scale: float) -> list[Pen]:
        """The kept points at `scale`, stroke by stroke, as `draw_strokes` takes them."""
        starts = np.flatnonzero(self.first[keep])
        return list(zip(np.split(self.points[keep] * scale, starts[1:]), self.radius[keep][starts] * scale))


def drawing_scale(joined: Joined, size: int) -> float | None:
    """The largest scale (at most 1, and at most MAX_SIDE / size; found to within SEARCH) at which the
    strokes, thinned to one point every half a pixel of what is drawn, are drawn within the budget; None
    when that would be on a canvas smaller than MIN_SIDE px: too much ink to be a digit."""

    def fits(scale: float) -> bool:
        return joined.cost_us(joined.thinned(HALF_PIXEL / scale), scale) <= BUDGET_US

    fitting, too_big = min(1.0, MIN_SIDE / size), min(1.0, MAX_SIDE / size)
    if fits(too_big):
        return too_big
    if not fits(fitting):  # the cost only falls with the scale
        return None
    while too_big / fitting > 1 + SEARCH:  # halve the ratio between the two, in log scale
        middle = math.sqrt(fitting * too_big)
        fitting, too_big = (middle, too_big) if fits(middle) else (fitting, middle)
    return fitting
