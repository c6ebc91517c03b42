"""Judging a reader by what it was not tuned on: the transfer protocol's sources and its tallies.

The held-out writers of the two pen collections say how a reader reads new
people on the tablets every choice was tuned on. Visitors come with other
devices. Each source here is judged through the path a visitor's drawing takes
(the pad's JSON, or an uploaded picture's bytes):

- `Shift`s of the held-out writers' digits (`handwriting.shifts`): the
  pointer sampled more or less often, strokes reversed, reordered, split or
  joined, a finger's strong wobble;
- drawings that are not one digit: the held-out families of
  `handwriting.non_digits` (symbols, looping scribbles, pairs of digits, a
  digit off the pad), and symbols drawn by hand with a mouse in Chromium
  (`benchmarks/data/symbols.jsonl`, made by `benchmarks/draw_symbols.py`);
- the held-out digits drawn at 28x28 with a thin pen on white, uploaded as PNGs; and drawn on the pad,
  saved as a small JPEG and uploaded.

A reader is compared with its own picture model read alone: the path may
help, but must never make a source worse (`compare`). Leaving a whole pen
collection out of the stroke reader's training is `benchmarks/transfer.py`'s.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from PIL import Image

from mnist_demo.base.mnist import OTHER_CLASS
from mnist_demo.base.status import Status
from mnist_demo.handwriting.glyphs import HELD_OUT_GLYPHS
from mnist_demo.handwriting.non_digits import HELD_OUT_FAMILIES, Family, non_digit_set
from mnist_demo.handwriting.pen_digits import COLLECTIONS, PenDigit, random_placement
from mnist_demo.handwriting.shifts import Shift, shifted
from mnist_demo.handwriting.uploads import digital_drawing
from mnist_demo.reading.images import read_image
from mnist_demo.reading.reader import Prediction, Reader
from mnist_demo.reading.sketch import Sketch, parse_sketch

BATCH = 256


@dataclass
class Tally:
    """How a reader answered one source's drawings (`label` OTHER_CLASS: not a digit)."""

    n: int = 0
    top_right: int = 0  # the most probable digit is the drawing's, shown or not
    right: int = 0  # shown as a sure answer, and right
    not_sure: int = 0  # "not sure", or nothing read
    wrong_sure: int = 0  # shown as a sure answer, and wrong (for a non-digit: any sure digit)

    def add(self, prediction: Prediction, label: int) -> None:
        sure = prediction.status is Status.OK
        self.n += 1
        self.top_right += prediction.digit == label
        self.right += sure and prediction.digit == label
        self.not_sure += not sure
        self.wrong_sure += sure and prediction.digit != label

    def share(self, count: str) -> float:
        return getattr(self, count) / self.n if self.n else 0.0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def tally(predictions: Iterable[Prediction], labels: Iterable[int]) -> Tally:
    t = Tally()
    for p, label in zip(predictions, labels):
        t.add(p, label)
    return t


def read_all(reader: Reader, values: Sequence) -> list[Prediction]:
    """Every value read through `reader.read_batch`, a batch at a time."""
    return [p for i in range(0, len(values), BATCH) for p in reader.read_batch(values[i:i + BATCH])]


def held_out_digits() -> list[PenDigit]:
    """Every pen collection's held-out writers' digits (in no training and no calibration)."""
    return [d for c in COLLECTIONS.values() for d in c.digits(c.held_out_writers)]


def shifted_drawings(digits: Sequence[PenDigit], shift: Shift, seed: int = 0) -> list[Sketch]:
    """Each digit placed on the pad as visitors draw (`random_placement`), then changed by `shift`. The same
    seed gives every shift the same placements."""
    rng, shift_rng = np.random.default_rng(seed), np.random.default_rng(seed + 1)
    out = []
    for d in digits:
        placement = random_placement(rng, d.strokes)
        # As the server receives it: through the pad's JSON.
        out.append(parse_sketch(placement.drawn(shifted(placement.place(d.strokes), shift, shift_rng)).to_json()))
    return out


def png_upload(digit: PenDigit, rng: np.random.Generator) -> bytes:
    """`digit` drawn at 28x28 with a thin black pen on white (1-3 px, anti-aliased), as the PNG a visitor
    would upload: the digit 60-90% of the canvas tall, somewhere on it."""
    out = io.BytesIO()
    Image.fromarray(digital_drawing(digit.strokes, rng)).save(out, format="PNG")
    return out.getvalue()


def uploads(digits: Sequence[PenDigit], seed: int = 0) -> list[np.ndarray]:
    """The digits as small digital drawings, read back as the upload path reads a file (`read_image`)."""
    rng = np.random.default_rng(seed)
    return [read_image(png_upload(d, rng)) for d in digits]


SNAPSHOT_SIZE = 64  # px: the pad's canvas saved small
SNAPSHOT_QUALITY = 75  # JPEG quality


def pad_snapshots(drawings: Sequence[Sketch]) -> list[np.ndarray]:
    """Drawings on the pad, the canvas saved as a 64 px JPEG and uploaded: a picture made by another program
    than the training's uploads (`handwriting.uploads`): the pad's round brush, lossy compression."""
    out = []
    for sketch in drawings:
        picture = Image.fromarray(255 - sketch.ink()).resize((SNAPSHOT_SIZE, SNAPSHOT_SIZE), Image.BILINEAR)
        saved = io.BytesIO()
        picture.save(saved, format="JPEG", quality=SNAPSHOT_QUALITY)
        out.append(read_image(saved.getvalue()))
    return out


