"""How drawings vary (a hand's wobble, writers' styles) and drawings that are not one digit."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_demo.base.mnist import OTHER_CLASS
from mnist_demo.handwriting.glyphs import HELD_OUT_GLYPHS, TRAINING_GLYPHS
from mnist_demo.handwriting.non_digits import (
    HELD_OUT_FAMILIES,
    TRAINING_FAMILIES,
    Family,
    make_non_digit,
    non_digit_set,
    non_digit_training_images,
    off_pad,
)
from mnist_demo.handwriting.pen_digits import PENDIGITS
from mnist_demo.handwriting.variation import vary_strokes, warp_strokes
from mnist_demo.handwriting.wobble import Hand, Wobble, hand_wobble, resample
from mnist_demo.reading.reader import OFF_PAD_SHARE
from mnist_demo.reading.sketch import parse_sketch

LINE = [[(0.0, 0.0), (300.0, 0.0)]]


@pytest.fixture(scope="module")
def training_digits():
    return PENDIGITS.digits(PENDIGITS.train_writers)[:200]


def test_the_pad_samples_a_stroke_every_few_pixels():
    pts = resample(np.array([[0.0, 0.0], [100.0, 0.0]]), 10.0)
    assert len(pts) == 11 and np.allclose(np.diff(pts[:, 0]), 10.0) and tuple(pts[-1]) == (100.0, 0.0)


def test_a_stylus_draws_the_path_a_mouse_and_a_finger_wobble_off_it():
    rng = np.random.default_rng(0)
    stylus = hand_wobble(Hand.STYLUS, rng).apply(LINE)[0]
    assert all(y == 0.0 for _, y in stylus)
    for hand, most in ((Hand.MOUSE, 4.0), (Hand.FINGER, 7.0)):
        drifts = [max(abs(y) for _, y in hand_wobble(hand, rng).apply(LINE)[0]) for _ in range(20)]
        # Off the line, but by a few pixels: the amplitude plus a few jitters at most.
        assert max(drifts) > 0.5 and max(drifts) < most * np.sqrt(2) * 1.5 + 8


def test_the_same_wobble_seed_draws_the_same_line():
    w = Wobble(3.0, 60.0, 1.0, 5.0, seed=42)
    assert w.apply(LINE) == w.apply(LINE)
    assert Wobble(3.0, 60.0, 1.0, 5.0, seed=43).apply(LINE) != w.apply(LINE)


def test_writer_variation_centres_a_digit_on_the_origin_at_about_its_size(training_digits):
    rng = np.random.default_rng(1)
    for digit in training_digits[:50]:
        varied = np.concatenate([np.asarray(s) for s in vary_strokes(digit.strokes, digit.label, rng)])
        original = np.concatenate([np.asarray(s) for s in digit.strokes])
        height = np.ptp(original[:, 1])
        box_centre = (varied.min(0) + varied.max(0)) / 2
        assert np.abs(box_centre).max() < 0.25 * height  # the box's centre moved by the slant and shifts only
        assert 0.5 * height < np.ptp(varied[:, 1]) < 1.8 * height


def test_a_warp_bends_a_digit_a_little_and_smoothly(training_digits):
    rng = np.random.default_rng(4)
    for digit in training_digits[:40]:
        original = [np.asarray(s, np.float64) for s in digit.strokes]
        warped = [np.asarray(s) for s in warp_strokes(digit.strokes, 0.07, rng)]
        assert [len(s) for s in warped] == [len(s) for s in original]  # every point kept, in order
        before, after = np.concatenate(original), np.concatenate(warped)
        size = np.ptp(before, 0).max()
        moved = np.linalg.norm(after - before, axis=1)
        assert moved.max() < 0.5 * size  # bent, not scrambled
        # Smooth: neighbouring points stay neighbours (what touched still touches).
        near = np.linalg.norm(before[:, None] - before[None], axis=2) < 0.05 * size
        apart = np.linalg.norm(after[:, None] - after[None], axis=2)
        assert apart[near].max() < 0.15 * size
    bent = [warp_strokes(d.strokes, 0.07, rng) for d in training_digits[:40]]
    assert any(not np.allclose(np.concatenate(b), np.concatenate([np.asarray(s, float) for s in d.strokes]))
               for b, d in zip(bent, training_digits))
    assert warp_strokes(training_digits[0].strokes, 0.0, rng) == [[tuple(map(float, p)) for p in s]
                                                                 for s in training_digits[0].strokes]


def test_some_ones_get_a_flag_and_some_sevens_a_bar(training_digits):
    rng = np.random.default_rng(2)
    one = next(d for d in training_digits if d.label == 1 and len(d.strokes) == 1)
    seven = next(d for d in training_digits if d.label == 7 and len(d.strokes) == 1)
    ones = [vary_strokes(one.strokes, 1, rng) for _ in range(200)]
    sevens = [vary_strokes(seven.strokes, 7, rng) for _ in range(200)]
    flagged = sum(len(v[0]) > len(one.strokes[0]) for v in ones)  # the flag joins the stem's stroke
    barred = sum(len(v) == 2 for v in sevens)
    assert 30 < flagged < 90 and 20 < barred < 70


def test_some_zeros_get_a_slash_across_the_oval(training_digits):
    rng = np.random.default_rng(3)
    zero = next(d for d in training_digits if d.label == 0 and len(d.strokes) == 1)
    zeros = [vary_strokes(zero.strokes, 0, rng) for _ in range(300)]
    slashed = [v for v in zeros if len(v) == 2]
    assert 20 < len(slashed) < 80  # P_SLASH_ON_0 of them
    for oval, slash in slashed:
        oval, slash = np.asarray(oval), np.asarray(slash)
        assert slash[-1][1] > slash[0][1]  # drawn downwards (y points down), to the left before the slant
        centre = (oval.min(0) + oval.max(0)) / 2
        # A straight stroke that passes near the oval's centre: it crosses the 0, not beside it.
        direction = (slash[-1] - slash[0]) / np.linalg.norm(slash[-1] - slash[0])
        offset = (centre - slash[0]) - direction * np.dot(centre - slash[0], direction)
        assert np.linalg.norm(offset) < 0.35 * np.ptp(oval, axis=0).max()


def test_held_out_symbols_are_never_trained_on():
    assert not set(TRAINING_GLYPHS) & set(HELD_OUT_GLYPHS)
    assert set("?x-/+e^") <= set(HELD_OUT_GLYPHS)
    assert not set(TRAINING_FAMILIES) & set(HELD_OUT_FAMILIES)


def test_no_training_glyph_is_a_held_out_symbol_in_another_case_or_a_shape_drawn_by_hand_for_the_protocol():
    from benchmarks.transfer import SYMBOLS
    from mnist_demo.training.transfer import hand_drawn

    trained = set(TRAINING_GLYPHS)
    # The capital E was taught before the small e was held out: three bars, no stroke of a drawn e.
    assert trained & {name.upper() for name in HELD_OUT_GLYPHS} == {"E"}
    assert not trained & set(hand_drawn(SYMBOLS))  # h k m w r and the rest stay judged, never taught


def test_every_family_draws_something_on_the_pad(training_digits):
    rng = np.random.default_rng(3)
    for family in Family:
        drawing = make_non_digit(family, rng, training_digits)
        assert drawing.family is family and not drawing.sketch.empty
        assert parse_sketch(drawing.sketch.to_json()).strokes  # what /predict would receive


def test_a_digit_off_the_pad_runs_past_its_edge(training_digits):
    rng = np.random.default_rng(4)
    shares = [off_pad(d.strokes, rng).outside_share() for d in training_digits[:30]]
    assert min(shares) > OFF_PAD_SHARE


def test_non_digit_sets_are_the_same_for_the_same_seed(training_digits):
    a = non_digit_set(HELD_OUT_FAMILIES, 3, seed=5, digits=training_digits)
    b = non_digit_set(HELD_OUT_FAMILIES, 3, seed=5, digits=training_digits)
    assert len(a) == 12 and [x.sketch for x in a] == [x.sketch for x in b]
    assert [x.family for x in a] == [f for f in HELD_OUT_FAMILIES for _ in range(3)]


def test_training_non_digits_are_mnist_like_images_of_the_other_class(training_digits):
    images, labels = non_digit_training_images(40, seed=6, digits=training_digits)
    assert len(images) >= 36 and images.shape[1:] == (28, 28) and (labels == OTHER_CLASS).all()
    assert images.float().mean() > 10  # ink, not blank images
