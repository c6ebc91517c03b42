"""Digits drawn with a pen, as strokes: the two collections, and placing them on the pad.

Two collections of pen strokes ship with the package (`mnist_demo/data/pen_digits`,
CC BY 4.0, see its README), one JSON object a line:
- UCI pendigits (`PENDIGITS`): 30 writers (1-30) with a stylus on a tablet,
  about 0..500 units with the y axis pointing UP, points every 100 ms;
- UJI Pen Characters (`UJI`): 40 writers ("W01".."W40") on another device,
  about 0..1500 units, y pointing down, dense points.
`load_pen_digits` reads either, with y pointing down as on a canvas. Each
collection splits its writers three ways: trained on, kept for calibrating
the model's confidence, and held out of both for measuring.

`PadPlacement` puts a digit's strokes on the Draw tab's pad the way a visitor
draws (`random_placement`: any height, place and pen width the pad allows, and
the wobble of a stylus, a mouse or a finger) and gives the `Sketch` the pad
would send; training renders and the drawn-digit evaluation both go through it
and the one renderer (`Sketch.ink`).
"""

from __future__ import annotations

import functools
import gzip
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch

from mnist_demo.base.mnist import SIZE
from mnist_demo.handwriting.shifts import device_shifted
from mnist_demo.handwriting.variation import vary_strokes
from mnist_demo.handwriting.wobble import NONE, Hand, Wobble, hand_wobble
from mnist_demo.reading.preprocess import preprocess_ink
from mnist_demo.reading.sketch import BRUSH_RADIUS, CANVAS, PAD_BRUSH_RANGE, Point, Sketch, Stroke, path_box

PATH_ENV = "DRAWN_DIGITS_PATH"  # a pendigits .jsonl(.gz) to use instead of the shipped copy
BUNDLED = Path(__file__).resolve().parents[1] / "data" / "pen_digits"

Writer = int | str
Strokes = Sequence[Sequence[Point]]


class PenDigitsUnavailable(FileNotFoundError):
    """The pen digits a recipe or an evaluation asks for are not where they should be."""


@dataclass(frozen=True)
class PenCollection:
    """One collection of pen digits and how its writers are used: trained on, kept for calibrating
    the model's confidence, or held out of both to measure how it reads hands it has never seen."""

    name: str
    file: str  # in the shipped folder (mnist_demo/data/pen_digits)
    device: str
    train_writers: tuple[Writer, ...]
    calibration_writers: tuple[Writer, ...]
    held_out_writers: tuple[Writer, ...]
    weight: int = 1  # training renders of each digit, times the recipe's pen_renders: UJI has 12x fewer a writer

    def path(self) -> Path:
        env = os.environ.get(PATH_ENV) if self.name == "pendigits" else None
        return Path(env) if env else BUNDLED / self.file

    def digits(self, writers: Sequence[Writer] | None = None) -> list[PenDigit]:
        """The collection's digits (of `writers` only, when given), in file order."""
        digits = load_pen_digits(self.path())
        if writers is None:
            return digits
        keep = set(writers)
        return [d for d in digits if d.writer in keep]


def _uji(numbers: range) -> tuple[str, ...]:
    return tuple(f"W{i:02d}" for i in numbers)


PENDIGITS = PenCollection("pendigits", "pendigits_train.jsonl.gz", "stylus on a tablet (UCI pendigits)",
                          tuple(range(1, 18)), tuple(range(18, 21)), tuple(range(21, 31)))
UJI = PenCollection("uji", "uji_trn.jsonl.gz", "another pen tablet (UJI Pen Characters)",
                    _uji(range(1, 27)), _uji(range(27, 31)), _uji(range(31, 41)), weight=3)
COLLECTIONS = {c.name: c for c in (PENDIGITS, UJI)}


