"""A visitor's labelled drawings, and the small file that carries them from one visit to the next.

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
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import numpy as np
import torch

from mnist_demo.base.mnist import SIZE
from mnist_demo.reading.preprocess import preprocess
from mnist_demo.reading.sketch import Sketch, SketchError, parse_sketch

# The limits, in one place. A drawing is ~1-5 kB of JSON, so 500 of them fit 2 MB gzipped with room to spare.
MAX_DRAWINGS = 500
MAX_FILE_BYTES = 2_000_000  # the file as uploaded (gzipped or not)
MAX_JSON_BYTES = 5_000_000  # once unzipped: no gzip bomb, and at most ~10 s of preprocessing for a crafted file
FORMAT = "mnist_demo/handwriting"
VERSION = 1
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
        parsed = sketch if isinstance(sketch, Sketch) else parse_sketch(sketch)
    except SketchError as exc:
        raise CollectionError(str(exc)) from None
    if parsed.empty:
        raise CollectionError("the pad is empty: draw a digit first")
    # Kept as the file will hold it (points to 0.1 px, the page's counter at 0), so a saved and
    # reloaded drawing is the same drawing, to the pixel.
    parsed = parse_sketch(Sketch(parsed.strokes, parsed.size, 0).to_json())
    seen = preprocess(parsed)
    if not seen.ok:  # what the model could never read cannot teach it either
        raise CollectionError(f"this drawing cannot be read as a digit: {seen.message}")
    if id is not None and (not isinstance(id, str) or not _ID.match(id)):
        raise CollectionError(f"a drawing's id is 1-32 letters, digits, - or _, not {id!r}")
    return Drawing(id or secrets.token_hex(4), label, parsed, seen.image)


class Collection:
    """A visitor's labelled drawings, in the order they were added.

    Every change is checked first and then made whole, so a refused one leaves the
    collection as it was. Lives in the visitor's session (a `gr.State`): nothing here
    touches a shared place.
    """

    def __init__(self, drawings: Iterable[Drawing] = ()) -> None:
        self._drawings: dict[str, Drawing] = {}
        self.extend(drawings)

    # ------------------------------------------------------------ changes

    def add(self, sketch: Sketch | str | bytes | Mapping[str, Any], label: Any) -> Drawing:
        """Keep a drawing with its label (0-9); returns it, with its id. Raises CollectionError."""
        if len(self) >= MAX_DRAWINGS:
            raise CollectionError(f"the collection is full ({MAX_DRAWINGS} drawings): remove some first")
        drawing = make_drawing(sketch, label)
        while drawing.id in self._drawings:  # 4 random bytes: a clash is rare, but cheap to rule out
            drawing = Drawing(secrets.token_hex(4), drawing.label, drawing.sketch, drawing.image)
        self._drawings[drawing.id] = drawing
        return drawing

    def extend(self, drawings: Iterable[Drawing]) -> None:
        """Add drawings (e.g. an uploaded collection's) all or none; ids already here are skipped."""
        new = [d for d in drawings if d.id not in self._drawings]
        if len({d.id for d in new}) != len(new):
            raise CollectionError("two drawings have the same id")
        if len(self) + len(new) > MAX_DRAWINGS:
            raise CollectionError(f"that makes {len(self) + len(new)} drawings; a collection holds at most "
                                  f"{MAX_DRAWINGS}")
        for d in new:
            self._drawings[d.id] = d

    def remove(self, id: str) -> Drawing:
        """Take a drawing out by its id; raises KeyError when there is none."""
        return self._drawings.pop(id)

    def relabel(self, id: str, label: Any) -> Drawing:
        """Change a drawing's digit (a misclick); raises KeyError or CollectionError."""
        old = self._drawings[id]
        self._drawings[id] = new = Drawing(old.id, _label(label), old.sketch, old.image)
        return new

    def clear(self) -> None:
        self._drawings.clear()

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


# ------------------------------------------------------------ the file


def dumps(collection: Collection) -> bytes:
    """The collection as a gzipped JSON document (what `save` writes)."""
    text = json.dumps(collection.to_dict(), separators=(",", ":")).encode()
    # mtime=0: the same collection gives the same bytes, whenever it is saved.
    return gzip.compress(text, compresslevel=9, mtime=0)


def save(collection: Collection, path: str | os.PathLike) -> Path:
    """Write the file atomically (a temporary file, then a rename): never half a collection."""
    return write_atomically(Path(path), dumps(collection))


def write_atomically(path: Path, data: bytes) -> Path:
    """`data` as the file at `path`, whole or not at all: a temporary file beside it, then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _megabytes(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _unzip(data: bytes) -> bytes:
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as f:
            text = f.read(MAX_JSON_BYTES + 1)
    except (OSError, EOFError) as exc:
        raise CollectionError(f"this file is a damaged gzip file ({exc})") from None
    if len(text) > MAX_JSON_BYTES:
        raise CollectionError(f"this file unpacks to more than {_megabytes(MAX_JSON_BYTES)}: not a collection "
                              "of drawings")
    return text


def loads(data: bytes) -> Collection:
    """Read a collection file's bytes (gzipped or plain JSON); raises CollectionError for anything else."""
    if len(data) > MAX_FILE_BYTES:
        raise CollectionError(f"this file is too large ({_megabytes(len(data))}; a collection file is at most "
                              f"{_megabytes(MAX_FILE_BYTES)})")
    text = _unzip(data)  # outside the try: its CollectionError is a ValueError too
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError too
        raise CollectionError("this is not a collection of drawings: the file is not JSON") from None
    if not isinstance(doc, Mapping) or doc.get("format") != FORMAT:
        raise CollectionError("this is not a collection of drawings saved by this app (its format is not "
                              f"{FORMAT!r})")
    version = doc.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise CollectionError(f"this collection file has no valid version ({version!r})")
    if version > VERSION:
        raise CollectionError(f"this collection was saved by a newer version of the app (format version "
                              f"{version}; this one reads version {VERSION})")
    items = doc.get("drawings")
    if not isinstance(items, list):
        raise CollectionError("this collection file has no list of drawings")
    if len(items) > MAX_DRAWINGS:
        raise CollectionError(f"this file holds {len(items)} drawings; a collection holds at most {MAX_DRAWINGS}")
    drawings = []
    for i, item in enumerate(items, 1):
        if not isinstance(item, Mapping):
            raise CollectionError(f"drawing {i} of the file is not an object with a sketch and a label")
        try:
            drawings.append(make_drawing(item.get("sketch"), item.get("label"), item.get("id")))
        except CollectionError as exc:
            raise CollectionError(f"drawing {i} of the file: {exc}") from None
    return Collection(drawings)  # raises for duplicate ids, before anyone holds the result


def load(path: str | os.PathLike) -> Collection:
    """Read a collection file; its size is checked before it is read. Raises CollectionError."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise CollectionError(f"this file is too large ({_megabytes(size)}; a collection file is at most "
                                  f"{_megabytes(MAX_FILE_BYTES)})")
        data = path.read_bytes()
    except OSError as exc:
        raise CollectionError(f"cannot read {path.name}: {exc.strerror or exc}") from None
    return loads(data)
