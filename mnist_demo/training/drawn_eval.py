"""How well the whole path reads digits people drew, measured the way a visitor's drawing travels.

Each pen digit of the chosen writers (held out of training by default) is put
on the pad as a visitor would draw it (`pen_digits.random_placement`: the
pad's default pen mostly, else any width its slider allows, any height and
place), turned into the pad's JSON, and read by the same code as the app's
`/predict`: `parse_sketch`, then `Predictor.predict` (preprocess and model).
The same drawings also go through the naive resize most demos use (the pad's
canvas squashed to 28x28), so the two accuracies compare like for like.

A drawing preprocessing rejects (e.g. drawn as a dot) counts as wrong; an
"unsure" prediction counts by its top guess (and is counted).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np
import torch

from mnist_demo.checkpoint import LoadedModel
from mnist_demo.pen_digits import HELD_OUT_WRITERS, PadPlacement, Writer, load_pen_digits, random_placement
from mnist_demo.reading.predictor import Predictor
from mnist_demo.reading.preprocess import naive_resize
from mnist_demo.reading.sketch import parse_sketch
from mnist_demo.reading.status import Status

BATCH = 256
BRUSH_BUCKETS = ((0, 15, "thin (r < 15)"), (15, 21.5, "medium (15-21)"), (21.5, 22.5, "the pad's default (22)"),
                 (22.5, 1e9, "thick (r > 22)"))
SIZE_BUCKETS = ((0, 0.4, "small (path < 40% of the pad)"), (0.4, 0.6, "medium (40-60%)"),
                (0.6, 1e9, "large (60% and taller)"))


def brush_bucket(radius: float) -> str:
    return next(name for lo, hi, name in BRUSH_BUCKETS if lo <= radius < hi)


def size_bucket(height_fraction: float) -> str:
    return next(name for lo, hi, name in SIZE_BUCKETS if lo <= height_fraction < hi)


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
    accuracy: float  # full path: the pad's JSON, preprocess, model
    naive_accuracy: float  # the same drawings' canvas squashed to 28x28
    unsure: int  # readings the full path called "unsure"
    empty: int  # drawings preprocessing found nothing to read in
    writers: tuple[Writer, ...]
    by_brush: dict[str, Bucket] = field(default_factory=dict)
    by_size: dict[str, Bucket] = field(default_factory=dict)
    by_writer: dict[Writer, Bucket] = field(default_factory=dict)
    confusion: Counter = field(default_factory=Counter)  # (true digit, read as) of the errors

    def worst_writer(self) -> tuple[Writer, Bucket] | None:
        return min(self.by_writer.items(), key=lambda kv: kv[1].accuracy) if self.by_writer else None

    def format(self) -> str:
        """A short text table."""
        w = f"{self.writers[0]}-{self.writers[-1]}" if self.writers else "none"
        lines = [f"Drawn digits: {self.n} drawings of {len(self.writers)} writers ({w}), through the pad's JSON",
                 f"{'':40} {'n':>6} {'full path':>10} {'naive':>8}",
                 f"{'all':40} {self.n:>6} {100 * self.accuracy:>9.2f}% {100 * self.naive_accuracy:>7.2f}%"]
        for title, buckets in (("pen", self.by_brush), ("size", self.by_size)):
            for name, b in buckets.items():
                lines.append(f"{title + ': ' + name:40} {b.n:>6} {100 * b.accuracy:>9.2f}% "
                             f"{100 * b.naive_accuracy:>7.2f}%")
        worst = self.worst_writer()
        if worst is not None:
            lines.append(f"{'worst writer: ' + str(worst[0]):40} {worst[1].n:>6} {100 * worst[1].accuracy:>9.2f}%")
        lines.append(f"unsure: {self.unsure}, nothing read: {self.empty}")
        if self.confusion:
            errors = ", ".join(f"{t} as {p}: {c}" for (t, p), c in self.confusion.most_common(10))
            lines.append(f"most frequent errors (true as read): {errors}")
        return "\n".join(lines)


def _as_predictor(model: LoadedModel | Predictor | str | os.PathLike) -> Predictor:
    return model if isinstance(model, Predictor) else Predictor(model)


def _add(buckets: dict, key, ok: bool, naive_ok: bool) -> None:
    b = buckets.setdefault(key, Bucket())
    b.n += 1
    b.correct += ok
    b.naive_correct += naive_ok


def evaluate_drawn(loaded_or_predictor: LoadedModel | Predictor | str | os.PathLike,
                   path: str | os.PathLike | None = None, *, writers: Iterable[Writer] = HELD_OUT_WRITERS,
                   renders_per_digit: int = 1, seed: int = 0, limit: int | None = None,
                   placement: Callable[..., PadPlacement] = random_placement) -> DrawnReport:
    """Accuracy on pen digits of `writers` drawn on the pad, full path vs naive resize (see the module docstring).

    `limit`: at most this many drawings (the first digits of the file).
    """
    predictor = _as_predictor(loaded_or_predictor)
    writer_set = set(writers)
    digits = [d for d in load_pen_digits(path) if d.writer in writer_set]
    rng = np.random.default_rng(seed)
    # Placements are drawn for every drawing before `limit` cuts, so a limited run is a prefix of the full one.
    jobs = [(digit, placement(rng, digit.strokes)) for digit in digits for _ in range(renders_per_digit)]
    if limit is not None:
        jobs = jobs[:limit]

    report = DrawnReport(n=len(jobs), accuracy=0.0, naive_accuracy=0.0, unsure=0, empty=0,
                         writers=tuple(sorted({d.writer for d, _ in jobs}, key=str)))
    correct = naive_correct = 0
    for start in range(0, len(jobs), BATCH):
        chunk = jobs[start:start + BATCH]
        sketches = [parse_sketch(p.sketch(d.strokes).to_json()) for d, p in chunk]  # what /predict receives
        results = predictor.predict_batch(sketches)
        naive = predictor.probabilities(torch.cat([naive_resize(s) for s in sketches])).argmax(1)
        for (digit, placed), result, naive_digit in zip(chunk, results, naive):
            ok = result.digit == digit.label
            naive_ok = int(naive_digit) == digit.label
            report.unsure += result.status is Status.UNSURE
            report.empty += result.status is Status.EMPTY
            correct += ok
            naive_correct += naive_ok
            if not ok:
                report.confusion[(digit.label, result.digit)] += 1
            _add(report.by_brush, brush_bucket(placed.radius), ok, naive_ok)
            _add(report.by_size, size_bucket(placed.height / placed.canvas), ok, naive_ok)
            _add(report.by_writer, digit.writer, ok, naive_ok)
    report.accuracy = correct / report.n if report.n else 0.0
    report.naive_accuracy = naive_correct / report.n if report.n else 0.0
    report.by_brush = {name: report.by_brush[name] for _, _, name in BRUSH_BUCKETS if name in report.by_brush}
    report.by_size = {name: report.by_size[name] for _, _, name in SIZE_BUCKETS if name in report.by_size}
    return report
