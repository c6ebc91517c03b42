"""From whatever a person drew to a 28x28 image that looks like MNIST.

MNIST digits are white ink on black, their strokes about 2-2.5 px thick, the
digit scaled (aspect ratio kept, anti-aliased) so its longer side is 20 px, and
its centre of mass at the centre of the 28x28 field. A drawing on an 800x800
canvas is nothing like that: a 50 px brush, any size, anywhere. `preprocess`
brings a drawing to MNIST's form in four steps:

1. Find the ink (`ink`). The Draw tab pad's strokes (`sketch.Sketch`): drawn
   again with its round brush. A picture (`images.to_array`): its gray levels,
   dark ink on light or light on dark, or its alpha where the border is
   transparent. A `gr.Sketchpad` value: through the `sketchpad` adapter.
2. Crop to the ink and scale the crop so its longer side is `WORK` px: all
   further work happens on this small image, which keeps one drawing to a
   millisecond or two.
3. Estimate the stroke width (twice the median distance-to-background on the
   stroke centre lines) and erode or dilate so that, once the digit fills the
   20 px box, its strokes are `TARGET_STROKE` px thick (`morphology`): MNIST's own median by the
   same estimator. A thin pen on a big digit and a fat brush on a small one come
   out alike.
4. Resample into 28x28 with an area (box) filter so the longer side of the
   half-intensity ink is 20 px and its centre of mass lands on the image centre
   (`mnist_box`).

Results have a `status` (`status.Status`), and a `problem` when there is no digit:
- "ok": `image` and `tensor` hold the digit.
- "empty": nothing to read: no ink, fewer ink pixels than a little noise
  (`MIN_INK_FRACTION` of the canvas), a uniform image (one colour, whatever
  it is, has no contrast to find ink by: a solid black array is "empty"), or
  only a dot (ink no longer than `DOT_RATIO` times its widest part).
- "invalid": not a digit: ink over more than `MAX_COVERAGE` of the canvas
  (e.g. the light-theme canvas painted black: the layer, or the composite
  against its plain background, says so), a blob spanning a quarter of the
  canvas, or an image whose border varies as much as its ink (noise): no
  background to tell ink from.
For "empty" and "invalid", `image` is all zeros, `tensor` is None and
`message` says what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import torch
from PIL import Image

from mnist_demo.base.mnist import BOX, SIZE, normalize
from mnist_demo.base.status import Problem, Status
from mnist_demo.reading.images import gray, to_array, to_uint8
from mnist_demo.reading.ink import INK_LEVEL, NotADrawing, border, ink_from_image
from mnist_demo.reading.mnist_box import fit_mnist_box
from mnist_demo.reading.morphology import dilate, erode, pad, stroke_width
from mnist_demo.reading.sketch import Sketch
from mnist_demo.reading.sketchpad import sketchpad_ink

WORK = 80  # longer side of the working crop: 4x the 20 px box, so 1 working px = 0.25 final px
PAD = 12  # zero border around the working crop, room for dilation
TARGET_STROKE = 2.4  # final stroke width in px; MNIST test set median by `morphology.stroke_width`
MIN_INK_FRACTION = 2e-5  # fewer ink pixels than this share of the canvas (13 of 800x800) is noise
MIN_INK_PIXELS = 3
MAX_COVERAGE = 0.6  # ink on more of the canvas than this is not a digit
DOT_RATIO = 1.25  # ink no longer than this many times its widest part is a dot
BLOB_EXTENT = 0.25  # ...unless it spans this share of the canvas: then it is a blob, not a digit


@dataclass
class Preprocessed:
    """What the model will see, or why there is nothing to show it."""

    status: Status  # OK, EMPTY or INVALID
    image: np.ndarray  # uint8 (28, 28), white ink on black; zeros unless status is OK
    tensor: torch.Tensor | None  # float32 (1, 1, 28, 28) normalised with MEAN/STD; None unless OK
    problem: Problem | None = None  # why there is no digit; None when OK
    stroke_px: float | None = None  # estimated stroke width of the input, in input pixels

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    @property
    def message(self) -> str:
        return "" if self.problem is None else self.problem.message


def _nothing(problem: Problem, stroke_px: float | None = None) -> Preprocessed:
    return Preprocessed(problem.status, np.zeros((SIZE, SIZE), np.uint8), None, problem, stroke_px)


def find_ink(value: Any) -> tuple[np.ndarray, np.ndarray | None] | None:
    """(ink map, its mask or None to compute) of any accepted input, or None when there is no ink.

    Raises NotADrawing for a picture without a plain background.
    """
    if isinstance(value, Sketch):  # the pad's strokes: drawn as the page drew them, ink is ink
        return None if value.empty else (value.ink(), None)
    if isinstance(value, Mapping):
        return sketchpad_ink(value)
    if value is None:
        return None
    return ink_from_image(to_array(value))


def ink_map(value: Any) -> np.ndarray | None:
    """uint8 (H, W) ink map of any accepted input (255 = full ink), or None when it holds no ink.

    Accepts the Draw tab pad's strokes (a `sketch.Sketch`), a Gradio Sketchpad
    value, a PIL image, a numpy array or torch tensor (gray, RGB or RGBA; uint8,
    bool or float in [0, 1]) or an image file path.
    """
    try:
        found = find_ink(value)
    except NotADrawing:
        return None
    return None if found is None else np.ascontiguousarray(found[0])


def preprocess_ink(ink: np.ndarray, *, whole_canvas: bool = True) -> Preprocessed:
    """Preprocess an ink map (uint8 (H, W), 255 = full ink, or float in [0, 1]).

    `whole_canvas`: the map is the whole canvas, so its size sets the noise
    threshold and the all-ink check; pass False for a tight crop around a digit.
    """
    return _preprocess(to_uint8(np.asarray(ink)), None, whole_canvas)


def _preprocess(ink: np.ndarray, mask: np.ndarray | None, whole_canvas: bool) -> Preprocessed:
    if mask is None:
        mask = ink >= INK_LEVEL
    count = int(np.count_nonzero(mask))
    min_pixels = max(MIN_INK_PIXELS, int(MIN_INK_FRACTION * ink.size)) if whole_canvas else 1
    if count < min_pixels:
        return _nothing(Problem.NOTHING_DRAWN)
    if whole_canvas and count > MAX_COVERAGE * ink.size:
        return _nothing(Problem.MOSTLY_INK)

    # Everything from here on touches only the ink's box, shrunk to WORK px.
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    extent = max(y1 - y0, x1 - x0)
    # One pixel more keeps the anti-aliased fringe of the edge.
    y0, x0 = max(0, y0 - 1), max(0, x0 - 1)
    y1, x1 = min(ink.shape[0], y1 + 1), min(ink.shape[1], x1 + 1)
    crop = Image.fromarray(np.ascontiguousarray(ink[y0:y1, x0:x1]))
    f = WORK / extent  # working px per input px
    size = (max(1, round((x1 - x0) * f)), max(1, round((y1 - y0) * f)))
    # Box (area) filter when shrinking keeps thin strokes as gray instead of dropping them.
    resample = Image.Resampling.BOX if f < 1 else Image.Resampling.BILINEAR
    small = np.asarray(crop.resize(size, resample), dtype=np.float32) / 255.0
    work = pad(small, PAD)

    # A pen line much thinner than a working pixel is faint gray after shrinking: measure what is at
    # least half as inky as the inkiest pixel, which for ordinary strokes means half covered.
    peak = max(float(work.max()), 1e-3)
    width, widest = stroke_width(work >= 0.5 * min(peak, 1.0))
    stroke_px = width / f
    if extent < DOT_RATIO * widest / f:
        if whole_canvas and extent >= BLOB_EXTENT * min(ink.shape):
            return _nothing(Problem.BLOB, stroke_px)
        return _nothing(Problem.DOT, stroke_px)

    # Centre-line extent is the ink extent less one stroke width; pick the width that makes
    # strokes TARGET_STROKE px once (centre-line extent + width) is scaled to BOX px.
    target = TARGET_STROKE * max(WORK - width, 1.0) / (BOX - TARGET_STROKE)
    steps = int(round((target - width) / 2))
    for step in range(abs(steps)):
        work = dilate(work, step) if steps > 0 else erode(work, step)
    if steps > 0 and f < 1:
        # Shrunk to a stroke thinner than two working pixels, a pen line is gray (partial cover) all
        # across, and the max filter spreads that gray: what was half covered is ink, as the mask took it.
        # (Enlarged small images, such as MNIST's own, keep their grays: they are the ink's.)
        work = np.minimum(work * (2.0 / min(peak, 1.0)), 1.0)
    if not (work >= 0.5).any():
        return _nothing(Problem.DOT, stroke_px)

    image = fit_mnist_box(work)
    return Preprocessed(Status.OK, image, model_input(image), None, stroke_px)


def model_input(image: np.ndarray) -> torch.Tensor:
    """The model's input for a preprocessed uint8 (28, 28) image: float32 (1, 1, 28, 28), normalised."""
    return normalize(torch.from_numpy(np.ascontiguousarray(image, np.uint8))[None])


