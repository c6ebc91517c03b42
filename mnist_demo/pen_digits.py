"""Digits drawn with a pen, as strokes: the two shared collections, and placing them on the pad.

Two collections of pen strokes (see ../shared/drawn-digits/README.md), one JSON
object a line:
- UCI pendigits (`pendigits_train.jsonl`): 30 writers (1-30) on a tablet, about
  0..500 units with the y axis pointing UP, points every 100 ms;
- UJI Pen Characters (`uji_trn.jsonl`): 40 writers ("W01".."W40") on another
  device, about 0..1500 units, y pointing down, dense points.
`load_pen_digits` reads either, with y pointing down as on a canvas.

`PadPlacement` puts a digit's strokes on the Draw tab's pad the way a visitor
draws (`random_placement`: any height, place and pen width the pad allows) and
gives the `Sketch` the pad would send; training renders and the drawn-digit
evaluation both go through it and the one renderer (`Sketch.ink`).

Pendigits writers 1-20 may be trained on; writers 21-30 are held out for measuring.
"""

from __future__ import annotations

import functools
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from mnist_demo.mnist import SIZE
from mnist_demo.reading.preprocess import preprocess_ink
from mnist_demo.reading.sketch import BRUSH_RADIUS, CANVAS, PAD_BRUSH_RANGE, Point, Sketch, Stroke

PATH_ENV = "DRAWN_DIGITS_PATH"
REPO_ROOT = Path(__file__).resolve().parent.parent
TRAIN_WRITERS = range(1, 21)
HELD_OUT_WRITERS = range(21, 31)

Writer = int | str
Strokes = Sequence[Sequence[Point]]


def default_path() -> Path:
    """$DRAWN_DIGITS_PATH, else ../shared/drawn-digits/pendigits_train.jsonl next to the repository."""
    env = os.environ.get(PATH_ENV)
    return Path(env) if env else REPO_ROOT.parent / "shared" / "drawn-digits" / "pendigits_train.jsonl"


@dataclass(frozen=True)
class PenDigit:
    label: int
    writer: Writer  # pendigits: 1..30; UJI: "W01".."W40"
    strokes: tuple[tuple[Point, ...], ...]  # device units, y pointing down
    sample_no: int = -1


def load_pen_digits(path: str | os.PathLike | None = None) -> list[PenDigit]:
    """All digits of a strokes .jsonl file (either collection), in file order."""
    path = Path(path) if path is not None else default_path()
    stat = path.stat()
    return list(_load(str(path.resolve()), stat.st_mtime_ns, stat.st_size))


@functools.lru_cache(maxsize=4)
def _load(path: str, mtime_ns: int, size: int) -> tuple[PenDigit, ...]:
    """Parsed once per file version (0.5 s for the shared file); the digits are immutable."""
    digits = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            d = json.loads(line)
            writer = d["writer"]
            # pendigits numbers its writers and has y pointing up; UJI names them and has y down.
            flip = -1.0 if isinstance(writer, int) else 1.0
            strokes = tuple(tuple((float(x), flip * float(y)) for x, y in s) for s in d["strokes"] if len(s))
            number = d.get("sample_no", d.get("session", -1))
            digits.append(PenDigit(int(d["label"]), writer, strokes, int(number)))
    return tuple(digits)


def _box(strokes: Strokes) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of the pen path."""
    xs = [x for s in strokes for x, _ in s]
    ys = [y for s in strokes for _, y in s]
    return min(xs), min(ys), max(xs), max(ys)


@dataclass(frozen=True)
class PadPlacement:
    """Where and how a digit is drawn on the pad: its path's height and centre, and the pen's radius."""

    height: float  # of the pen path (the stroke centre lines), canvas px
    center: Point
    radius: float = BRUSH_RADIUS
    canvas: int = CANVAS

    def sketch(self, strokes: Strokes, version: int = 0) -> Sketch:
        """The strokes as the pad sends them: the path `height` tall (aspect kept) around `center`.

        A digit with no height (a dash) is scaled by its width instead.
        """
        x0, y0, x1, y1 = _box(strokes)
        s = self.height / ((y1 - y0) if y1 - y0 > 1e-6 else max(x1 - x0, 1e-6))
        mx, my = (x0 + x1) / 2, (y0 + y1) / 2
        cx, cy = self.center
        placed = (Stroke(tuple(((x - mx) * s + cx, (y - my) * s + cy) for x, y in stroke), self.radius)
                  for stroke in strokes)
        return Sketch(tuple(placed), self.canvas, version)


def centred(height_fraction: float = 0.6, radius: float = BRUSH_RADIUS, canvas: int = CANVAS) -> PadPlacement:
    """A digit in the middle of the pad, its path `height_fraction` of the canvas tall."""
    return PadPlacement(height_fraction * canvas, (canvas / 2, canvas / 2), radius, canvas)


def random_placement(rng: np.random.Generator | int | None = None, strokes: Strokes | None = None, *,
                     canvas: int = CANVAS) -> PadPlacement:
    """What visitors do: the pad's default pen two times in three, else any width its slider allows;
    the path 25% to 85% of the canvas tall, anywhere with the ink fully inside. Give `strokes` so a
    wide digit is kept inside (else aspect <= 1 is assumed).
    """
    rng = np.random.default_rng(rng)
    lo, hi = PAD_BRUSH_RANGE
    radius = float(BRUSH_RADIUS) if rng.random() < 2 / 3 else float(round(math.exp(rng.uniform(math.log(lo),
                                                                                                math.log(hi)))))
    k = canvas / CANVAS
    radius *= k
    height = rng.uniform(0.25, 0.85) * canvas
    aspect = 1.0
    if strokes is not None:
        x0, y0, x1, y1 = _box(strokes)
        aspect = (x1 - x0) / (y1 - y0) if y1 - y0 > 1e-6 else 1.0
    margin = 4  # px between the ink and the canvas edge, for rounding of the brush outline
    room = canvas - 2 * (radius + margin)  # the path's box must fit in this, both ways
    height = min(height, room, room / max(aspect, 1e-6))
    half_w, half_h = aspect * height / 2 + radius + margin, height / 2 + radius + margin
    cx = rng.uniform(half_w, canvas - half_w) if canvas > 2 * half_w else canvas / 2
    cy = rng.uniform(half_h, canvas - half_h) if canvas > 2 * half_h else canvas / 2
    return PadPlacement(float(height), (float(cx), float(cy)), radius, canvas)


def pen_training_images(digits: Sequence[PenDigit], renders_per_digit: int = 2,
                        seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST-like training images of pen digits: each placed on the pad at random, then preprocessed.

    Returns (uint8 (N, 28, 28), int64 (N,)). Renders preprocessing cannot read
    (a digit drawn as a dot) are left out, so N may be a little less than
    len(digits) * renders_per_digit.
    """
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for digit in digits:
        for _ in range(renders_per_digit):
            sketch = random_placement(rng, digit.strokes).sketch(digit.strokes)
            result = preprocess_ink(sketch.ink(detail=200), whole_canvas=False)
            if result.ok:
                images.append(result.image)
                labels.append(digit.label)
    if not images:
        return torch.zeros(0, SIZE, SIZE, dtype=torch.uint8), torch.zeros(0, dtype=torch.int64)
    return torch.from_numpy(np.stack(images)), torch.tensor(labels, dtype=torch.int64)
