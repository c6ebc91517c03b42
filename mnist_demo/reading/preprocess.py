"""From whatever a person drew to a 28x28 image that looks like MNIST.

MNIST digits are white ink on black, their strokes about 2-2.5 px thick, the
digit scaled (aspect ratio kept, anti-aliased) so its longer side is 20 px, and
its centre of mass at the centre of the 28x28 field. A drawing on an 800x800
canvas is nothing like that: a 50 px brush, any size, anywhere. `preprocess`
brings a drawing to MNIST's form in four steps:

1. Find the ink. The Draw tab pad's strokes (`sketch.Sketch`): drawn again
   with its round brush. Sketchpad dicts: the drawing layers' alpha (when a layer holds
   any ink). Otherwise a gray image (the composite, a picture, an array) whose
   polarity, dark ink on light or light ink on dark, is read from the
   background level: the sketchpad's background when it is one colour, else
   the median of the image's border. Images with a transparent border: alpha.
2. Crop to the ink and scale the crop so its longer side is `WORK` px: all
   further work happens on this small image, which keeps one drawing to a
   millisecond or two.
3. Estimate the stroke width (twice the median distance-to-background on the
   stroke centre lines) and erode or dilate so that, once the digit fills the
   20 px box, its strokes are `TARGET_STROKE` px thick: MNIST's own median by the
   same estimator. A thin pen on a big digit and a fat brush on a small one come
   out alike.
4. Resample into 28x28 with an area (box) filter so the longer side of the
   half-intensity ink is 20 px and its centre of mass lands on the image centre.
   Sub-pixel placement can put an edge half in one pixel and half in the next,
   so the half-intensity ink spans 19 to 21 px on its longer side and the
   faintest fringe at most 22 (MNIST's, placed by whole pixels, spans 20).

Centre convention: array coordinates, pixel (row i, column j) has its centre at
(i, j), so the centre of a 28x28 image is (13.5, 13.5); the centre of mass lands
there to within 0.3 px (a digit whose mass sits near one end, like a 7, can
poke out of the field and lose a little ink). MNIST's digits sit at
(14.0, 14.0) +- 0.3 (LeCun translated by whole pixels). A model trained on raw
MNIST without shift augmentation notices that half pixel on MNIST itself
(97.6% instead of 98.1% for MNIST test digits passed through `preprocess_ink`),
not on drawings (no measurable difference on 1,500 rendered pen digits).

Results have a `status`:
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

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from mnist_demo.training.data import normalize
from mnist_demo.reading.sketch import Sketch

SIZE = 28  # MNIST's field
BOX = 20  # MNIST's digits are scaled to fit this box
CENTER = (SIZE - 1) / 2  # 13.5: the image centre in array coordinates
WORK = 80  # longer side of the working crop: 4x the 20 px box, so 1 working px = 0.25 final px
PAD = 12  # zero border around the working crop, room for dilation
TARGET_STROKE = 2.4  # final stroke width in px; MNIST test set median by `_stroke_width`
INK_LEVEL = 128  # an ink map value >= this is ink (half intensity)
MIN_INK_FRACTION = 2e-5  # fewer ink pixels than this share of the canvas (13 of 800x800) is noise
MIN_INK_PIXELS = 3
MIN_CONTRAST = 24  # gray levels; below this between ink and background the image is uniform
MAX_COVERAGE = 0.6  # ink on more of the canvas than this is not a digit
DOT_RATIO = 1.25  # ink no longer than this many times its widest part is a dot
BLOB_EXTENT = 0.25  # ...unless it spans this share of the canvas: then it is a blob, not a digit
BUSY_BORDER = 0.5  # a border whose gray levels spread over half the ink contrast is no background

EMPTY_MESSAGE = "Nothing drawn yet"
DOT_MESSAGE = "Only a dot so far: draw a whole digit"
INVALID_MESSAGE = "The canvas is mostly ink: clear it and draw one digit"
BLOB_MESSAGE = "This doesn't look like a digit: clear the canvas and draw one"
NO_BACKGROUND_MESSAGE = "No plain background to find the ink on: use dark ink on light or light on dark"
NON_FINITE_MESSAGE = "the image has NaN or infinite values"


class _NotADrawing(Exception):
    """The input has no plain background, so no ink can be told apart; the message says so."""


@dataclass
class Preprocessed:
    """What the model will see, or why there is nothing to show it."""

    status: str  # "ok", "empty" or "invalid"
    image: np.ndarray  # uint8 (28, 28), white ink on black; zeros unless status is "ok"
    tensor: torch.Tensor | None  # float32 (1, 1, 28, 28) normalised with MEAN/STD; None unless "ok"
    message: str
    stroke_px: float | None = None  # estimated stroke width of the input, in input pixels

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _nothing(status: str, message: str, stroke_px: float | None = None) -> Preprocessed:
    return Preprocessed(status, np.zeros((SIZE, SIZE), np.uint8), None, message, stroke_px)


# ---------------------------------------------------------------- inputs to arrays

def _as_array(value: Any) -> np.ndarray | None:
    """PIL image, numpy array, torch tensor or file path -> numpy array (HxW, HxWx3 or HxWx4)."""
    if value is None:
        return None
    if isinstance(value, (str, Path)):
        with Image.open(value) as img:
            value = img.copy()
    if isinstance(value, Image.Image):
        if value.mode in ("RGBA", "LA", "PA") or (value.mode == "P" and "transparency" in value.info):
            value = value.convert("RGBA")
        elif value.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
            value = _finite(np.asarray(value, dtype=np.float32))
            return _to_uint8(value / max(float(value.max()), 1.0) if value.max() > 1 else value)
        elif value.mode not in ("L", "RGB"):
            value = value.convert("RGB")
        return np.asarray(value)
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    arr = np.asarray(value)
    while arr.ndim > 3 and arr.shape[0] == 1:  # (1, 1, H, W) or (1, H, W, C) batches of one
        arr = arr[0]
    if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[-1] not in (1, 3, 4):
        arr = np.moveaxis(arr, 0, -1)  # channels first, as torch keeps them
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (3, 4)) or arr.size == 0:
        raise ValueError(f"expected a gray, RGB or RGBA image, got an array of shape {arr.shape}")
    return _to_uint8(arr)


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    a = _finite(arr)
    # Floats are taken to be in [0, 1]; anything larger was meant as 0..255 (or 0..65535).
    peak = float(a.max()) if a.size else 0.0
    scale = 255.0 if peak <= 1.0 else (1.0 if peak <= 255.0 else 255.0 / 65535.0)
    return np.clip(np.rint(a * scale), 0, 255).astype(np.uint8)


def _finite(arr: np.ndarray) -> np.ndarray:
    """float32 copy of an array that holds no NaN or infinity; ValueError otherwise.

    A NaN or infinite pixel has no gray level: reading it as background or as ink would be a
    guess, and a whole image of them would come out as "Nothing drawn yet", which is untrue.
    """
    with np.errstate(over="ignore", invalid="ignore"):  # float64 beyond float32's range: caught below
        a = arr.astype(np.float32)
    if not np.isfinite(a).all():
        if arr.dtype.kind != "f" or not np.isfinite(arr).all():
            raise ValueError(NON_FINITE_MESSAGE)
        a = np.clip(arr, -1e30, 1e30).astype(np.float32)  # huge but finite: clipped to 255 below anyway
    return a


def _gray(arr: np.ndarray) -> np.ndarray:
    if arr.ndim == 2:
        return arr
    # PIL's conversion is C and ITU-R 601 luma, like everyone's "convert to gray"; RGBA -> L ignores alpha.
    mode = "RGBA" if arr.shape[-1] == 4 else "RGB"
    return np.asarray(Image.fromarray(np.ascontiguousarray(arr), mode).convert("L"))


def _border(a: np.ndarray) -> np.ndarray:
    return np.concatenate([a[0], a[-1], a[1:-1, 0], a[1:-1, -1]])


def _uniform_level(arr: np.ndarray | None) -> float | None:
    """The gray level of an image that is one colour (a sketchpad background), else None."""
    if arr is None:
        return None
    g = _gray(arr)
    sample = g[:: max(1, g.shape[0] // 16), :: max(1, g.shape[1] // 16)]
    if int(sample.max()) - int(sample.min()) > 8:
        return None  # an uploaded picture, not a plain canvas
    return float(np.median(sample))


def _ink_from_gray(gray: np.ndarray, background: float | None = None) -> np.ndarray | None:
    """Ink map (uint8, 255 = full ink) of a gray image, or None when the image is uniform.

    Polarity comes from the background level (given, or the border's median):
    light background means dark ink. The mapping is one lookup table, so the
    full-size image is touched only by C code.
    """
    border = _border(gray).astype(np.int16)
    bg = float(np.median(border)) if background is None else background
    dark_ink = bg >= 128
    hist = np.asarray(Image.fromarray(gray).histogram(), dtype=np.int64)
    levels = np.arange(256)
    contrast = (bg - levels) if dark_ink else (levels - bg)  # how inky each gray level is
    # The most inky level, ignoring the odd stray pixel (1 in 10,000) such as a speck on a photo.
    order = np.argsort(-contrast, kind="stable")
    enough = max(1, gray.size // 10_000)
    peak = float(contrast[order[np.searchsorted(np.cumsum(hist[order]), enough)]])
    if peak < MIN_CONTRAST:
        return None
    floor = 0.2 * peak  # anti-aliased edges and faint smudges are not ink
    if background is None:
        # Paper texture and lighting: the border's own spread is not ink. A border as varied as
        # the ink (noise, a busy photo) leaves no background to tell ink from.
        border_contrast = (bg - border) if dark_ink else (border - bg)
        spread = float(np.percentile(border_contrast, 95))
        if spread > BUSY_BORDER * peak:
            raise _NotADrawing(NO_BACKGROUND_MESSAGE)
        floor = max(floor, spread + 8.0)
    lut = np.clip((contrast - floor) / (peak - floor), 0.0, 1.0)
    lut = np.rint(lut * 255).astype(np.uint8)
    return np.asarray(Image.fromarray(gray).point(lut.tolist()))


def _alpha_mask(arr: np.ndarray) -> np.ndarray:
    """alpha >= INK_LEVEL of an RGBA uint8 array, fast.

    Read as little-endian uint32 pixels, alpha is the top byte: one compare
    over 640k words takes a fifth of the time of comparing the strided channel.
    """
    if arr.flags.c_contiguous and sys.byteorder == "little":
        return arr.view(np.uint32)[..., 0] >= (INK_LEVEL << 24)
    return arr[..., 3] >= INK_LEVEL


def _ink_from_image(arr: np.ndarray, background: float | None = None) -> tuple[np.ndarray, np.ndarray | None] | None:
    if arr.ndim == 3 and arr.shape[-1] == 4:
        alpha = arr[..., 3]
        if np.median(_border(alpha)) < 128:
            return alpha, _alpha_mask(arr)  # transparent background: the alpha is the ink
    ink = _ink_from_gray(_gray(arr), background)
    return None if ink is None else (ink, None)


def _layers_ink(layers: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """(max alpha over the drawing layers, its ink mask), or None when no layer holds any ink."""
    found = []
    for layer in layers or []:
        arr = _as_array(layer)
        if arr is None or arr.ndim != 3 or arr.shape[-1] != 4:
            continue
        mask = _alpha_mask(arr)
        if mask.any():
            found.append((arr[..., 3], mask))
    if not found:
        return None
    if len(found) == 1:
        return found[0]
    return np.maximum.reduce([a for a, _ in found]), np.logical_or.reduce([m for _, m in found])


def _find_ink(value: Any) -> tuple[np.ndarray, np.ndarray | None] | None:
    """(ink map, its mask or None to compute) of any accepted input, or None when there is no ink."""
    if isinstance(value, Sketch):  # the pad's strokes: drawn as the page drew them, ink is ink
        return None if value.empty else (value.ink(), None)
    if isinstance(value, dict):
        found = _layers_ink(value.get("layers"))
        if found is not None:
            return found
        image = value.get("composite")
        if image is None:
            image = value.get("background")
        arr = _as_array(image)
        if arr is None:
            return None
        # A plain canvas tells us the background colour for sure, even when the ink covers the border.
        bg = _as_array(value.get("background"))
        level = _uniform_level(bg) if bg is not None and bg.shape[:2] == arr.shape[:2] else None
        return _ink_from_image(arr, level)
    arr = _as_array(value)
    return None if arr is None else _ink_from_image(arr)


def ink_map(value: Any) -> np.ndarray | None:
    """uint8 (H, W) ink map of any accepted input (255 = full ink), or None when it holds no ink.

    Accepts the Draw tab pad's strokes (a `sketch.Sketch`), a Gradio sketchpad/ImageEditor dict ("background", "layers",
    "composite"), a PIL image, a numpy array or torch tensor (gray, RGB or RGBA;
    uint8, bool or float in [0, 1]) or an image file path.
    """
    try:
        found = _find_ink(value)
    except _NotADrawing:
        return None
    return None if found is None else np.ascontiguousarray(found[0])


# ---------------------------------------------------------------- morphology on the small crop
# numpy slices on a ~100x100 array cost a few microseconds an operation; torch's
# max_pool2d costs ~100 us a call on one CPU thread, which blew the latency budget.

def _neighbourhood(a: np.ndarray, step: int, op: Any) -> np.ndarray:
    """One step of a 3x3 max (op=np.maximum) or min filter, alternating square and cross.

    Alternating the two approximates a disc (an octagon) better than either alone.
    Pixels outside the array do not count, so keep ink away from the edges (PAD).
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