def writer_ranges(role: Callable[[PenCollection], Sequence[Writer]], prefix: str = "") -> str:
    """Each collection's writers of one role, for notes: `writer_ranges(lambda c: c.train_writers)` is
    "pendigits 1-17; uji W01-W26" (`prefix` goes before each range)."""
    return "; ".join(f"{c.name} {prefix}{role(c)[0]}-{role(c)[-1]}" for c in COLLECTIONS.values())
TRAIN_WRITERS = PENDIGITS.train_writers
HELD_OUT_WRITERS = PENDIGITS.held_out_writers


def default_path() -> Path:
    """The pendigits strokes: $DRAWN_DIGITS_PATH, else the copy shipped in the package."""
    return PENDIGITS.path()


@dataclass(frozen=True)
class PenDigit:
    label: int
    writer: Writer  # pendigits: 1..30; UJI: "W01".."W40"
    strokes: tuple[tuple[Point, ...], ...]  # device units, y pointing down
    sample_no: int = -1


def pen_digits_file(path: str | os.PathLike | None = None) -> os.stat_result:
    """The strokes file's stat; `PenDigitsUnavailable`, saying where they belong, when it is missing."""
    path = Path(path) if path is not None else default_path()
    try:
        return path.stat()
    except FileNotFoundError:
        raise PenDigitsUnavailable(f"pen digits not found at {path}: the package ships them in {BUNDLED} "
                                   f"(reinstall it, or set {PATH_ENV} to a pendigits .jsonl file)") from None


def load_pen_digits(path: str | os.PathLike | None = None) -> list[PenDigit]:
    """All digits of a strokes .jsonl or .jsonl.gz file (either collection), in file order."""
    path = Path(path) if path is not None else default_path()
    stat = pen_digits_file(path)
    return list(_load(str(path.resolve()), stat.st_mtime_ns, stat.st_size))


@functools.lru_cache(maxsize=4)
def _load(path: str, mtime_ns: int, size: int) -> tuple[PenDigit, ...]:
    """Parsed once per file version (0.5 s for pendigits); the digits are immutable."""
    digits = []
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
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


@dataclass(frozen=True)
class PadPlacement:
    """Where and how a digit is drawn on the pad: its path's height and centre, the pen's radius,
    and the wobble of the hand that drew it."""

    height: float  # of the pen path (the stroke centre lines), canvas px
    center: Point
    radius: float = BRUSH_RADIUS
    canvas: int = CANVAS
    wobble: Wobble = field(default=NONE)
    hand: Hand = Hand.STYLUS

    def place(self, strokes: Strokes) -> list[list[Point]]:
        """The strokes in canvas px: the path `height` tall (aspect kept) around `center`, wobbled.

        A digit with no height (a dash) is scaled by its width instead.
        """
        x0, y0, x1, y1 = path_box(strokes)
        s = self.height / ((y1 - y0) if y1 - y0 > 1e-6 else max(x1 - x0, 1e-6))
        mx, my = (x0 + x1) / 2, (y0 + y1) / 2
        cx, cy = self.center
        placed = [[((x - mx) * s + cx, (y - my) * s + cy) for x, y in stroke] for stroke in strokes]
        return self.wobble.apply(placed) if self.wobble is not NONE else placed

    def sketch(self, strokes: Strokes, version: int = 0) -> Sketch:
        """The strokes as the pad sends them (see `place`)."""
        return self.drawn(self.place(strokes), version)

    def drawn(self, placed: Strokes, version: int = 0) -> Sketch:
        """Strokes already placed (canvas px, perhaps changed since: `shifts`) as the pad sends them, drawn with
        this placement's pen on its canvas."""
        return Sketch(tuple(Stroke(tuple(points), self.radius) for points in placed), self.canvas, version)


def centred(height_fraction: float = 0.6, radius: float = BRUSH_RADIUS, canvas: int = CANVAS) -> PadPlacement:
    """A digit in the middle of the pad, its path `height_fraction` of the canvas tall, no wobble."""
    return PadPlacement(height_fraction * canvas, (canvas / 2, canvas / 2), radius, canvas)


