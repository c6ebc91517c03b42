"""Pen-drawn digits (UCI pendigits strokes) rendered the way the Gradio sketchpad hands drawings over.

The strokes come from a tablet: x/y in about 0..500 units with the y axis
pointing up, points sampled every 100 ms. `render_drawing` draws them as a
round brush would on the app's canvas and returns the sketchpad's dict
(background, layers, composite), so the whole path from canvas to prediction
can be measured on drawings by people, and `pen_training_images` turns the
training writers' digits into MNIST-like training images.

Writers 1-20 may be trained on; writers 21-30 are held out for measuring.
"""

from __future__ import annotations

import functools
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch
from PIL import Image

from mnist_demo.reading.preprocess import preprocess_ink
from mnist_demo.reading.sketch import BRUSH_RADIUS as SKETCH_BRUSH, Sketch, Stroke, draw_strokes

PATH_ENV = "DRAWN_DIGITS_PATH"
REPO_ROOT = Path(__file__).resolve().parent.parent
TRAIN_WRITERS = range(1, 21)
HELD_OUT_WRITERS = range(21, 31)

CANVAS = 800  # Gradio's sketchpad default
BRUSH_RADIUS = 25  # Gradio's default brush: 50 px wide
LIGHT_BACKGROUND = (255, 255, 255, 255)
DARK_BACKGROUND = (51, 51, 51, 255)  # #333333
THEMES = ("light", "dark")

Point = tuple[float, float]
Strokes = Sequence[Sequence[Point]]


def default_path() -> Path:
    """$DRAWN_DIGITS_PATH, else ../shared/drawn-digits/pendigits_train.jsonl next to the repository."""
    env = os.environ.get(PATH_ENV)
    return Path(env) if env else REPO_ROOT.parent / "shared" / "drawn-digits" / "pendigits_train.jsonl"


DEFAULT_PATH = default_path()


@dataclass(frozen=True)
class PenDigit:
    label: int
    writer: int
    strokes: tuple[tuple[Point, ...], ...]  # tablet units, y pointing up
    sample_no: int = -1


def load_pen_digits(path: str | os.PathLike | None = None) -> list[PenDigit]:
    """All digits of a strokes .jsonl file (one JSON object a line), in file order."""
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
            strokes = tuple(tuple((float(x), float(y)) for x, y in s) for s in d["strokes"] if len(s))
            digits.append(PenDigit(int(d["label"]), int(d["writer"]), strokes, int(d.get("sample_no", -1))))
    return tuple(digits)


def split_by_writer(digits: Iterable[PenDigit]) -> tuple[list[PenDigit], list[PenDigit]]:
    """(digits of TRAIN_WRITERS, digits of HELD_OUT_WRITERS); other writers are in neither."""
    digits = list(digits)
    return ([d for d in digits if d.writer in TRAIN_WRITERS], [d for d in digits if d.writer in HELD_OUT_WRITERS])


# ---------------------------------------------------------------- geometry

def _path_box(strokes: Strokes) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of the pen path with y flipped to point down."""
    xs = [x for s in strokes for x, _ in s]
    ys = [-y for s in strokes for _, y in s]
    return min(xs), min(ys), max(xs), max(ys)


def _path_size(strokes: Strokes) -> tuple[float, float]:
    x0, y0, x1, y1 = _path_box(strokes)
    return x1 - x0, y1 - y0


def _placed(strokes: Strokes, height: float, center: Point, scale: float = 1.0) -> list[list[Point]]:
    """Strokes in image pixels: the path `height` tall (aspect kept), its box centred on `center`.

    A digit with no height (a dash) is scaled by its width instead.
    """
    x0, y0, x1, y1 = _path_box(strokes)
    extent = (y1 - y0) if y1 - y0 > 1e-6 else max(x1 - x0, 1e-6)
    s = height / extent * scale
    mx, my = (x0 + x1) / 2, (y0 + y1) / 2
    cx, cy = center[0] * scale, center[1] * scale
    return [[((x - mx) * s + cx, (-y - my) * s + cy) for x, y in stroke] for stroke in strokes]


def _draw_mask(size: tuple[int, int], strokes: list[list[Point]], radius: float) -> Image.Image:
    """The strokes drawn with one round brush of `radius` (at least half a pixel)."""
    r = max(radius, 0.5)
    return draw_strokes(size, [Stroke(tuple(s), r) for s in strokes])


def pen_sketch(strokes: Strokes, *, height: float = 0.6 * CANVAS, center: Point = (CANVAS / 2, CANVAS / 2),
               brush_radius: float = SKETCH_BRUSH, canvas: int = CANVAS, version: int = 0) -> Sketch:
    """Pen strokes as the Draw tab's pad sends them: canvas px, the path `height` tall around `center`."""
    placed = _placed(strokes, height, center)
    return Sketch(tuple(Stroke(tuple(s), brush_radius) for s in placed), canvas, version)


# ---------------------------------------------------------------- rendering like the sketchpad