def _dilate(a: np.ndarray, step: int) -> np.ndarray:
    return _neighbourhood(a, step, np.maximum)


def _erode(a: np.ndarray, step: int) -> np.ndarray:
    return _neighbourhood(a, step, np.minimum)


def _stroke_width(mask: np.ndarray) -> tuple[float, float]:
    """(Typical, widest) stroke width in pixels of a binary (H, W) mask.

    The distance to the background (counted in erosion steps) peaks on the
    centre line of each stroke at half its width; the median over those ridge
    pixels ignores the caps, junctions and blobs. The widest is twice the
    largest distance: a dot is about as long as it is wide.
    """
    dist = mask.astype(np.int16)
    cur = mask
    for step in range(max(mask.shape)):
        cur = _erode(cur, step)
        if not cur.any():
            break
        dist += cur
    ridge = (dist > 0) & (dist >= _dilate(dist, 0))
    d = dist[ridge]
    if d.size == 0:
        return 0.0, 0.0
    # A band n px wide has a ridge at ceil(n / 2) steps: 2 * d - 0.5 is unbiased over odd and even n.
    return max(1.0, 2.0 * float(np.median(d)) - 0.5), max(1.0, 2.0 * float(d.max()) - 0.5)


# ---------------------------------------------------------------- ink map to MNIST