def random_placement(rng: np.random.Generator | int | None = None, strokes: Strokes | None = None, *,
                     canvas: int = CANVAS) -> PadPlacement:
    """What visitors do: the pad's default pen two times in three, else any width its slider allows;
    the path 25% to 85% of the canvas tall, anywhere with the ink fully inside; drawn with a stylus,
    a mouse or a finger, one in three each (`handwriting.wobble`). Give `strokes` so a wide digit is
    kept inside (else aspect <= 1 is assumed).
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
        x0, y0, x1, y1 = path_box(strokes)
        aspect = (x1 - x0) / (y1 - y0) if y1 - y0 > 1e-6 else 1.0
    hand = (Hand.STYLUS, Hand.MOUSE, Hand.FINGER)[int(rng.integers(3))]
    wobble = hand_wobble(hand, rng)
    margin = 4 + 2 * wobble.amplitude + 3 * wobble.jitter  # px kept between the ink and the canvas edge
    room = canvas - 2 * (radius + margin)  # the path's box must fit in this, both ways
    height = min(height, room, room / max(aspect, 1e-6))
    half_w, half_h = aspect * height / 2 + radius + margin, height / 2 + radius + margin
    cx = rng.uniform(half_w, canvas - half_w) if canvas > 2 * half_w else canvas / 2
    cy = rng.uniform(half_h, canvas - half_h) if canvas > 2 * half_h else canvas / 2
    return PadPlacement(float(height), (float(cx), float(cy)), radius, canvas, wobble, hand)


def placed_as_drawn(digits: Sequence[PenDigit], renders: int, rng: np.random.Generator
                    ) -> Iterator[tuple[PenDigit, Sketch]]:
    """Each digit as its writer drew it, `renders` times, each placed on the pad as visitors draw
    (`random_placement`): the sketch the pad would send. Placements are drawn from `rng` in turn."""
    for digit in digits:
        for _ in range(renders):
            yield digit, random_placement(rng, digit.strokes).sketch(digit.strokes)


def pen_training_images(digits: Sequence[PenDigit], renders_per_digit: int = 2, seed: int = 0,
                        vary: bool = True, shifts: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST-like training images of pen digits: each varied as writers vary (`handwriting.variation`,
    unless `vary` is false), placed on the pad at random, `shifts` of them as another device or hand would
    send them (`shifts.device_shifted`: a finger's wobble and joined strokes change the picture too), then
    preprocessed.

    Returns (uint8 (N, 28, 28), int64 (N,)). Renders preprocessing cannot read
    (a digit drawn as a dot) are left out, so N may be a little less than
    len(digits) * renders_per_digit.
    """
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for digit in digits:
        for _ in range(renders_per_digit):
            strokes = vary_strokes(digit.strokes, digit.label, rng) if vary else digit.strokes
            placement = random_placement(rng, strokes)
            image = training_image(placement.drawn(device_shifted(placement.place(strokes), shifts, rng)))
            if image is not None:
                images.append(image)
                labels.append(digit.label)
    return stacked(images, labels)


def training_image(sketch: Sketch) -> np.ndarray | None:
    """A drawing on the pad preprocessed as the app does, its ink drawn small (`Sketch.ink(detail=...)`,
    which preprocesses alike and is ~15x quicker): uint8 28x28, or None when there is nothing to read."""
    if sketch.empty:
        return None
    result = preprocess_ink(sketch.ink(detail=200), whole_canvas=False)
    return result.image if result.ok else None


def stacked(images: Sequence[np.ndarray], labels: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Training images and labels as (uint8 (N, 28, 28), int64 (N,)), N possibly 0."""
    if not images:
        return torch.zeros(0, SIZE, SIZE, dtype=torch.uint8), torch.zeros(0, dtype=torch.int64)
    return torch.from_numpy(np.stack(images)), torch.tensor(list(labels), dtype=torch.int64)
