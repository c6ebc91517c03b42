"""Helpers for the app's API and browser tests: a server in this process, and digits drawn by people."""

from __future__ import annotations

import os
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from mnist_demo.app.settings import AppSettings
from mnist_demo.app.handlers import WebApp
from mnist_demo.pen_digits import HELD_OUT_WRITERS, PenDigit, load_pen_digits, pen_sketch

REPO = Path(__file__).resolve().parent.parent
SCREENSHOTS = REPO / "artifacts" / "screenshots"

# Small enough for a test: a one- or two-epoch training takes seconds on two CPU cores.
TRAIN_LIMIT = 2000
TEST_LIMIT = 1000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def app_settings(weights: Path, **changes) -> AppSettings:
    """Settings for a test server: the given weights, MNIST from $MNIST_DATA_DIR, a small subset."""
    values = dict(weights=weights, train_limit=TRAIN_LIMIT, test_limit=TEST_LIMIT, max_epochs=5,
                  train_threads=1, device="cpu", data_dir=Path(os.environ["MNIST_DATA_DIR"]))
    values.update(changes)
    return AppSettings(**values)


@contextmanager
def served_app(settings: AppSettings | None = None, webapp: WebApp | None = None) -> Iterator[str]:
    """`app.py`'s page served from this process (answered by `webapp` if given); yields its URL."""
    from mnist_demo.app import page as app

    demo = app.build_app(settings, webapp)
    port = free_port()
    limit = (webapp.settings if webapp else settings or AppSettings()).max_upload_bytes
    app.launch(demo, limit, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


def held_out_digits(labels: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), per_label: int = 1) -> list[PenDigit]:
    """Digits of writers no model trained on, `per_label` of each label, in file order."""
    chosen: dict[int, list[PenDigit]] = {d: [] for d in labels}
    for digit in load_pen_digits():
        if digit.writer in HELD_OUT_WRITERS and digit.label in chosen and len(chosen[digit.label]) < per_label:
            chosen[digit.label].append(digit)
    return [d for label in labels for d in chosen[label]]


def pad_value(digit: PenDigit, version: int = 0) -> str:
    """`digit` drawn on the Draw tab's pad, as the pad sends it (JSON strokes on the 800 px canvas)."""
    return pen_sketch(digit.strokes, version=version).to_json()
