"""Drawings that are not one digit, as the pad would send them: to train a model's "other" class
on, and, from separate families, to measure that it answers "not sure" to what it never saw.

Training families (`TRAINING_FAMILIES`): letters, symbols and shapes of
`glyphs.TRAINING_GLYPHS`; zigzag scribbles; a handful of scattered strokes;
two digits of training writers side by side. Held-out families
(`HELD_OUT_FAMILIES`): the symbols of `glyphs.HELD_OUT_GLYPHS` (? x - / + e ^
= < > ~); looping scribbles; two digits of held-out writers side by side; a
held-out writer's digit partly drawn off the pad. Every drawing goes through
the same variation and placement as pen digits (slant, aspect, the pad's pen
widths, the wobble of a mouse or a finger).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch

from mnist_demo.base.mnist import OTHER_CLASS
from mnist_demo.handwriting.glyphs import HELD_OUT_GLYPHS, TRAINING_GLYPHS
from mnist_demo.handwriting.pen_digits import random_placement, stacked, training_image
from mnist_demo.handwriting.variation import vary_strokes
from mnist_demo.reading.sketch import CANVAS, Sketch, Stroke

Point = tuple[float, float]
Strokes = list[list[Point]]


class Family(str, enum.Enum):
    GLYPH = "letters, symbols and shapes"  # training
    ZIGZAG = "zigzag scribbles"  # training
    SCATTER = "scattered strokes"  # training
    TRAINING_PAIR = "two digits side by side (training writers)"  # training
    SYMBOL = "symbols ? x - / + e ^ = < > ~"  # held out
    LOOPS = "looping scribbles"  # held out
    PAIR = "two digits side by side (held-out writers)"  # held out
    OFF_PAD = "a digit partly off the pad (held-out writers)"  # held out


TRAINING_FAMILIES = (Family.GLYPH, Family.ZIGZAG, Family.SCATTER, Family.TRAINING_PAIR)
HELD_OUT_FAMILIES = (Family.SYMBOL, Family.LOOPS, Family.PAIR, Family.OFF_PAD)


@dataclass(frozen=True)
class NonDigit:
    family: Family
    name: str  # the glyph's name, or the family's
    sketch: Sketch


def _glyph(glyphs: dict, rng: np.random.Generator) -> tuple[str, Strokes]:
    name = list(glyphs)[int(rng.integers(len(glyphs)))]
    return name, [list(s) for s in glyphs[name]]


def _zigzag(rng: np.random.Generator) -> Strokes:
    strokes = []
    for _ in range(int(rng.integers(1, 3))):
        p = rng.uniform(0, 1, 2)
        pts = [tuple(p)]
        for _ in range(int(rng.integers(5, 14))):
            p = np.clip(p + rng.normal(0, 0.35, 2), 0, 1)
            pts.append(tuple(p))
        strokes.append(pts)
    return strokes


def _scatter(rng: np.random.Generator) -> Strokes:
    strokes = []
    for _ in range(int(rng.integers(4, 9))):
        a = rng.uniform(0, 1, 2)
        b = a + rng.normal(0, 0.15, 2)
        strokes.append([tuple(a), tuple(b)])
    return strokes


def _loops(rng: np.random.Generator) -> Strokes:
    t = np.linspace(0, 2 * math.pi * rng.uniform(1.5, 4), 120)
    x = np.zeros_like(t)
    y = np.zeros_like(t)
    for k in range(3):
        f, a, ph = rng.uniform(0.5, 3.5), rng.uniform(0.1, 0.5) / (k + 1), rng.uniform(0, 2 * math.pi)
        x += a * np.cos(f * t + ph) + 0.03 * t
        y += a * np.sin(f * t + ph)
    return [list(zip(x.tolist(), y.tolist()))]


def _pair(digits: Sequence, rng: np.random.Generator) -> Strokes:
    """Two digits side by side, each scaled to the same height, a small gap apart."""
    out: Strokes = []
    left = 0.0
    for _ in range(2):
        d = digits[int(rng.integers(len(digits)))]
        pts = [np.asarray(s, np.float64) for s in vary_strokes(d.strokes, d.label, rng)]
        allp = np.concatenate(pts)
        lo, hi = allp.min(0), allp.max(0)
        scale = rng.uniform(0.85, 1.15) / max(hi[1] - lo[1], 1e-6)
        dy = rng.uniform(-0.12, 0.12)
        out += [[(float((x - lo[0]) * scale + left), float((y - lo[1]) * scale + dy)) for x, y in p] for p in pts]
        left += (hi[0] - lo[0]) * scale + rng.uniform(0.05, 0.35)
    return out


def _vary(strokes: Strokes, rng: np.random.Generator) -> Strokes:
    aspect = math.exp(rng.uniform(-0.35, 0.35))
    return vary_strokes([[(x * aspect, y) for x, y in s] for s in strokes], -1, rng)


def make_non_digit(family: Family, rng: np.random.Generator, digits: Sequence = ()) -> NonDigit:
    """One drawing of `family`, as the pad would send it. `digits`: pen digits for the pairs and
    for OFF_PAD (give the training writers' for TRAINING_PAIR, held-out writers' otherwise)."""
    name = family.name.lower()
    if family is Family.OFF_PAD:
        d = digits[int(rng.integers(len(digits)))]
        return NonDigit(family, str(d.label), off_pad(d.strokes, rng))
    if family in (Family.GLYPH, Family.SYMBOL):
        name, strokes = _glyph(TRAINING_GLYPHS if family is Family.GLYPH else HELD_OUT_GLYPHS, rng)
        strokes = _vary(strokes, rng)
    elif family in (Family.TRAINING_PAIR, Family.PAIR):
        strokes = _pair(digits, rng)
    else:
        strokes = _vary({Family.ZIGZAG: _zigzag, Family.SCATTER: _scatter, Family.LOOPS: _loops}[family](rng), rng)
    return NonDigit(family, name, random_placement(rng, strokes).sketch(strokes))


def off_pad(strokes: Sequence, rng: np.random.Generator, canvas: int = CANVAS) -> Sketch:
    """A digit drawn so that 25-50% of its height or width runs past one edge of the pad."""
    placed = random_placement(rng, strokes)
    pts = placed.place(strokes)
    allp = np.concatenate([np.asarray(s) for s in pts])
    lo, hi = allp.min(0), allp.max(0)
    side = int(rng.integers(4))  # left, right, top, bottom
    axis = side // 2
    extent = hi[axis] - lo[axis]
    cut = rng.uniform(0.25, 0.5) * extent
    shift = np.zeros(2)
    shift[axis] = (-(lo[axis] + cut) if side % 2 == 0 else canvas - hi[axis] + cut)
    return Sketch(tuple(Stroke(tuple((x + shift[0], y + shift[1]) for x, y in s), placed.radius) for s in pts),
                  canvas)


def non_digit_set(families: Sequence[Family], per_family: int, seed: int, digits: Sequence = ()) -> list[NonDigit]:
    """`per_family` drawings of each family, the same for the same seed."""
    rng = np.random.default_rng(seed)
    return [make_non_digit(f, rng, digits) for f in families for _ in range(per_family)]


def training_non_digits(n: int, rng: np.random.Generator, digits: Sequence) -> Iterator[Sketch]:
    """`n` drawings of the training families in turn (equal shares), as the pad would send them, drawn
    from `rng` one after another. `digits`: pen digits for the pairs (the training writers' in training)."""
    for i in range(n):
        yield make_non_digit(TRAINING_FAMILIES[i % len(TRAINING_FAMILIES)], rng, digits).sketch


def non_digit_training_images(n: int, seed: int, digits: Sequence) -> tuple[torch.Tensor, torch.Tensor]:
    """`n` renders of the training families (equal shares), preprocessed as the app does, all labelled
    `OTHER_CLASS`. `digits`: the training writers' pen digits, for the pairs."""
    drawn = (training_image(sketch) for sketch in training_non_digits(n, np.random.default_rng(seed), digits))
    images = [image for image in drawn if image is not None]
    return stacked(images, [OTHER_CLASS] * len(images))
