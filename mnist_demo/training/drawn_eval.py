"""How well the whole path reads digits people drew: render, preprocess, predict.

Each pen digit of the chosen writers (held out of training by default) is
rendered as the sketchpad would hand it over, with seeded random settings
(thin to thick brushes with the default 25 px among them, small and large,
anywhere on the canvas, light and dark theme). The same drawings go through
our preprocessing and through the naive resize most demos use, and the model
reads both, so the two accuracies compare like for like.

A drawing preprocessing rejects ("empty": e.g. drawn as a dot) counts as
wrong; an "unsure" prediction counts by its top guess.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
import torch

from mnist_demo.checkpoint import LoadedModel
from mnist_demo.reading.predictor import Predictor
from mnist_demo.reading.preprocess import naive_resize, preprocess
from mnist_demo.pen_digits import HELD_OUT_WRITERS, load_pen_digits, random_settings

BATCH = 256
BRUSH_BUCKETS = ((0, 10, "thin (r <= 10)"), (10, 20, "medium (10 < r <= 20)"),
                 (20, 30, "default (20 < r <= 30)"), (30, 1e9, "thick (r > 30)"))
SIZE_BUCKETS = ((0, 300, "small (h < 300)"), (300, 500, "medium (300-500)"), (500, 1e9, "large (h >= 500)"))


def brush_bucket(radius: float) -> str:
    return next(name for lo, hi, name in BRUSH_BUCKETS if lo < radius <= hi)


def size_bucket(height: float) -> str:
    return next(name for lo, hi, name in SIZE_BUCKETS if lo <= height < hi)


@dataclass
class Bucket:
    n: int = 0
    correct: int = 0
    naive_correct: int = 0

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else 0.0

    @property
    def naive_accuracy(self) -> float:
        return self.naive_correct / self.n if self.n else 0.0


@dataclass
class DrawnReport:
    n: int
    accuracy: float  # full path: preprocess + model
    naive_accuracy: float  # the same drawings squashed to 28x28
    unsure: int  # predictions the full path flagged "unsure"
    empty: int  # drawings preprocessing found nothing to read in
    writers: tuple[int, ...]
    by_brush: dict[str, Bucket] = field(default_factory=dict)
    by_theme: dict[str, Bucket] = field(default_factory=dict)
    by_size: dict[str, Bucket] = field(default_factory=dict)

    def format(self) -> str:
        """A short text table."""
        w = f"{min(self.writers)}-{max(self.writers)}" if self.writers else "none"
        lines = [f"Drawn digits: {self.n} renderings of writers {w}",
                 f"{'':34} {'n':>6} {'full path':>10} {'naive':>8}",
                 f"{'all':34} {self.n:>6} {100 * self.accuracy:>9.2f}% {100 * self.naive_accuracy:>7.2f}%"]
        for title, buckets in (("brush", self.by_brush), ("theme", self.by_theme), ("size", self.by_size)):
            for name, b in buckets.items():
                lines.append(f"{title + ': ' + name:34} {b.n:>6} {100 * b.accuracy:>9.2f}% "
                             f"{100 * b.naive_accuracy:>7.2f}%")
        lines.append(f"unsure: {self.unsure}, nothing read: {self.empty}")
        return "\n".join(lines)


def _as_predictor(model: LoadedModel | Predictor | str | os.PathLike) -> Predictor:
    return model if isinstance(model, Predictor) else Predictor(model)


def evaluate_drawn(loaded_or_predictor: LoadedModel | Predictor | str | os.PathLike,
                   path: str | os.PathLike | None = None, *, writers: Iterable[int] = HELD_OUT_WRITERS,
                   renders_per_digit: int = 1, seed: int = 0, limit: int | None = None) -> DrawnReport:
    """Accuracy on rendered pen digits of `writers`, full path vs naive resize (see the module docstring).

    `limit`: at most this many renderings (the first digits of the file).
    """
    predictor = _as_predictor(loaded_or_predictor)
    writer_set = set(writers)
    digits = [d for d in load_pen_digits(path) if d.writer in writer_set]
    rng = np.random.default_rng(seed)
    # Settings are drawn for every rendering before `limit` cuts, so a limited run is a prefix of the full one.
    jobs = [(digit, random_settings(rng, digit.strokes)) for digit in digits for _ in range(renders_per_digit)]
    if limit is not None:
        jobs = jobs[:limit]

    report = DrawnReport(n=len(jobs), accuracy=0.0, naive_accuracy=0.0, unsure=0, empty=0,
                         writers=tuple(sorted({d.writer for d, _ in jobs})))
    correct = naive_correct = 0
    for start in range(0, len(jobs), BATCH):
        chunk = jobs[start:start + BATCH]
        prepared, squashed = [], []
        for digit, settings in chunk:  # one drawing alive at a time: 800x800x4 arrays add up
            drawing = settings.render(digit.strokes)
            prepared.append(preprocess(drawing))
            squashed.append(naive_resize(drawing))
        results = predictor.predict_preprocessed(prepared)
        naive = predictor.probabilities(torch.cat(squashed)).argmax(1)
        for (digit, settings), result, naive_digit in zip(chunk, results, naive):
            ok = result.digit == digit.label
            naive_ok = int(naive_digit) == digit.label
            report.unsure += result.status == "unsure"
            report.empty += result.status == "empty"
            correct += ok
            naive_correct += naive_ok
            for buckets, key in ((report.by_brush, brush_bucket(settings.brush_radius)),
                                 (report.by_theme, settings.theme),
                                 (report.by_size, size_bucket(settings.height))):
                b = buckets.setdefault(key, Bucket())
                b.n += 1
                b.correct += ok
                b.naive_correct += naive_ok
    report.accuracy = correct / report.n if report.n else 0.0
    report.naive_accuracy = naive_correct / report.n if report.n else 0.0
    report.by_brush = {name: report.by_brush[name] for _, _, name in BRUSH_BUCKETS if name in report.by_brush}
    report.by_size = {name: report.by_size[name] for _, _, name in SIZE_BUCKETS if name in report.by_size}
    report.by_theme = {t: report.by_theme[t] for t in ("light", "dark") if t in report.by_theme}
    return report