def _pad(a: np.ndarray, n: int) -> np.ndarray:
    """Zero border of n px (np.pad costs ten times more on small arrays)."""
    out = np.zeros((a.shape[0] + 2 * n, a.shape[1] + 2 * n), a.dtype)
    out[n:n + a.shape[0], n:n + a.shape[1]] = a
    return out


def _normalised(image: np.ndarray) -> torch.Tensor:
    """uint8 (28, 28) -> float32 (1, 1, 28, 28) normalised exactly as training normalises."""
    return normalize(torch.from_numpy(image)[None])


def _to_mnist(work: np.ndarray) -> np.ndarray:
    """Float ink (h, w) in [0, 1] -> uint8 28x28: half-intensity extent to 20 px, centre of mass at CENTER."""
    mask = work >= 0.5
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    extent = max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1)
    scale = BOX / extent  # output px per working px
    total = float(work.sum())
    cy = float(work.sum(1) @ np.arange(work.shape[0])) / total
    cx = float(work.sum(0) @ np.arange(work.shape[1])) / total
    # PIL boxes are in continuous coordinates (pixel i spans [i, i+1]): centre of mass at cy + 0.5
    # must land on the output's centre, continuous CENTER + 0.5.
    half = (CENTER + 0.5) / scale
    pad = int(math.ceil(half)) + 2
    x0, y0 = cx + 0.5 + pad - half, cy + 0.5 + pad - half
    img = Image.fromarray(_pad(work.astype(np.float32, copy=False), pad), "F")
    out = img.resize((SIZE, SIZE), Image.Resampling.BOX, box=(x0, y0, x0 + SIZE / scale, y0 + SIZE / scale))
    return np.clip(np.rint(np.asarray(out) * 255.0), 0, 255).astype(np.uint8)


