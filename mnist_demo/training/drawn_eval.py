"""How well the whole path reads digits people drew, measured the way a visitor's drawing travels.

Each pen digit of a collection's held-out writers (in no training and no
calibration) is put on the pad as a visitor would draw it
(`pen_digits.random_placement`: the pad's default pen mostly, else any width
its slider allows, any height and place, the wobble of a stylus, a mouse or a
finger), turned into the pad's JSON, and read by the same code as the app's
`/predict`: `parse_sketch`, then `Reader.read_batch` (preprocess and models).
The same drawings also go through the naive resize most demos use (the pad's
canvas squashed to 28x28), so the two compare like for like.

A reading is *right* when the page would show the right digit as its answer
(status OK); *not sure* when the page says "Not sure" (status UNSURE, or
EMPTY: preprocessing found nothing to read); *wrong and sure* when the page
shows a wrong digit as its answer. The top guess's accuracy, whatever the
status, is reported too.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np
import torch

from mnist_demo.base.status import Status
from mnist_demo.handwriting.pen_digits import (
    PENDIGITS,
    PadPlacement,
    PenCollection,
    Writer,
    load_pen_digits,
    random_placement,
)
from mnist_demo.reading.preprocess import naive_resize
from mnist_demo.reading.reader import Reader
from mnist_demo.reading.sketch import parse_sketch

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
    correct: int = 0  # right: the page shows the right digit as its answer
    unsure: int = 0  # the page says "not sure" (or found nothing to read)
    wrong_sure: int = 0  # the page shows a wrong digit as its answer
    top_correct: int = 0  # the top guess is right, whatever the status
    naive_correct: int = 0

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else 0.0

    @property
    def top_accuracy(self) -> float:
        return self.top_correct / self.n if self.n else 0.0

    @property
    def naive_accuracy(self) -> float:
        return self.naive_correct / self.n if self.n else 0.0


@dataclass
class Reading:
    """One drawing's outcome, kept for the calibration figures."""

    label: int
    top: int | None
    confidence: float  # the top digit's probability (0 when nothing was read)
    status: Status


@dataclass
class DrawnReport:
    collection: str
    n: int
    writers: tuple[Writer, ...]
    total: Bucket = field(default_factory=Bucket)
    empty: int = 0  # drawings preprocessing found nothing to read in
    by_brush: dict[str, Bucket] = field(default_factory=dict)
    by_size: dict[str, Bucket] = field(default_factory=dict)
    by_hand: dict[str, Bucket] = field(default_factory=dict)
    by_writer: dict[Writer, Bucket] = field(default_factory=dict)
    confusion: Counter = field(default_factory=Counter)  # (true digit, top guess) where the guess is wrong
    readings: list[Reading] = field(default_factory=list, repr=False)

    @property
    def accuracy(self) -> float:
        return self.total.accuracy

    @property
    def naive_accuracy(self) -> float:
        return self.total.naive_accuracy

    @property
    def unsure(self) -> int:
        return self.total.unsure

    def worst_writer(self) -> tuple[Writer, Bucket] | None:
        return min(self.by_writer.items(), key=lambda kv: kv[1].accuracy) if self.by_writer else None

    def format(self) -> str:
        """A short text table."""
        w = f"{self.writers[0]}-{self.writers[-1]}" if self.writers else "none"
        lines = [f"Drawn digits ({self.collection}): {self.n} drawings of {len(self.writers)} held-out writers "
                 f"({w}), through the pad's JSON",
                 f"{'':40} {'n':>6} {'right':>8} {'not sure':>9} {'wrong, sure':>12} {'top guess':>10} "
                 f"{'naive':>8}"]

        def row(name: str, b: Bucket) -> str:
            return (f"{name:40} {b.n:>6} {100 * b.accuracy:>7.2f}% {b.unsure:>9} {b.wrong_sure:>12} "
                    f"{100 * b.top_accuracy:>9.2f}% {100 * b.naive_accuracy:>7.2f}%")

        lines.append(row("all", self.total))
        for title, buckets in (("pen", self.by_brush), ("size", self.by_size), ("hand", self.by_hand)):
            lines += [row(f"{title}: {name}", b) for name, b in buckets.items()]
        worst = self.worst_writer()
        if worst is not None:
            lines.append(row(f"worst writer: {worst[0]}", worst[1]))
        lines.append(f"nothing read: {self.empty}")
        if self.confusion:
            errors = ", ".join(f"{t} as {p}: {c}" for (t, p), c in self.confusion.most_common(10))
            lines.append(f"most frequent wrong top guesses (true as read): {errors}")
        return "\n".join(lines)


