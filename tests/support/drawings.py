"""Digits drawn by people no model here trained on (UCI pen digits, writers 21-30), as the pad sends them."""

from __future__ import annotations

from mnist_demo.handwriting.pen_digits import HELD_OUT_WRITERS, PenDigit, centred, load_pen_digits


def held_out_digits(labels: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), per_label: int = 1) -> list[PenDigit]:
    """Digits of writers no model trained on, `per_label` of each label, in file order."""
    chosen: dict[int, list[PenDigit]] = {d: [] for d in labels}
    for digit in load_pen_digits():
        if digit.writer in HELD_OUT_WRITERS and digit.label in chosen and len(chosen[digit.label]) < per_label:
            chosen[digit.label].append(digit)
    return [d for label in labels for d in chosen[label]]


def pad_value(digit: PenDigit, version: int = 0) -> str:
    """`digit` drawn on the Draw tab's pad, as the pad sends it (JSON strokes on the 800 px canvas)."""
    return centred().sketch(digit.strokes, version=version).to_json()
