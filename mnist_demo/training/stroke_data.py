"""The stroke reader's data: pen digits' paths as the pad sends them (`reading.strokes`).

Training: every training writer's digit `recipe.pen_renders` times (times its
collection's weight), each varied as writers vary (`handwriting.variation`;
half of them also bent, `warp_strokes`, which drawnet's renders are not),
some drawn in another direction or stroke order (`vary_order`), and placed on
the pad with a stylus's, a mouse's or a finger's wobble, `recipe.pen_shifts`
of them as another device sends them (`handwriting.shifts`); plus
`recipe.non_digits` made-up drawings that are not one digit (class 10). Test:
the calibration writers' digits, placed on the pad as drawn. MNIST has no
paths, so a stroke reader never sees it. Both sets are kept on disk
(`drawn_cache`).
"""

from __future__ import annotations

import functools
from typing import Callable, Sequence

import numpy as np
import torch

from mnist_demo.base.mnist import OTHER_CLASS
from mnist_demo.base.recipe import Recipe
from mnist_demo.base.strokes import path_features
from mnist_demo.handwriting.non_digits import training_non_digits
from mnist_demo.handwriting.pen_digits import (
    COLLECTIONS,
    PenCollection,
    Writer,
    placed_as_drawn,
    random_placement,
    writer_ranges,
)
from mnist_demo.handwriting.shifts import device_shifted
from mnist_demo.handwriting.variation import vary_strokes, warp_strokes
from mnist_demo.training.data import Split
from mnist_demo.training.drawn_cache import STROKES, cached
from mnist_demo.training.drawn_data import pen_files

P_REVERSE = 0.15  # a stroke drawn the other way (a 0 clockwise), per stroke
P_REORDER = 0.15  # a digit of several strokes drawn in another order (a 4's bar first)
P_WARP = 0.5  # a digit bent by a smooth random field (`variation.warp_strokes`), for the stroke reader only
WARP = 0.07  # how far, as a share of the digit's size
TEST_RENDERS = 2

Point = tuple[float, float]


def vary_order(strokes: Sequence[Sequence[Point]], rng: np.random.Generator) -> list[list[Point]]:
    """Some writers draw a stroke the other way, or a digit's strokes in another order."""
    out = [list(s)[::-1] if rng.random() < P_REVERSE else list(s) for s in strokes]
    if len(out) > 1 and rng.random() < P_REORDER:
        out = [out[i] for i in rng.permutation(len(out))]
    return out


def _stacked(paths: list[np.ndarray], labels: list[int]) -> Split:
    return Split(torch.from_numpy(np.stack(paths)), torch.tensor(labels, dtype=torch.int64))


def training_paths(seed: int, renders: int, non_digits: int,
                   writers: Callable[[PenCollection], Sequence[Writer]] = lambda c: c.train_writers,
                   shifts: float = 0.0) -> Split:
    """Each collection's `writers`' digits as varied paths on the pad, `renders` times (times the collection's
    weight), and made-up non-digits drawn with those writers' digits (see the module docstring); `shifts` of
    each as another device or hand would send them (`handwriting.shifts.device_shifted`)."""

    rng = np.random.default_rng(seed)
    paths, labels, digits = [], [], []
    for c in COLLECTIONS.values():
        for d in c.digits(writers(c)):
            digits.append(d)
            for _ in range(renders * c.weight):
                strokes = vary_strokes(d.strokes, d.label, rng)
                if P_WARP > 0 and rng.random() < P_WARP:  # no draw at all when off: the recipe's data as before
                    strokes = warp_strokes(strokes, WARP, rng)
                strokes = vary_order(strokes, rng)
                paths.append(path_features(device_shifted(random_placement(rng, strokes).place(strokes), shifts, rng)))
                labels.append(d.label)
    for drawing in training_non_digits(non_digits, rng, digits):
        paths.append(path_features(device_shifted([s.points for s in drawing.strokes], shifts, rng)))
        labels.append(OTHER_CLASS)
    return _stacked(paths, labels)


def placed_paths(seed: int, renders: int,
                 writers: Callable[[PenCollection], Sequence[Writer]] = lambda c: c.calibration_writers) -> Split:
    """Each collection's `writers`' digits as they drew them, placed on the pad `renders` times each."""

    digits = [d for c in COLLECTIONS.values() for d in c.digits(writers(c))]
    placed = list(placed_as_drawn(digits, renders, np.random.default_rng(seed + 7919)))  # as calibration_data's
    return _stacked([path_features([s.points for s in sketch.strokes]) for _, sketch in placed],
                    [d.label for d, _ in placed])


@functools.lru_cache(maxsize=2)
def stroke_training_split(seed: int, renders: int, non_digits: int, shifts: float) -> Split:
    """The training writers' digits as varied paths on the pad, and made-up non-digits (see the module docstring)."""
    return cached("pen-paths", {"seed": seed, "renders": renders, "non_digits": non_digits, "shifts": shifts},
                  lambda: training_paths(seed, renders, non_digits, shifts=shifts), pen_files(), item=STROKES)


@functools.lru_cache(maxsize=2)
def stroke_test_split(seed: int) -> Split:
    """The calibration writers' digits as drawn, placed on the pad `TEST_RENDERS` times each."""
    return cached("pen-paths-test", {"seed": seed}, lambda: placed_paths(seed, TEST_RENDERS), pen_files(),
                  item=STROKES)


def stroke_splits(recipe: Recipe, seed: int, notes: list[str]) -> tuple[Split, Split]:
    """(training, test) sets of a stroke reader's recipe; it needs the pen digits."""

    if not recipe.pen_digits:
        raise ValueError("a stroke reader learns from the pen digits' paths only (MNIST has none): it needs "
                         "pen_digits")
    train = stroke_training_split(seed, recipe.pen_renders, recipe.non_digits, recipe.pen_shifts)
    test = stroke_test_split(seed)
    notes.append(f"trained on {len(train)} pen paths (writers {writer_ranges(lambda c: c.train_writers)}; "
                 f"{recipe.non_digits} made-up non-digits as class {OTHER_CLASS}); tested on {len(test)} paths of "
                 f"the calibration writers ({writer_ranges(lambda c: c.calibration_writers)}), not MNIST")
    return train, test
