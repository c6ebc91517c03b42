"""A visitor's labelled drawings (their file, which carries them from one visit to the next: `collection_file`).

A drawing is kept as the pad's strokes (a `Sketch`), not as pixels: strokes are
what the pad sends, a few kB each, and any later preprocessing can read them
again. Its 28x28 comes from `reading.preprocess.preprocess`, the very path a
reading takes, so the model is fitted to what it will be shown.

The file is JSON, gzipped by `save`/`dumps` (plain JSON is read too)::

    {"format": "mnist_demo/handwriting", "version": 1,
     "drawings": [{"id": "3f9c01ab", "label": 7,
                   "sketch": {"size": 800, "strokes": [{"r": 22, "points": [[x, y], ...]}, ...]}}, ...]}

Each drawing's sketch is read by `parse_sketch`, so the pad's limits apply to
every drawing in a file. Anything wrong (not this format, a newer version, too
large, too many drawings, a bad drawing or label) raises `CollectionError`, a
ValueError whose message is meant for the visitor, and changes nothing.

A collection holds what one file carries, and no more: at most `MAX_DRAWINGS`
drawings, and `MAX_JSON_BYTES` of JSON once unzipped (`Collection.file_bytes`,
kept up to date drawing by drawing). So every collection can be downloaded and
uploaded again, and a visitor's drawings take at most that much memory, plus
~1.5 kB a drawing (the points are float32: 8 bytes each, where their JSON takes
10 or more; the 28x28 the model sees, 784 bytes).
"""

from __future__ import annotations

import dataclasses
import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping

import numpy as np
import torch

from mnist_demo.base.mnist import SIZE
from mnist_demo.reading.preprocess import preprocess
from mnist_demo.reading.sketch import Sketch, SketchError, parse_sketch

# The limits, in one place. A digit from the pad is 2-10 kB of JSON: 500 of them fit one file; at the limits, 14.
MAX_DRAWINGS = 500
MAX_JSON_BYTES = 5_000_000  # once unzipped: no gzip bomb, and at most ~10 s of preprocessing for a crafted file
MAX_FILE_BYTES = MAX_JSON_BYTES  # as uploaded, gzipped or not: any collection's file loads again
FORMAT = "mnist_demo/handwriting"
VERSION = 1
HEAD, TAIL = f'{{"format":"{FORMAT}","version":{VERSION},"drawings":[', "]}"  # a file, around its drawings
SUFFIX = ".json.gz"
DIGITS = tuple(range(10))
_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class CollectionError(ValueError):
    """A drawing or a file the collection cannot take; the message says why, for people."""


@dataclass(frozen=True)
class Drawing:
    """One labelled drawing: the pad's strokes, the digit it is, and the 28x28 the model sees."""

    id: str
    label: int
    sketch: Sketch
    image: np.ndarray = field(repr=False, compare=False)  # uint8 (28, 28), as preprocess made it
    file_bytes: int = field(default=0, repr=False, compare=False)  # len(to_json()): found when not given

    def __post_init__(self) -> None:
        if not self.file_bytes:
            object.__setattr__(self, "file_bytes", len(self.to_json()))

    def to_json(self) -> str:
        """The drawing as a file holds it (compact JSON, what `to_dict` gives)."""
        return f'{{"id":{json.dumps(self.id)},"label":{self.label},"sketch":{self.sketch.to_json()}}}'

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "sketch": json.loads(self.sketch.to_json())}


def _label(value: Any) -> int:
    # bool is an int to Python, but true is no digit; numpy integers come from scripts.
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) not in DIGITS:
        raise CollectionError(f"a label is a digit from 0 to 9, not {value!r}")
    return int(value)


def make_drawing(sketch: Sketch | str | bytes | Mapping[str, Any], label: Any, id: str | None = None) -> Drawing:
    """Check a drawing as the pad's are checked, and preprocess it; raises CollectionError."""
    label = _label(label)
    try:
        # As the file will hold it (points to 0.1 px: parse_sketch keeps that), so a saved and reloaded
        # drawing is the same drawing, to the pixel.
        parsed = sketch.rounded() if isinstance(sketch, Sketch) else parse_sketch(sketch)
    except SketchError as exc:
        raise CollectionError(str(exc)) from None
    if parsed.empty:
        raise CollectionError("the pad is empty: draw a digit first")
    seen = preprocess(parsed)
    if not seen.ok:  # what the model could never read cannot teach it either
        raise CollectionError(f"this drawing cannot be read as a digit: {seen.message}")
    if id is not None and (not isinstance(id, str) or not _ID.match(id)):
        raise CollectionError(f"a drawing's id is 1-32 letters, digits, - or _, not {id!r}")
    # Kept bare: no page counter, and not what reading it cached (its points joined again, 34 bytes each).
    return Drawing(id or secrets.token_hex(4), label, Sketch(parsed.strokes, parsed.size), seen.image)


