"""The small file that carries a visitor's collection from one visit to the next (`collection`'s format).

`dumps`/`save` write it gzipped, whole or not at all; `loads`/`load` read it
(plain JSON too), checking its size before anything else and every drawing as
the pad's are checked, all or none: anything wrong raises `CollectionError`.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Mapping

from mnist_demo.personal.collection import (
    FORMAT,
    HEAD,
    MAX_DRAWINGS,
    MAX_FILE_BYTES,
    MAX_JSON_BYTES,
    TAIL,
    VERSION,
    Collection,
    CollectionError,
    make_drawing,
    megabytes,
)


def dumps(collection: Collection) -> bytes:
    """The collection as a gzipped JSON document (what `save` writes): `to_dict` as compact JSON."""
    text = (HEAD + ",".join(d.to_json() for d in collection) + TAIL).encode()
    # mtime=0: the same collection gives the same bytes, whenever it is saved. Level 1: 40 ms for a full
    # collection (5 MB of JSON), where 9 took 1.7 s, for a file 40% larger (1.2 MB at the limits).
    return gzip.compress(text, compresslevel=1, mtime=0)


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


def _unzip(data: bytes) -> bytes:
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as f:
            text = f.read(MAX_JSON_BYTES + 1)
    except (OSError, EOFError) as exc:
        raise CollectionError(f"this file is a damaged gzip file ({exc})") from None
    if len(text) > MAX_JSON_BYTES:
        raise CollectionError(f"this file unpacks to more than {megabytes(MAX_JSON_BYTES)}: not a collection "
                              "of drawings")
    return text


def loads(data: bytes) -> Collection:
    """Read a collection file's bytes (gzipped or plain JSON); raises CollectionError for anything else."""
    if len(data) > MAX_FILE_BYTES:
        raise CollectionError(f"this file is too large ({megabytes(len(data))}; a collection file is at most "
                              f"{megabytes(MAX_FILE_BYTES)})")
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
            raise CollectionError(f"this file is too large ({megabytes(size)}; a collection file is at most "
                                  f"{megabytes(MAX_FILE_BYTES)})")
        data = path.read_bytes()
    except OSError as exc:
        raise CollectionError(f"cannot read {path.name}: {exc.strerror or exc}") from None
    return loads(data)