def preprocess_ink(ink: np.ndarray, *, whole_canvas: bool = True) -> Preprocessed:
    """Preprocess an ink map (uint8 (H, W), 255 = full ink, or float in [0, 1]).

    `whole_canvas`: the map is the whole canvas, so its size sets the noise
    threshold and the all-ink check; pass False for a tight crop around a digit.
    """
    return _preprocess(_to_uint8(np.asarray(ink)), None, whole_canvas)


def _preprocess(ink: np.ndarray, mask: np.ndarray | None, whole_canvas: bool) -> Preprocessed:
    if mask is None:
        mask = ink >= INK_LEVEL
    count = int(np.count_nonzero(mask))
    min_pixels = max(MIN_INK_PIXELS, int(MIN_INK_FRACTION * ink.size)) if whole_canvas else 1
    if count < min_pixels:
        return _nothing("empty", EMPTY_MESSAGE)
    if whole_canvas and count > MAX_COVERAGE * ink.size:
        return _nothing("invalid", INVALID_MESSAGE)

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
    work = _pad(small, PAD)

    # A pen line much thinner than a working pixel is faint gray after shrinking: measure what is at
    # least half as inky as the inkiest pixel, which for ordinary strokes means half covered.
    peak = max(float(work.max()), 1e-3)
    width, widest = _stroke_width(work >= 0.5 * min(peak, 1.0))
    stroke_px = width / f
    if extent < DOT_RATIO * widest / f:
        if whole_canvas and extent >= BLOB_EXTENT * min(ink.shape):
            return _nothing("invalid", BLOB_MESSAGE, stroke_px)
        return _nothing("empty", DOT_MESSAGE, stroke_px)

    # Centre-line extent is the ink extent less one stroke width; pick the width that makes
    # strokes TARGET_STROKE px once (centre-line extent + width) is scaled to BOX px.
    target = TARGET_STROKE * max(WORK - width, 1.0) / (BOX - TARGET_STROKE)
    steps = int(round((target - width) / 2))
    for step in range(abs(steps)):
        work = _dilate(work, step) if steps > 0 else _erode(work, step)
    if steps > 0 and f < 1:
        # Shrunk to a stroke thinner than two working pixels, a pen line is gray (partial cover) all
        # across, and the max filter spreads that gray: what was half covered is ink, as the mask took it.
        # (Enlarged small images, such as MNIST's own, keep their grays: they are the ink's.)
        work = np.minimum(work * (2.0 / min(peak, 1.0)), 1.0)
    if not (work >= 0.5).any():
        return _nothing("empty", DOT_MESSAGE, stroke_px)

    image = _to_mnist(work)
    return Preprocessed("ok", image, _normalised(image), "", stroke_px)