def _add(buckets: dict, key, reading: Reading, naive_ok: bool) -> None:
    _count(buckets.setdefault(key, Bucket()), reading, naive_ok)


def _count(b: Bucket, reading: Reading, naive_ok: bool) -> None:
    b.n += 1
    b.top_correct += reading.top == reading.label
    b.naive_correct += naive_ok
    if reading.status is Status.OK:
        b.correct += reading.top == reading.label
        b.wrong_sure += reading.top != reading.label
    else:
        b.unsure += 1


def evaluate_drawn(reader: Reader,
                   collection: PenCollection | str | os.PathLike = PENDIGITS, *,
                   writers: Iterable[Writer] | None = None, renders_per_digit: int = 1, seed: int = 0,
                   limit: int | None = None,
                   placement: Callable[..., PadPlacement] = random_placement) -> DrawnReport:
    """Readings of the pen digits of `writers` (default: the collection's held-out writers) drawn on the
    pad, full path vs naive resize (see the module docstring). `collection`: a `PenCollection`, or the
    path of a strokes file (then `writers` defaults to pendigits' held-out writers).

    `limit`: at most this many drawings (the first digits of the file).
    """
    if isinstance(collection, PenCollection):
        name, all_digits = collection.name, collection.digits()
        writers = collection.held_out_writers if writers is None else writers
    else:
        name, all_digits = os.path.basename(collection), load_pen_digits(collection)
        writers = PENDIGITS.held_out_writers if writers is None else writers
    writer_set = set(writers)
    digits = [d for d in all_digits if d.writer in writer_set]
    rng = np.random.default_rng(seed)
    # Placements are drawn for every drawing before `limit` cuts, so a limited run is a prefix of the full one.
    jobs = [(digit, placement(rng, digit.strokes)) for digit in digits for _ in range(renders_per_digit)]
    if limit is not None:
        jobs = jobs[:limit]

    report = DrawnReport(name, len(jobs), tuple(sorted({d.writer for d, _ in jobs}, key=str)))
    for start in range(0, len(jobs), BATCH):
        chunk = jobs[start:start + BATCH]
        sketches = [parse_sketch(p.sketch(d.strokes).to_json()) for d, p in chunk]  # what /predict receives
        results = reader.read_batch(sketches)
        naive = reader.probabilities(torch.cat([naive_resize(s) for s in sketches]))[:, :10].argmax(1)
        for (digit, placed), result, naive_digit in zip(chunk, results, naive):
            reading = Reading(digit.label, result.digit, result.top[0][1] if result.top else 0.0, result.status)
            naive_ok = int(naive_digit) == digit.label
            report.readings.append(reading)
            report.empty += result.status is Status.EMPTY
            if reading.top != digit.label:
                report.confusion[(digit.label, reading.top)] += 1
            _count(report.total, reading, naive_ok)
            _add(report.by_brush, brush_bucket(placed.radius), reading, naive_ok)
            _add(report.by_size, size_bucket(placed.height / placed.canvas), reading, naive_ok)
            _add(report.by_hand, placed.hand.value, reading, naive_ok)
            _add(report.by_writer, digit.writer, reading, naive_ok)
    report.by_brush = {name: report.by_brush[name] for _, _, name in BRUSH_BUCKETS if name in report.by_brush}
    report.by_size = {name: report.by_size[name] for _, _, name in SIZE_BUCKETS if name in report.by_size}
    return report
