"""Digits drawn in a paint program and uploaded as small pictures, not on the pad.

A picture drawn on a 28x28 canvas holds a digit 20-25 px tall: once the upload
path enlarges it to MNIST's box, its strokes are soft and its shape coarse, as
no pad drawing is. `digital_drawing` draws strokes that way (drawn 4x larger
and reduced, as paint programs smooth their edges); `upload_training_images`
makes training pictures of them, more varied than any one program (canvas 20-64
px, pens 0.75-4 px, anti-aliased or not, grey ink, light on dark), read by the
upload path (`reading.preprocess`).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

from mnist_demo.base.mnist import OTHER_CLASS
from mnist_demo.handwriting.non_digits import training_non_digits
from mnist_demo.handwriting.pen_digits import PenDigit, stacked
from mnist_demo.handwriting.variation import vary_strokes
from mnist_demo.reading.preprocess import preprocess
from mnist_demo.reading.sketch import Point, path_box

UPLOAD_SIZE = 28  # px: a digit drawn in a paint program's smallest canvas
SCALE = 4  # drawn this much larger, then reduced: the smooth edges a paint program gives
NON_DIGIT_SHARE = 0.2  # of the training uploads, this share are drawings that are not one digit
SIZES = (20, 64)  # px, the training uploads' canvases (log-uniform)
PENS = (0.75, 4.0)  # px at the canvas's size, the training uploads' pen widths
HEIGHTS = (0.45, 0.95)  # share of the canvas the training uploads' ink spans


def digital_drawing(strokes: Sequence[Sequence[Point]], rng: np.random.Generator, size: int = UPLOAD_SIZE, *,
                    heights: tuple[float, float] = (0.6, 0.9), pens: tuple[float, float] = (1.0, 3.0),
                    ink: int = 0, paper: int = 255, resample: Image.Resampling = Image.Resampling.LANCZOS
                    ) -> np.ndarray:
    """`strokes` drawn on a `size` x `size` canvas (uint8 gray) with a pen of `pens` px (uniform) in the
    colour `ink` on `paper`: the longer side of the path `heights` of the canvas, somewhere on it."""
    x0, y0, x1, y1 = path_box(strokes)
    height = rng.uniform(*heights) * size * SCALE
    k = height / max(y1 - y0, x1 - x0, 1e-6)
    margin = size * SCALE - max(y1 - y0, x1 - x0) * k
    ox, oy = rng.uniform(0.3, 0.7, 2) * margin
    width = int(round(rng.uniform(*pens) * SCALE))
    canvas = Image.new("L", (size * SCALE, size * SCALE), paper)
    draw = ImageDraw.Draw(canvas)
    for stroke in strokes:
        points = [((x - x0) * k + ox, (y - y0) * k + oy) for x, y in stroke]
        if len(points) > 1:
            draw.line(points, fill=ink, width=width, joint="curve")
        for x, y in points[:1] + points[-1:]:
            draw.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=ink)
    return np.asarray(canvas.resize((size, size), resample))


def _any_upload(strokes: Sequence[Sequence[Point]], rng: np.random.Generator) -> np.ndarray:
    """`strokes` as any of the small pictures visitors might upload."""
    size = int(round(math.exp(rng.uniform(math.log(SIZES[0]), math.log(SIZES[1])))))
    ink, paper = int(rng.integers(0, 90)), int(rng.integers(170, 256))
    if rng.random() < 0.25:  # light on dark
        ink, paper = 255 - ink, 255 - paper
    resample = (Image.Resampling.LANCZOS, Image.Resampling.BILINEAR, Image.Resampling.NEAREST)[int(rng.integers(3))]
    return digital_drawing(strokes, rng, size, heights=HEIGHTS, pens=PENS, ink=ink, paper=paper, resample=resample)


def upload_training_images(n: int, seed: int, digits: Sequence[PenDigit]) -> tuple[torch.Tensor, torch.Tensor]:
    """`n` small uploaded pictures preprocessed as the app does: `digits` (the training writers'), each varied
    as writers vary, and a `NON_DIGIT_SHARE` of made-up non-digits of the training families (labelled
    `OTHER_CLASS`). Pictures preprocessing cannot read are left out, so there may be a few less than `n`."""
    rng = np.random.default_rng(seed)
    others = round(n * NON_DIGIT_SHARE)
    drawn: list[tuple[list, int]] = []
    for _ in range(n - others):
        digit = digits[int(rng.integers(len(digits)))]
        drawn.append((vary_strokes(digit.strokes, digit.label, rng), digit.label))
    for sketch in training_non_digits(others, rng, digits):
        drawn.append(([s.points for s in sketch.strokes if len(s.points)], OTHER_CLASS))
    images, labels = [], []
    for strokes, label in drawn:
        result = preprocess(_any_upload(strokes, rng))
        if result.ok:
            images.append(result.image)
            labels.append(label)
    return stacked(images, labels)