HELD_OUT = "not one digit: "  # how `non_digit_sources` names a held-out family's row
SLASH = "a slash /, which reads as a fair 1"
SYMBOL = "the symbol "  # a row for each held-out symbol but the slash: "the symbol ^"
OTHER_SYMBOLS = Family.SYMBOL.value.replace(" /", "")  # those rows pooled: the target counts them together


# About 500 of each held-out symbol: with about 50, a row's sampling error alone (6 points) was more than most
# changes it was to judge (docs/experiments.md).
HELD_OUT_SYMBOLS = 5500


def held_out_non_digits(seed: int = 0, per_family: int = 100, symbols: int = HELD_OUT_SYMBOLS
                        ) -> dict[str, list[Sketch]]:
    """Drawings of each held-out non-digit family, as the pad sends them: `per_family` of each, and `symbols`
    symbols (about as many of each) by symbol, so that a reader worse on one of them cannot hide in the rest."""
    others = [f for f in HELD_OUT_FAMILIES if f is not Family.SYMBOL]
    drawings = non_digit_set((Family.SYMBOL,), symbols, seed) + non_digit_set(others, per_family, seed + 1,
                                                                             held_out_digits())
    groups: dict[str, list[Sketch]] = {SLASH if name == "/" else SYMBOL + name: [] for name in HELD_OUT_GLYPHS}
    for d in drawings:
        name = d.family.value
        if d.family is Family.SYMBOL:  # a slash is a fair 1: its row says so, and is left out of the pooled one
            name = SLASH if d.name == "/" else SYMBOL + d.name
        groups.setdefault(name, []).append(parse_sketch(d.sketch.to_json()))
    return {name: group for name, group in groups.items() if group}  # in the glyphs' order; none empty


def hand_drawn(path: str | Path) -> dict[str, list[Sketch]]:
    """Symbols drawn by hand on the pad, by name ({"name": "+", "sketch": the pad's JSON} a line)."""
    out: dict[str, list[Sketch]] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            item = json.loads(line)
            out.setdefault(item["name"], []).append(parse_sketch(item["sketch"]))
    return out


@dataclass
class Comparison:
    """One source read by a reader and by its picture model alone."""

    source: str
    kind: str  # "digits" or "non-digits"
    reader: Tally
    picture: Tally

    def worse_than_the_picture(self) -> list[str]:
        """What the reader does worse than the picture alone: first guess, wrong-and-sure, or "not sure" on
        non-digits."""
        r, p = self.reader, self.picture
        if self.kind == "non-digits":
            return ["not sure"] if r.not_sure < p.not_sure else []
        return [name for name, worse in (("first guess", r.top_right < p.top_right),
                                         ("wrong and sure", r.wrong_sure > p.wrong_sure)) if worse]


def pooled(source: str, parts: Sequence[Comparison]) -> Comparison:
    """One row for the drawings of several, counted together (of one kind)."""

    def total(tallies: Iterable[Tally]) -> Tally:
        tallies = list(tallies)
        return Tally(**{name: sum(getattr(t, name) for t in tallies) for name in Tally.__dataclass_fields__})

    return Comparison(source, parts[0].kind, total(p.reader for p in parts), total(p.picture for p in parts))


def symbol_rows(comparisons: Iterable[Comparison]) -> list[Comparison]:
    """The rows of the held-out symbols but the slash, as `non_digit_sources` names them."""
    return [c for c in comparisons if c.source.startswith(HELD_OUT + SYMBOL)]


def pooled_symbols(symbols: Sequence[Comparison]) -> Comparison:
    """The symbols' rows (`symbol_rows`) as one: the row the issue's target for symbols counts."""
    return pooled(f"{HELD_OUT}{OTHER_SYMBOLS}, the rows above pooled", symbols)


def compare(reader: Reader, source: str, values: Sequence, labels: Sequence[int], picture: Tally | None = None
            ) -> Comparison:
    """`values` read by `reader` and by its picture model alone (`picture`: that tally, when it was counted on
    these values already: by another reader of the same picture model)."""
    if picture is None:
        picture = tally(read_all(Reader(reader.picture, device=reader.device), values), labels)
    kind = "non-digits" if all(label == OTHER_CLASS for label in labels) else "digits"
    return Comparison(source, kind, tally(read_all(reader, values), labels), picture)


def digit_sources(seed: int = 0) -> dict[str, tuple[list, list[int]]]:
    """Every digit source of the protocol: (drawings, labels) by name."""
    digits = held_out_digits()
    labels = [d.label for d in digits]
    drawn = {s: shifted_drawings(digits, s, seed) for s in Shift}
    sources = {f"held-out writers, {s.value}": (drawings, labels) for s, drawings in drawn.items()}
    sources["held-out writers drawn at 28x28, uploaded"] = (uploads(digits, seed), labels)
    snapshots = pad_snapshots(drawn[Shift.AS_DRAWN])  # the same placements as the drawings as drawn
    sources["held-out writers drawn on the pad, saved as a 64 px JPEG, uploaded"] = (snapshots, labels)
    return sources


def non_digit_sources(symbols: str | Path | None = None, seed: int = 0, held_out_symbols: int = HELD_OUT_SYMBOLS
                      ) -> dict[str, tuple[list, list[int]]]:
    """Every non-digit source: the held-out families (`held_out_symbols` symbols), and the hand-drawn symbols
    when their file is given."""
    held_out = held_out_non_digits(seed, symbols=held_out_symbols)
    groups = {HELD_OUT + name: drawings for name, drawings in held_out.items()}
    if symbols is not None:
        groups.update({f"drawn by hand: {name}": drawings for name, drawings in hand_drawn(symbols).items()})
    return {name: (drawings, [OTHER_CLASS] * len(drawings)) for name, drawings in groups.items()}