def preprocess(value: Any) -> Preprocessed:
    """Any drawing or image -> MNIST-like 28x28 (see the module docstring for the steps and statuses).

    Accepts what `ink_map` does. Raises ValueError for an array that is no image
    (wrong shape) or holds NaN or infinite values (`images.NON_FINITE`),
    and `images.UploadRejected` (a ValueError) for a path that is not a readable image.
    """
    if isinstance(value, Sketch) and not value.empty and _a_dot(value):
        return _nothing(Problem.DOT)
    try:
        found = find_ink(value)
    except NotADrawing:
        return _nothing(Problem.NO_BACKGROUND)
    if found is None:
        return _nothing(Problem.NOTHING_DRAWN)
    return _preprocess(found[0], found[1], whole_canvas=True)


def _a_dot(sketch: Sketch) -> bool:
    """Whether the pad's ink is no longer than `DOT_RATIO` times its pen's width, told from the path: the
    width estimate of a small disc can be off (a tap with a 4 px pen once read as a 1)."""
    widest = 2 * max(s.radius for s in sketch.strokes if len(s.points))
    return sketch.path_extent() + widest < DOT_RATIO * widest


def naive_resize(value: Any) -> torch.Tensor:
    """The baseline most demos use: whole canvas to gray, inverted if light, squashed to 28x28, normalised.

    Only for measuring how much `preprocess` helps. Returns (1, 1, 28, 28).
    """
    if isinstance(value, Sketch):
        value = value.ink()  # the pad's canvas as the page shows it, white on black already
    image = value.get("composite") if isinstance(value, Mapping) else value
    if image is None:
        return normalize(torch.zeros(1, SIZE, SIZE))
    g = Image.fromarray(gray(to_array(image)))
    if np.median(border(np.asarray(g))) >= 128:  # dark ink on light: MNIST is the other way round
        g = Image.eval(g, lambda v: 255 - v)
    small = np.asarray(g.resize((SIZE, SIZE), Image.Resampling.BILINEAR), dtype=np.float32) / 255.0
    return normalize(torch.from_numpy(small)[None])
