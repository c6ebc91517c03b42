"""Finding the ink in a picture: which pixels are ink, whichever its polarity.

The pad's strokes are ink by construction (`Sketch.ink`). A picture (an upload,
an array) has a background and ink of some other gray: dark ink on light or
light ink on dark, read from the background level (given, or the median of the
image's border). Where the border is transparent, the alpha channel is the ink.
"""

from __future__ import annotations

import sys

import numpy as np
from PIL import Image

from mnist_demo.base.status import Problem
from mnist_demo.reading.images import gray

INK_LEVEL = 128  # an ink map value >= this is ink (half intensity)
MIN_CONTRAST = 24  # gray levels; below this between ink and background the image is uniform
BUSY_BORDER = 0.5  # a border whose gray levels spread over half the ink contrast is no background...
# ...unless three quarters of it are plain: a digit drawn large on a small canvas (a 28x28 drawing) touches
# the border in places, and those pixels are ink, not the background's spread.
PLAIN_SHARE = 75  # percentile


class NotADrawing(Exception):
    """The picture has no plain background, so no ink can be told apart."""

    problem = Problem.NO_BACKGROUND


def border(a: np.ndarray) -> np.ndarray:
    """The outermost pixels of a 2-D array, as one row."""
    return np.concatenate([a[0], a[-1], a[1:-1, 0], a[1:-1, -1]])


def uniform_level(arr: np.ndarray | None) -> float | None:
    """The gray level of an image that is one colour (a plain canvas), else None."""
    if arr is None:
        return None
    g = gray(arr)
    sample = g[:: max(1, g.shape[0] // 16), :: max(1, g.shape[1] // 16)]
    if int(sample.max()) - int(sample.min()) > 8:
        return None  # a picture, not a plain canvas
    return float(np.median(sample))


def _ink_from_gray(image: np.ndarray, background: float | None = None) -> np.ndarray | None:
    """Ink map (uint8, 255 = full ink) of a gray image, or None when the image is uniform.

    Polarity comes from the background level (given, or the border's median):
    light background means dark ink. The mapping is one lookup table, so the
    full-size image is touched only by C code.
    """
    edge = border(image).astype(np.int16)
    bg = float(np.median(edge)) if background is None else background
    dark_ink = bg >= 128
    hist = np.asarray(Image.fromarray(image).histogram(), dtype=np.int64)
    levels = np.arange(256)
    contrast = (bg - levels) if dark_ink else (levels - bg)  # how inky each gray level is
    # The most inky level, ignoring the odd stray pixel (1 in 10,000) such as a speck on a photo.
    order = np.argsort(-contrast, kind="stable")
    enough = max(1, image.size // 10_000)
    peak = float(contrast[order[np.searchsorted(np.cumsum(hist[order]), enough)]])
    if peak < MIN_CONTRAST:
        return None
    floor = 0.2 * peak  # anti-aliased edges and faint smudges are not ink
    if background is None:
        # Paper texture and lighting: the border's own spread is not ink. A border as varied as
        # the ink (noise, a busy photo) leaves no background to tell ink from.
        border_contrast = (bg - edge) if dark_ink else (edge - bg)
        widest, spread = (float(v) for v in np.percentile(border_contrast, [95, PLAIN_SHARE]))
        if widest > BUSY_BORDER * peak and spread > BUSY_BORDER / 2 * peak:
            raise NotADrawing(Problem.NO_BACKGROUND.message)
        floor = max(floor, spread + 8.0)
    lut = np.clip((contrast - floor) / (peak - floor), 0.0, 1.0)
    lut = np.rint(lut * 255).astype(np.uint8)
    return np.asarray(Image.fromarray(image).point(lut.tolist()))


def alpha_mask(arr: np.ndarray) -> np.ndarray:
    """alpha >= INK_LEVEL of an RGBA uint8 array, fast.

    Read as little-endian uint32 pixels, alpha is the top byte: one compare
    over 640k words takes a fifth of the time of comparing the strided channel.
    """
    if arr.flags.c_contiguous and sys.byteorder == "little":
        return arr.view(np.uint32)[..., 0] >= (INK_LEVEL << 24)
    return arr[..., 3] >= INK_LEVEL


def ink_from_image(arr: np.ndarray, background: float | None = None
                   ) -> tuple[np.ndarray, np.ndarray | None] | None:
    """(ink map, its mask or None to compute) of a uint8 image, or None when it is uniform.

    Raises NotADrawing when the image has no plain background.
    """
    if arr.ndim == 3 and arr.shape[-1] == 4:
        alpha = arr[..., 3]
        if np.median(border(alpha)) < 128:
            return alpha, alpha_mask(arr)  # transparent background: the alpha is the ink
    ink = _ink_from_gray(gray(arr), background)
    return None if ink is None else (ink, None)