def preprocess(value: Any) -> Preprocessed:
    """Any drawing or image -> MNIST-like 28x28 (see the module docstring for the steps and statuses).

    Accepts what `ink_map` does. Raises ValueError for an array that is no image
    (wrong shape) or holds NaN or infinite values (`NON_FINITE_MESSAGE`), and
    OSError for a path that can't be opened as one.
    """
    try:
        found = _find_ink(value)
    except _NotADrawing as exc:
        return _nothing("invalid", str(exc))
    if found is None:
        return _nothing("empty", EMPTY_MESSAGE)
    return _preprocess(found[0], found[1], whole_canvas=True)


def naive_resize(value: Any) -> torch.Tensor:
    """The baseline most demos use: whole canvas to gray, inverted if light, squashed to 28x28, normalised.

    Only for measuring how much `preprocess` helps. Returns (1, 1, 28, 28).
    """
    image = value.get("composite") if isinstance(value, dict) else value
    arr = _as_array(image)
    if arr is None:
        return normalize(torch.zeros(1, SIZE, SIZE))
    gray = Image.fromarray(_gray(arr))
    if np.median(_border(np.asarray(gray))) >= 128:  # dark ink on light: MNIST is the other way round
        gray = Image.eval(gray, lambda v: 255 - v)
    small = np.asarray(gray.resize((SIZE, SIZE), Image.Resampling.BILINEAR), dtype=np.float32) / 255.0
    return normalize(torch.from_numpy(small)[None])
