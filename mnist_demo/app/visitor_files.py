"""Each visitor's files on the server: folders no other session can name, and nothing written after they leave.

A visitor is known by their session id (`outputs.owner`), and the client chooses it: any string, "..",
"handwriting" or a name like another visitor's included (a client that opened and closed
/gradio_api/heartbeat/handwriting once deleted every visitor's collection file). So no path is ever
made of it: a visitor's folder is named by the SHA-256 of their id, under a root of its own for each
kind of file (`Part`), and two ids never share a folder ("a.b" and "a_b" used to).

When a visitor leaves (`forget`) their folders go, and what they started before (a training that
stops within a batch and then keeps its model, a download being written) learns it before it
writes: `writing` gives an `Errand` its folder only while its visitor has not left since it began,
under the lock `forget` deletes under. A visitor who comes back (a page that reconnects after a
network blip keeps its session) starts new errands, which write as before.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import threading
import weakref
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Iterator


class Part(Enum):
    """The kinds of a visitor's files, each under a root of its own."""

    TRAININGS = "trainings"  # their trained or fitted weights, for download
    COLLECTIONS = "collections"  # their collection's file, for download


STOPS = "stops"  # the files that tell a training in another process to stop: not the visitor's to download


@dataclass(eq=False)
class Errand:
    """Work a visitor started that may write into their folders (a training, a download)."""

    owner: str
    forgotten: bool = False  # the visitor left after it began: it writes nothing more


def folder_name(owner: str) -> str:
    """A visitor's folder name: hex digits only, so no id names a root, a parent or another's folder."""
    return hashlib.sha256(owner.encode("utf-8", "surrogatepass")).hexdigest()


class VisitorFiles:
    """Every visitor's folders, under one temporary root that goes with this object (or at exit)."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="mnist_demo-visitors-"))
        weakref.finalize(self, shutil.rmtree, self.root, ignore_errors=True)
        self._lock = threading.Lock()
        self._errands: dict[str, set[Errand]] = {}

    def folder(self, owner: str, part: Part) -> Path:
        return self.root / part.value / folder_name(owner)

    def stop_file(self, owner: str) -> Path:
        return self.root / STOPS / f"{folder_name(owner)}.stop"

    def begin(self, owner: str) -> Errand:
        """Work for `owner` that may write into their folders, until `end`."""
        errand = Errand(owner)
        with self._lock:
            self._errands.setdefault(owner, set()).add(errand)
        return errand

    def end(self, errand: Errand) -> bool:
        """The errand is over; returns whether its visitor left meanwhile (so what it wrote goes)."""
        with self._lock:
            running = self._errands.get(errand.owner, set())
            running.discard(errand)
            if not running:
                self._errands.pop(errand.owner, None)
            return errand.forgotten

    @contextmanager
    def writing(self, errand: Errand, part: Part) -> Iterator[Path | None]:
        """The errand's folder of `part` (created) to write in, or None when its visitor has left since it
        began. Holds the lock `forget` takes: write and get out, nothing slow."""
        with self._lock:
            if errand.forgotten:
                yield None
                return
            folder = self.folder(errand.owner, part)
            folder.mkdir(parents=True, exist_ok=True)
            yield folder

    def forget(self, owner: str) -> None:
        """`owner` has left: delete their folders; what they started writes nothing more."""
        with self._lock:
            for errand in self._errands.get(owner, ()):
                errand.forgotten = True
            for part in Part:
                shutil.rmtree(self.folder(owner, part), ignore_errors=True)
