"""Rendered training drawings kept on disk, so a training that adds pen digits starts in seconds.

Rendering drawnet's pen digits and non-digits takes a minute or two, and the app
runs each training in a new process, so an in-memory cache is gone by the next
one: every drawnet training in the Train tab used to show "Preparing the
training data…" that long. Here a rendered set is written once as .safetensors
(tensors only: loading never unpickles) and read back in well under a second.

A file's name holds a digest of everything that makes its images: what is
rendered (kind and parameters), the source of the modules that choose, draw
and preprocess them (`SOURCES`) and the pen-digit files themselves. Edit any of them and
the old files are simply not found again; the oldest go once there are more
than `KEEP`. A file that cannot be read, or holds the wrong shapes, is rendered
again and replaced; a folder that cannot be written means no cache, the same data.

`MNIST_DEMO_CACHE` names the folder (default: ~/.cache/mnist_demo, or under
$XDG_CACHE_HOME); `MNIST_DEMO_CACHE=off` renders every time.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors.torch import load_file, save_file

from mnist_demo.base.strokes import FEATURES, POINTS
from mnist_demo.training.data import Split

CACHE_ENV = "MNIST_DEMO_CACHE"
PACKAGE = Path(__file__).resolve().parent.parent
# In the package: what draws the images, and the two modules that say what to draw (drawn_data: a
# training's sets; finetune: a fit's pen sample).
SOURCES = ("base", "handwriting", "reading", "training/drawn_data.py", "training/stroke_data.py",
           "training/calibration_data.py", "personal/finetune.py")
IMAGES = (torch.uint8, (28, 28))  # what a set holds, each item: 28x28 pictures (the default)...
STROKES = (torch.float32, (POINTS, FEATURES))  # ...or pen paths (reading.strokes)
KEEP = 10  # files; a drawnet training uses two (pen digits, non-digits), ~35 MB together, a fit five (three tiny)
OURS = re.compile(r"[a-z][a-z-]*-[0-9a-f]{24}\.safetensors")  # only files of this cache are ever pruned


def cache_dir() -> Path | None:
    """Where rendered sets are kept; None when the cache is off."""
    value = os.environ.get(CACHE_ENV, "").strip()
    if value.lower() == "off":
        return None
    if value:
        return Path(value).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mnist_demo"


@functools.lru_cache(maxsize=4)
def _source_digest(data_files: tuple[str, ...]) -> str:
    h = hashlib.sha256()
    for name in SOURCES:
        path = PACKAGE / name
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            h.update(str(file.relative_to(PACKAGE)).encode() + b"\0" + file.read_bytes())
    for file in data_files:
        h.update(Path(file).read_bytes())
    return h.hexdigest()


def cache_path(kind: str, params: dict[str, Any], data_files: tuple[str | os.PathLike, ...] = ()) -> Path | None:
    """The file a rendered set of `kind` with `params` is kept in (None when the cache is off)."""
    folder = cache_dir()
    if folder is None:
        return None
    key = json.dumps({"kind": kind, **params, "source": _source_digest(tuple(map(str, data_files)))},
                     sort_keys=True)
    return folder / f"{kind}-{hashlib.sha256(key.encode()).hexdigest()[:24]}.safetensors"


def _read(path: Path, item: tuple[torch.dtype, tuple[int, ...]] = IMAGES) -> Split | None:
    try:
        tensors = load_file(path)
        images, labels = tensors["images"], tensors["labels"]
    except Exception:  # not there yet, or damaged, truncated, not ours: render again
        return None
    dtype, shape = item
    if (images.dtype != dtype or tuple(images.shape[1:]) != shape
            or labels.dtype != torch.int64 or labels.shape != (len(images),)):
        return None
    return Split(images, labels)


def _write(path: Path, split: Split) -> None:
    partial: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # A name of its own: two threads (or processes) rendering the same set never write into one file.
        fd, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        os.close(fd)
        save_file({"images": split.images.contiguous(), "labels": split.labels.contiguous()}, partial)
        os.replace(partial, path)  # whole or not at all: a reader never sees half a file
        partial = None
        # Only this cache's own files: the folder may be one a user chose, with their weights in it.
        ours = [p for p in path.parent.iterdir() if OURS.fullmatch(p.name)]
        old = sorted(ours, key=_used, reverse=True)
        for stale in old[KEEP:]:
            stale.unlink(missing_ok=True)
    except Exception:  # a read-only or full disk (safetensors' own error, not an OSError): no cache, the same data
        if partial is not None:
            try:
                os.unlink(partial)  # nor half a file left behind
            except OSError:
                pass


def _used(path: Path) -> float:
    """When a file was last used (0 when another process just pruned it)."""
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _touch(path: Path) -> None:
    """Mark a file recently used, so it is kept longest; a read-only cache, or a file another process
    just pruned, only loses that mark: the set was read already."""
    try:
        os.utime(path)
    except OSError:
        pass


def cached(kind: str, params: dict[str, Any], render: Callable[[], Split],
           data_files: tuple[str | os.PathLike, ...] = (),
           item: tuple[torch.dtype, tuple[int, ...]] = IMAGES) -> Split:
    """`render()`'s set, from the cache when it holds it for the same kind, parameters, code and data.
    `item`: the dtype and shape of each of its items (IMAGES or STROKES)."""
    path = cache_path(kind, params, data_files)
    if path is None:
        return render()
    found = _read(path, item)
    if found is not None:
        _touch(path)
        return found
    split = render()
    _write(path, split)
    return split