class Collection:
    """A visitor's labelled drawings, in the order they were added.

    Every change is checked first and then made whole, so a refused one leaves the
    collection as it was. Lives in the visitor's session (a `gr.State`): nothing here
    touches a shared place.
    """

    def __init__(self, drawings: Iterable[Drawing] = ()) -> None:
        self._drawings: dict[str, Drawing] = {}
        self._bytes = 0  # the drawings' file_bytes, summed
        self.extend(drawings)

    # ------------------------------------------------------------ changes

    def add(self, sketch: Sketch | str | bytes | Mapping[str, Any], label: Any) -> Drawing:
        """Keep a drawing with its label (0-9); returns it, with its id. Raises CollectionError.
        Costs what the drawing does, whatever the collection holds."""
        if len(self) >= MAX_DRAWINGS:
            raise CollectionError(f"the collection is full ({MAX_DRAWINGS} drawings): remove some first")
        drawing = make_drawing(sketch, label)
        self._check_room([drawing])
        while drawing.id in self._drawings:  # 4 random bytes: a clash is rare, but cheap to rule out
            drawing = dataclasses.replace(drawing, id=secrets.token_hex(4))
        self._put(drawing)
        return drawing

    def extend(self, drawings: Iterable[Drawing]) -> None:
        """Add drawings (e.g. an uploaded collection's) all or none; ids already here are skipped."""
        new = [d for d in drawings if d.id not in self._drawings]
        if len({d.id for d in new}) != len(new):
            raise CollectionError("two drawings have the same id")
        if len(self) + len(new) > MAX_DRAWINGS:
            raise CollectionError(f"that makes {len(self) + len(new)} drawings; a collection holds at most "
                                  f"{MAX_DRAWINGS}")
        self._check_room(new)
        for d in new:
            self._put(d)

    def _check_room(self, new: list[Drawing]) -> None:
        needed = self.file_bytes + sum(d.file_bytes + 1 for d in new)  # each with its comma
        if needed > MAX_JSON_BYTES:
            raise CollectionError(f"the collection is full: its file would hold {megabytes(needed)} of strokes, "
                                  f"and one file holds {megabytes(MAX_JSON_BYTES)}. Remove some drawings, or "
                                  "download them and start another collection")

    def _put(self, drawing: Drawing) -> None:
        old = self._drawings.get(drawing.id)
        self._bytes += drawing.file_bytes - (old.file_bytes if old else 0)
        self._drawings[drawing.id] = drawing

    def remove(self, id: str) -> Drawing:
        """Take a drawing out by its id; raises KeyError when there is none."""
        gone = self._drawings.pop(id)
        self._bytes -= gone.file_bytes
        return gone

    def relabel(self, id: str, label: Any) -> Drawing:
        """Change a drawing's digit (a misclick); raises KeyError or CollectionError."""
        new = dataclasses.replace(self._drawings[id], label=_label(label))  # one digit for another: same bytes
        self._put(new)
        return new

    def clear(self) -> None:
        self._drawings.clear()
        self._bytes = 0

    @property
    def file_bytes(self) -> int:
        """The size of this collection's file, unzipped (`dumps`): what its limit counts."""
        return len(HEAD) + self._bytes + max(len(self) - 1, 0) + len(TAIL)

    # ------------------------------------------------------------ reading

    def __len__(self) -> int:
        return len(self._drawings)

    def __iter__(self) -> Iterator[Drawing]:
        return iter(list(self._drawings.values()))

    def __contains__(self, id: object) -> bool:
        return id in self._drawings

    def __getitem__(self, id: str) -> Drawing:
        return self._drawings[id]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Collection) and list(self) == list(other)

    def copy(self) -> "Collection":
        return Collection(self)  # drawings are immutable: sharing them is safe

    def counts(self) -> dict[int, int]:
        """Drawings per digit, every digit listed (0 for none)."""
        counts = dict.fromkeys(DIGITS, 0)
        for d in self:
            counts[d.label] += 1
        return counts

    def by_digit(self) -> dict[int, list[Drawing]]:
        """The drawings grouped by digit, every digit listed, each group in the order added."""
        groups: dict[int, list[Drawing]] = {k: [] for k in DIGITS}
        for d in self:
            groups[d.label].append(d)
        return groups

    def labels(self) -> list[int]:
        return [d.label for d in self]

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(uint8 (N, 28, 28), int64 (N,)): the engine's `Split` form of these drawings."""
        drawings = list(self)
        if not drawings:
            return torch.zeros(0, SIZE, SIZE, dtype=torch.uint8), torch.zeros(0, dtype=torch.int64)
        images = np.stack([d.image for d in drawings])
        return torch.from_numpy(images), torch.tensor([d.label for d in drawings], dtype=torch.int64)

    def subset(self, ids: Iterable[str]) -> "Collection":
        return Collection(self._drawings[i] for i in ids)

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "drawings": [d.to_dict() for d in self]}


def megabytes(n: int) -> str:
    return f"{n / 1e6:.1f} MB"