def render_drawing(strokes: Strokes, *, canvas: int = CANVAS, brush_radius: float = BRUSH_RADIUS,
                   height: float | None = None, center: Point | None = None, theme: str = "light",
                   ink: tuple[int, int, int] | None = None) -> dict[str, Any]:
    """The Gradio sketchpad's value for these strokes drawn on the canvas.

    `height`: height of the pen path (the stroke centre lines) in canvas px,
    default 60% of the canvas; the ink reaches `brush_radius` beyond it.
    `center`: where the centre of the path's box lands, default the canvas
    centre. Ink outside the canvas is cut off, as on the real canvas.
    Returns {"background", "layers": [layer], "composite"}: RGBA uint8
    (canvas, canvas, 4) arrays; the layer is transparent except for the ink.
    """
    if theme not in THEMES:
        raise ValueError(f"theme must be one of {THEMES}, not {theme!r}")
    height = 0.6 * canvas if height is None else height
    center = (canvas / 2, canvas / 2) if center is None else center
    background = LIGHT_BACKGROUND if theme == "light" else DARK_BACKGROUND
    color = ink if ink is not None else ((0, 0, 0) if theme == "light" else (255, 255, 255))
    ink_on = np.asarray(_draw_mask((canvas, canvas), _placed(strokes, height, center), brush_radius)) != 0
    # Whole pixels as little-endian uint32 words: one pass a array instead of one a channel.
    # The brush is hard-edged, so each array holds two words. Transparent layer pixels are
    # (0, 0, 0, 0), as the browser's canvas exports them.
    bg_word, ink_word = _word(background), _word((*color, 255))
    bg_array = np.full((canvas, canvas), bg_word, np.uint32)
    layer = np.where(ink_on, ink_word, np.uint32(0))
    composite = np.where(ink_on, ink_word, bg_word)

    def rgba(words: np.ndarray) -> np.ndarray:
        return words.view(np.uint8).reshape(canvas, canvas, 4)

    return {"background": rgba(bg_array), "layers": [rgba(layer)], "composite": rgba(composite)}


def _word(rgba: Sequence[int]) -> np.uint32:
    return np.array(rgba, np.uint8).view("<u4")[0]


@dataclass(frozen=True)
class RenderSettings:
    brush_radius: float
    height: float  # of the pen path, canvas px
    center: Point
    theme: str
    canvas: int = CANVAS

    def render(self, strokes: Strokes) -> dict[str, Any]:
        return render_drawing(strokes, canvas=self.canvas, brush_radius=self.brush_radius, height=self.height,
                              center=self.center, theme=self.theme)


def random_settings(rng: np.random.Generator | int | None = None, strokes: Strokes | None = None, *,
                    canvas: int = CANVAS) -> RenderSettings:
    """What visitors do: brush from 6 to 40 px radius (the default 25 a third of the time, as most
    never touch it), path 150 to 700 px tall, anywhere on the canvas with the ink fully inside,
    light or dark theme. Give `strokes` so a wide digit is kept inside (else aspect <= 1 is assumed).
    """
    rng = np.random.default_rng(rng)
    if rng.random() < 1 / 3:
        radius = float(BRUSH_RADIUS)
    else:
        radius = float(round(math.exp(rng.uniform(math.log(6), math.log(40)))))
    k = canvas / CANVAS
    radius *= k
    height = rng.uniform(150, 700) * k
    aspect = 1.0
    if strokes is not None:
        w, h = _path_size(strokes)
        aspect = w / h if h > 1e-6 else 1.0
    margin = 4  # px between the ink and the canvas edge, for rounding of the brush outline
    room = canvas - 2 * (radius + margin)  # the path's box must fit in this, both ways
    height = min(height, room, room / max(aspect, 1e-6))
    half_w, half_h = aspect * height / 2 + radius + margin, height / 2 + radius + margin
    cx = rng.uniform(half_w, canvas - half_w) if canvas > 2 * half_w else canvas / 2
    cy = rng.uniform(half_h, canvas - half_h) if canvas > 2 * half_h else canvas / 2
    theme = THEMES[int(rng.integers(2))]
    return RenderSettings(radius, float(height), (float(cx), float(cy)), theme, canvas)


def render_ink(strokes: Strokes, settings: RenderSettings, *, detail: int = 200) -> np.ndarray:
    """The ink (uint8 mask) of `settings.render(strokes)`, cropped to the digit and drawn small.

    Scaled so the ink's longer side is about `detail` px (never enlarged): at
    2.5x preprocess's working size the result of `preprocess_ink(..., whole_canvas=False)`
    matches a full-size render while drawing ~15x fewer pixels.
    """
    w, h = _path_size(strokes)
    s = settings.height / h if h > 1e-6 else settings.height / max(w, 1e-6)
    ink_w, ink_h = w * s + 2 * settings.brush_radius, h * s + 2 * settings.brush_radius
    scale = min(1.0, detail / max(ink_w, ink_h))
    margin = 3
    size = (int(math.ceil(ink_w * scale)) + 2 * margin, int(math.ceil(ink_h * scale)) + 2 * margin)
    center = (size[0] / 2 / scale, size[1] / 2 / scale)  # canvas units, so _placed can scale it
    placed = _placed(strokes, settings.height, center, scale)
    return np.asarray(_draw_mask(size, placed, settings.brush_radius * scale))


def pen_training_images(digits: Sequence[PenDigit], renders_per_digit: int = 2,
                        seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST-like training images of pen digits: each rendered with random settings, then preprocessed.

    Returns (uint8 (N, 28, 28), int64 (N,)). Renders preprocessing cannot read
    (a digit drawn as a dot) are left out, so N may be a little less than
    len(digits) * renders_per_digit.
    """
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for digit in digits:
        for _ in range(renders_per_digit):
            settings = random_settings(rng, digit.strokes)
            result = preprocess_ink(render_ink(digit.strokes, settings), whole_canvas=False)
            if result.ok:
                images.append(result.image)
                labels.append(digit.label)
    if not images:
        return torch.zeros(0, 28, 28, dtype=torch.uint8), torch.zeros(0, dtype=torch.int64)
    return torch.from_numpy(np.stack(images)), torch.tensor(labels, dtype=torch.int64)
