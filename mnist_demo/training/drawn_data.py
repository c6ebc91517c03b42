"""The drawings a recipe adds to MNIST: pen digits of the training writers (as many of them as the recipe
says as other devices send them), made-up drawings that are not one digit (for a model with an "other"
class), and both drawn as small uploaded pictures. Rendering tens of thousands of drawings takes a minute
or two, so each set is kept in memory for the process and on disk for the next (`drawn_cache`)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from mnist_demo.base.mnist import OTHER_CLASS
from mnist_demo.base.recipe import Recipe
from mnist_demo.handwriting.non_digits import non_digit_training_images
from mnist_demo.handwriting.pen_digits import (
    COLLECTIONS,
    PenDigitsUnavailable,
    pen_digits_file,
    pen_training_images,
    writer_ranges,
)
from mnist_demo.handwriting.uploads import upload_training_images
from mnist_demo.training.data import Split
from mnist_demo.training.drawn_cache import cache_path, cached


@dataclass(frozen=True)
class DrawnSet:
    """A set as the cache names it: its kind and the parameters it was made with."""

    kind: str
    params: dict[str, int]

    def path(self, files: tuple[str, ...]) -> Path | None:
        return cache_path(self.kind, self.params, files)

    def get(self, render: Callable[[], Split]) -> Split:
        """`render()`'s set, from the cache when it holds it (made from the pen-digit files as they are)."""
        return cached(self.kind, self.params, render, pen_files())


def _pen_set(seed: int, renders: int, shifts: float) -> DrawnSet:
    # Named by its shifts only when there are any: the sets made before there were are the same.
    return DrawnSet("pen-digits", {"seed": seed, "renders": renders, **({"shifts": shifts} if shifts else {})})


def _non_digit_set(seed: int, n: int) -> DrawnSet:
    return DrawnSet("non-digits", {"seed": seed, "n": n})


@functools.lru_cache(maxsize=2)
def _pen_training_split(seed: int, renders: int, shifts: float) -> Split:
    """Rendered pen digits of every collection's training writers, `shifts` of them as another device sends them."""

    def render() -> Split:
        parts = [pen_training_images(c.digits(c.train_writers), renders_per_digit=renders * c.weight,
                                     seed=seed + i, shifts=shifts) for i, c in enumerate(COLLECTIONS.values())]
        return Split(torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]))

    return _pen_set(seed, renders, shifts).get(render)


def _uploads_set(seed: int, n: int) -> DrawnSet:
    return DrawnSet("uploads", {"seed": seed, "n": n})


def _of_training_writers(drawn: DrawnSet,
                         make: Callable[[int, int, list], tuple[torch.Tensor, torch.Tensor]]) -> Split:
    """`make(n, seed, digits)`'s set, given the training writers' pen digits, through the cache."""

    def render() -> Split:
        digits = [d for c in COLLECTIONS.values() for d in c.digits(c.train_writers)]
        return Split(*make(drawn.params["n"], drawn.params["seed"], digits))

    return drawn.get(render)


@functools.lru_cache(maxsize=2)
def _non_digit_split(seed: int, n: int) -> Split:
    """Made-up drawings that are not one digit, labelled OTHER_CLASS (see handwriting.non_digits)."""
    return _of_training_writers(_non_digit_set(seed, n), non_digit_training_images)


@functools.lru_cache(maxsize=2)
def _uploads_split(seed: int, n: int) -> Split:
    """Pen digits of the training writers and made-up non-digits as small uploaded pictures."""
    return _of_training_writers(_uploads_set(seed, n), upload_training_images)


def pen_files() -> tuple[str, ...]:
    """The pen-digit files the sets are made from; missing ones raise `PenDigitsUnavailable` here, before
    any cache is looked at (without parsing them: a set read back from the cache needs no strokes)."""

    for c in COLLECTIONS.values():
        pen_digits_file(c.path())
    return tuple(str(c.path()) for c in COLLECTIONS.values())


@dataclass(frozen=True)
class _Addition:
    """One drawn set a recipe adds to MNIST: as the cache names it, how to have it, and what the run's notes
    call it. `field` names the recipe's count of drawings that are not one digit (the 11th class), or ""."""

    drawn: DrawnSet
    split: Callable[[], Split]
    what: str
    field: str = ""


def _additions(recipe: Recipe, seed: int) -> list[_Addition]:
    """The drawn sets `recipe` adds, in the order they join MNIST."""
    out = []
    if recipe.pen_digits:
        writers = writer_ranges(lambda c: c.train_writers, prefix="writers ")
        shifted = f", {recipe.pen_shifts:.0%} of them as other devices send them" if recipe.pen_shifts else ""
        out.append(_Addition(_pen_set(seed, recipe.pen_renders, recipe.pen_shifts),
                             lambda: _pen_training_split(seed, recipe.pen_renders, recipe.pen_shifts),
                             f"rendered pen digits ({writers}{shifted})"))
    if recipe.non_digits:  # both of these hold drawings that are not one digit, taught as the 11th class
        out.append(_Addition(_non_digit_set(seed, recipe.non_digits), lambda: _non_digit_split(seed, recipe.non_digits),
                             f"made-up drawings that are not one digit, as class {OTHER_CLASS}", "non_digits"))
    if recipe.uploads:
        out.append(_Addition(_uploads_set(seed, recipe.uploads), lambda: _uploads_split(seed, recipe.uploads),
                             "small uploaded pictures of pen digits and made-up non-digits", "uploads"))
    return out


def already_drawn(recipe: Recipe, seed: int) -> bool:
    """Whether every drawn set the recipe adds is in the cache already, so that preparing a training
    takes seconds, not the minute or two rendering takes (False when the pen digits cannot be had)."""

    wanted = [addition.drawn for addition in _additions(recipe, seed)]
    try:
        files = pen_files() if wanted else ()
    except PenDigitsUnavailable:
        return False
    paths = [drawn.path(files) for drawn in wanted]
    return all(path is not None and path.is_file() for path in paths)


def drawn_data(recipe: Recipe, seed: int, classes: int, notes: list[str]) -> list[Split]:
    """The pen digits, non-digits and uploaded pictures the recipe asks for. Pen digits that cannot be had
    are an error, not a silent change of recipe (`PenDigitsUnavailable` says where they should be)."""

    additions = _additions(recipe, seed)
    for addition in additions:  # refused before anything is drawn
        if addition.field and classes <= OTHER_CLASS:
            raise ValueError(f"{addition.field} needs a model with an 'other' class ({OTHER_CLASS + 1} outputs); "
                             f"this one has {classes}")
    parts = []
    for addition in additions:
        made = addition.split()
        notes.append(f"added {len(made)} {addition.what}")
        parts.append(made)
    return parts
