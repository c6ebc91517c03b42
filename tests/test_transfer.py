"""The transfer protocol: other devices' paths of the same digit, and how a reader is compared with its picture
model alone on them."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_demo.base.mnist import OTHER_CLASS
from mnist_demo.base.status import Status
from mnist_demo.handwriting.shifts import Shift, shifted
from mnist_demo.reading.images import read_image
from mnist_demo.reading.reader import Prediction
from mnist_demo.training.transfer import (
    OTHER_SYMBOLS,
    SLASH,
    SYMBOL,
    Comparison,
    Tally,
    hand_drawn,
    held_out_digits,
    held_out_non_digits,
    pad_snapshots,
    png_upload,
    pooled,
    shifted_drawings,
    tally,
)

FOUR = [[(100.0, 60.0), (60.0, 250.0), (300.0, 250.0)], [(220.0, 120.0), (220.0, 260.0), (220.0, 420.0)]]
LINE = [[(float(x), 100.0 + x) for x in range(0, 200, 10)]]


def _points(strokes) -> np.ndarray:
    return np.concatenate([np.asarray(s) for s in strokes])


def test_as_drawn_changes_nothing_and_the_order_and_direction_shifts_keep_every_point():
    rng = np.random.default_rng(0)
    assert shifted(FOUR, Shift.AS_DRAWN, rng) == [list(s) for s in FOUR]
    reversed_ = shifted(FOUR, Shift.REVERSED, rng)
    assert reversed_ == [list(s)[::-1] for s in FOUR]
    reordered = shifted(FOUR, Shift.REORDERED, rng)
    assert reordered == [list(s) for s in FOUR[::-1]]  # never the order drawn
    assert shifted(LINE, Shift.REORDERED, rng) == [list(s) for s in LINE]  # one stroke has no other order
    joined = shifted(FOUR, Shift.JOINED, rng)
    assert len(joined) == 1 and np.array_equal(_points(joined), _points(FOUR))


def test_sampling_shifts_keep_the_ends_and_the_path():
    rng = np.random.default_rng(0)
    sparse, dense = shifted(LINE, Shift.SPARSE, rng)[0], shifted(LINE, Shift.DENSE, rng)[0]
    assert sparse[0] == LINE[0][0] and sparse[-1] == LINE[0][-1] and len(sparse) == 6
    assert dense[0] == LINE[0][0] and dense[-1] == LINE[0][-1] and len(dense) == 4 * (len(LINE[0]) - 1) + 1
    assert all(abs(y - (100.0 + x)) < 1e-9 for x, y in dense)  # on the same line


def test_a_split_lifts_the_pen_once_in_a_strokes_middle_and_a_wobble_stays_near_the_path():
    rng = np.random.default_rng(1)
    halves = shifted(LINE, Shift.SPLIT, rng)
    assert len(halves) == 2 and halves[0][-1] == halves[1][0] and halves[0][0] == LINE[0][0]
    assert len(LINE[0]) // 3 <= len(halves[0]) - 1 <= 2 * len(LINE[0]) // 3
    assert len(shifted([[(0.0, 0.0), (300.0, 0.0)]], Shift.SPLIT, rng)) == 2  # a short stroke is split too
    wobbled = _points(shifted(LINE, Shift.WOBBLE, rng))
    assert not np.allclose(wobbled[:, 1], wobbled[:, 0] + 100)  # moved...
    assert np.abs(wobbled[:, 1] - wobbled[:, 0] - 100).max() < 40  # ...but a hand's width, not a new shape


def _prediction(status: Status, digit: int | None) -> Prediction:
    return Prediction(status, [] if digit is None else [(digit, 0.9)], np.zeros((28, 28), np.uint8), "")


def test_a_tally_counts_first_guesses_right_answers_doubts_and_confident_mistakes():
    readings = [_prediction(Status.OK, 7), _prediction(Status.OK, 1), _prediction(Status.UNSURE, 7),
                _prediction(Status.EMPTY, None)]
    t = tally(readings, [7, 7, 7, 7])
    assert (t.n, t.top_right, t.right, t.not_sure, t.wrong_sure) == (4, 2, 1, 2, 1)
    other = tally(readings, [OTHER_CLASS] * 4)  # for drawings that are no digit, any sure digit is a mistake
    assert (other.top_right, other.right, other.not_sure, other.wrong_sure) == (0, 0, 2, 2)


def test_a_reader_worse_than_its_picture_model_alone_is_named_for_what_it_does_worse():
    better = Comparison("s", "digits", Tally(100, 99, 98, 1, 1), Tally(100, 98, 95, 4, 1))
    assert better.worse_than_the_picture() == []
    worse = Comparison("s", "digits", Tally(100, 97, 96, 1, 3), Tally(100, 98, 95, 4, 1))
    assert worse.worse_than_the_picture() == ["first guess", "wrong and sure"]
    symbols = Comparison("s", "non-digits", Tally(100, 0, 0, 70, 30), Tally(100, 0, 0, 75, 25))
    assert symbols.worse_than_the_picture() == ["not sure"]


def test_a_digital_drawing_is_a_small_png_the_upload_path_reads():
    digit = held_out_digits()[0]
    image = read_image(png_upload(digit, np.random.default_rng(0)))
    assert image.shape[:2] == (28, 28) and image.min() < 64 and np.median(image) > 200  # dark ink on white


def test_a_pad_snapshot_is_the_pad_s_drawing_saved_as_a_small_jpeg_the_upload_path_reads():
    images = pad_snapshots(shifted_drawings(held_out_digits()[:2], Shift.AS_DRAWN))
    assert len(images) == 2 and images[0].shape[:2] == (64, 64)
    assert images[0].min() < 64 and np.median(images[0]) > 200 and not np.array_equal(images[0], images[1])


def test_the_hand_drawn_symbols_are_kept_with_their_names():
    from benchmarks.transfer import SYMBOLS

    drawn = hand_drawn(SYMBOLS)
    assert {"+", "x", "-", "?", "^", "e"} <= set(drawn) and all(len(v) >= 3 for v in drawn.values())
    assert all(not sketch.empty and sketch.size == 800 for v in drawn.values() for sketch in v)


def test_each_held_out_symbol_has_a_row_and_the_slash_a_row_of_its_own():
    """The issue's target for real symbols leaves '/' out (it is a fair 1); a row for each of the others lets a
    reader worse than its picture on one symbol show."""
    from mnist_demo.handwriting.glyphs import HELD_OUT_GLYPHS

    groups = held_out_non_digits(per_family=60, symbols=330)
    rows = {k for k in groups if k.startswith(SYMBOL)}
    assert "/" not in OTHER_SYMBOLS and OTHER_SYMBOLS.startswith("symbols ?")
    assert rows == {SYMBOL + name for name in HELD_OUT_GLYPHS if name != "/"} and groups[SLASH]
    assert sum(len(groups[k]) for k in rows) + len(groups[SLASH]) == 330
    assert all(len(groups[k]) >= 10 for k in rows)  # about 30 of each
    assert all(len(v) == 60 for k, v in groups.items() if k != SLASH and k not in rows) and len(groups) == 11 + 3


@pytest.mark.slow
def test_the_protocol_reads_hundreds_of_each_held_out_symbol():
    """A row of about 50 drawings has a sampling error of about 6 points, more than the changes it judges."""
    groups = held_out_non_digits()
    rows = [k for k in groups if k.startswith(SYMBOL)] + [SLASH]
    assert all(len(groups[k]) >= 400 for k in rows), {k: len(groups[k]) for k in rows}


def test_pooled_rows_count_every_drawing_of_their_parts():
    a = Comparison("a", "non-digits", Tally(n=10, not_sure=9, wrong_sure=1), Tally(n=10, not_sure=10))
    b = Comparison("b", "non-digits", Tally(n=5, not_sure=2, wrong_sure=3), Tally(n=5, not_sure=1, wrong_sure=4))
    both = pooled("a and b", [a, b])
    assert (both.source, both.kind) == ("a and b", "non-digits")
    assert both.reader == Tally(n=15, not_sure=11, wrong_sure=4) and both.picture == Tally(n=15, not_sure=11,
                                                                                         wrong_sure=4)
    assert both.worse_than_the_picture() == [] and a.worse_than_the_picture() == ["not sure"]


def test_the_symbols_rows_of_the_sources_are_found_and_pooled_without_the_slash():
    from mnist_demo.handwriting.glyphs import HELD_OUT_GLYPHS
    from mnist_demo.training.transfer import non_digit_sources, pooled_symbols, symbol_rows

    rows = [Comparison(name, "non-digits", Tally(n=len(values), not_sure=1), Tally(n=len(values)))
            for name, (values, _) in non_digit_sources(held_out_symbols=330).items()]
    symbols = symbol_rows(rows)
    assert len(symbols) == len(HELD_OUT_GLYPHS) - 1 and not any(c.source.endswith(SLASH) for c in symbols)
    both = pooled_symbols(symbols)
    assert OTHER_SYMBOLS in both.source and both.reader.n == sum(c.reader.n for c in symbols)
    assert both.reader.not_sure == len(symbols)


def test_half_the_stroke_readers_training_drawings_come_as_other_devices_send_them(monkeypatch):
    from mnist_demo.handwriting import shifts
    from mnist_demo.handwriting.pen_digits import COLLECTIONS
    from mnist_demo.models.registry import get_spec
    from mnist_demo.training import stroke_data

    share = get_spec("strokenet").recipe.pen_shifts
    assert share == 0.5
    fold = lambda c: c.train_writers[:1]  # noqa: E731  one training writer of each collection
    drawings = sum(len(c.digits(fold(c))) * c.weight for c in COLLECTIONS.values()) + 10
    seen: list[Shift] = []
    real = shifts.shifted
    monkeypatch.setattr(shifts, "shifted", lambda s, shift, rng: seen.append(shift) or real(s, shift, rng))
    shifted_ = stroke_data.training_paths(0, 1, 10, fold, share)
    assert 0.35 * drawings < len(seen) < 0.65 * drawings and Shift.AS_DRAWN not in seen
    assert set(seen) == set(shifts.DEVICE_SHIFTS)  # every kind of shift, at random
    seen.clear()
    plain = stroke_data.training_paths(0, 1, 10, fold, 0.0)
    assert not seen and not np.array_equal(plain.images.numpy(), shifted_.images.numpy())


def test_a_picture_models_pen_digits_come_as_other_devices_send_them_as_often_as_its_recipe_says(monkeypatch):
    from mnist_demo.handwriting import shifts
    from mnist_demo.handwriting.pen_digits import COLLECTIONS, pen_training_images

    digits = COLLECTIONS["pendigits"].digits(COLLECTIONS["pendigits"].train_writers[:1])
    seen: list[Shift] = []
    real = shifts.shifted
    monkeypatch.setattr(shifts, "shifted", lambda s, shift, rng: seen.append(shift) or real(s, shift, rng))
    plain, labels = pen_training_images(digits, renders_per_digit=2, seed=3)
    assert not seen  # the recipe's default: pictures as the pen collections drew them
    shifted_, same_labels = pen_training_images(digits, renders_per_digit=2, seed=3, shifts=0.5)
    assert 0.35 * 2 * len(digits) < len(seen) < 0.65 * 2 * len(digits)
    assert {Shift.JOINED, Shift.WOBBLE} <= set(seen)  # those change the picture, not only the path
    assert np.array_equal(labels.numpy(), same_labels.numpy()) and not np.array_equal(plain.numpy(), shifted_.numpy())


def test_a_pair_answer_needs_at_least_the_confidence_a_picture_answer_needs():
    import torch

    from mnist_demo.training.calibration import fit_calibration

    torch.manual_seed(0)
    labels = torch.randint(0, 10, (500,))
    picture, strokes = torch.randn(500, 11), torch.randn(500, 11)
    picture[torch.arange(500), labels] += 6.0
    strokes[torch.arange(500), labels] += 6.0
    writers = torch.arange(500) % 5
    free = fit_calibration(picture, labels, writers, strokes)
    held = fit_calibration(picture, labels, writers, strokes, sure_from_at_least=0.93)
    assert free.sure_from < 0.93 and held.sure_from == 0.93
    assert (held.stroke_weight, held.temperature) == (free.stroke_weight, free.temperature)


@pytest.mark.slow
def test_on_every_shift_the_shipped_reader_is_never_worse_than_its_picture_model_alone():
    from mnist_demo.reading.weights import Weights
    from mnist_demo.training.transfer import compare, shifted_drawings

    reader = Weights.DEFAULT.load("cpu")
    assert reader.pair_calibration.sure_from >= reader.picture_calibration.sure_from
    digits = held_out_digits()[::9]
    for shift in Shift:
        c = compare(reader, shift.value, shifted_drawings(digits, shift), [d.label for d in digits])
        assert c.worse_than_the_picture() == [], (shift, c.reader, c.picture)
        assert c.reader.share("top_right") >= 0.99, (shift, c.reader)


def test_a_comparison_given_the_picture_models_tally_reads_only_with_the_reader(monkeypatch):
    from mnist_demo.reading.weights import Weights
    from mnist_demo.training import transfer

    reader = Weights.DEFAULT.load("cpu")
    digits = held_out_digits()[::150]
    drawings, labels = shifted_drawings(digits, Shift.AS_DRAWN), [d.label for d in digits]
    readers = []
    real = transfer.read_all
    monkeypatch.setattr(transfer, "read_all", lambda r, values: readers.append(r) or real(r, values))
    counted = transfer.compare(reader, "as drawn", drawings, labels)
    assert counted.picture.n == len(digits) and len(readers) == 2  # the reader, and its picture model alone
    readers.clear()
    given = Tally(n=len(digits))  # not what the picture reads: shows it is what the comparison keeps
    again = transfer.compare(reader, "as drawn", drawings, labels, given)
    assert readers == [reader]
    assert again.picture is given and again.reader == counted.reader


@pytest.mark.slow
def test_the_shipped_reader_is_never_worse_than_its_picture_model_on_the_hand_drawn_symbols():
    from benchmarks.transfer import SYMBOLS
    from mnist_demo.reading.weights import Weights
    from mnist_demo.training.transfer import compare, non_digit_sources

    reader = Weights.DEFAULT.load("cpu")
    for name, (values, labels) in non_digit_sources(SYMBOLS).items():
        if name.startswith("drawn by hand"):
            assert compare(reader, name, values, labels).worse_than_the_picture() == [], name


@pytest.mark.slow
def test_a_collection_left_out_is_read_by_each_of_its_stroke_readers_every_drawing_counted_once_for_each():
    from benchmarks.transfer import left_out_rows
    from mnist_demo.handwriting.pen_digits import COLLECTIONS
    from mnist_demo.reading.weights import Weights

    reader = Weights.DEFAULT.load("cpu")
    once = left_out_rows(reader, "pendigits", {1: reader.strokes})
    twice = left_out_rows(reader, "pendigits", {1: reader.strokes, 2: reader.strokes})
    uji = COLLECTIONS["uji"]
    assert [r.reader.n for r in once] == [len(uji.digits(uji.held_out_writers))] * 3  # as drawn, reversed, reordered
    for one, two in zip(once, twice):
        assert "uji held out" in two.source and "2 stroke readers (seeds 1, 2" in two.source
        assert all(getattr(two.reader, n) == 2 * getattr(one.reader, n) for n in ("n", "right", "not_sure", "top_right"))
        assert two.picture.n == 2 * one.picture.n and two.picture.right == 2 * one.picture.right
