"""Pen digits load from either collection, and are placed on the pad the way visitors draw."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mnist_demo.base.status import Status
from mnist_demo.handwriting import pen_digits
from mnist_demo.handwriting.pen_digits import (
    HELD_OUT_WRITERS,
    TRAIN_WRITERS,
    PadPlacement,
    PenDigit,
    centred,
    load_pen_digits,
    pen_training_images,
    random_placement,
)
from mnist_demo.reading.preprocess import preprocess, preprocess_ink
from mnist_demo.reading.sketch import BRUSH_RADIUS, PAD_BRUSH_RANGE, parse_sketch

LINE_AND_DOT = [[(0.0, 100.0), (100.0, 100.0)], [(50.0, 0.0)]]  # y down: the dot is above the line


@pytest.fixture(scope="module")
def digits() -> list[PenDigit]:
    if not pen_digits.default_path().is_file():
        pytest.skip(f"pen digits not at {pen_digits.default_path()}")
    return load_pen_digits()


def ink_box(ink: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    return int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])


# ---------------------------------------------------------------- the data


def test_the_shared_file_holds_7494_digits_of_30_writers(digits):
    assert len(digits) == 7494
    assert {d.label for d in digits} == set(range(10))
    assert {d.writer for d in digits} == set(range(1, 31))
    assert all(len(d.strokes) >= 1 and all(len(s) >= 1 for s in d.strokes) for d in digits[:200])
    assert not set(TRAIN_WRITERS) & set(HELD_OUT_WRITERS)


def test_pendigits_y_points_up_in_the_file_and_down_once_loaded(tmp_path):
    path = tmp_path / "mine.jsonl"
    path.write_text(json.dumps({"label": "3", "writer": 7, "sample_no": 1, "segment": "0",
                                "strokes": [[[1, 2], [3, 4]]]}) + "\n\n")
    assert load_pen_digits(path) == [PenDigit(3, 7, (((1.0, -2.0), (3.0, -4.0)),), 1)]


def test_uji_digits_keep_their_named_writers_and_y_down(tmp_path):
    path = tmp_path / "uji.jsonl"
    path.write_text(json.dumps({"label": "0", "writer": "W05", "session": 2, "strokes": [[[10, 20], [30, 40]], []]}))
    assert load_pen_digits(path) == [PenDigit(0, "W05", (((10.0, 20.0), (30.0, 40.0)),), 2)]


def test_the_path_comes_from_the_environment_when_set(tmp_path, monkeypatch):
    path = tmp_path / "mine.jsonl"
    path.write_text(json.dumps({"label": "5", "writer": 2, "strokes": [[[0, 0], [1, 1]]]}))
    monkeypatch.setenv(pen_digits.PATH_ENV, str(path))
    assert pen_digits.default_path() == path
    assert [d.label for d in load_pen_digits()] == [5]


# ---------------------------------------------------------------- on the pad


def test_a_placement_sets_the_paths_height_and_centre_and_the_pen():
    sketch = PadPlacement(height=300, center=(250.0, 500.0), radius=20).sketch(LINE_AND_DOT, version=4)
    assert sketch.size == 800 and sketch.version == 4 and {s.radius for s in sketch.strokes} == {20}
    top, bottom, left, right = ink_box(sketch.ink())
    # The pen path is 300 tall (and 300 wide here); the ink reaches the pen's radius beyond it.
    assert abs((bottom - top + 1) - 340) <= 2 and abs((right - left + 1) - 340) <= 2
    assert abs((top + bottom) / 2 - 500) <= 1.5 and abs((left + right) / 2 - 250) <= 1.5
    ink = sketch.ink()
    assert ink[: (top + bottom) // 2].any(1).sum() < 45  # only the dot (40 px across) is in the upper half


def test_the_sketch_survives_the_pads_json():
    sketch = centred().sketch(LINE_AND_DOT)
    assert np.array_equal(parse_sketch(sketch.to_json()).ink(), sketch.ink())


def test_random_placements_cover_what_visitors_do(digits):
    rng = np.random.default_rng(0)
    sample = [digits[i] for i in rng.choice(len(digits), 300, replace=False)]
    placements = [random_placement(rng, d.strokes) for d in sample]
    radii = np.array([p.radius for p in placements])
    heights = np.array([p.height for p in placements]) / 800
    lo, hi = PAD_BRUSH_RANGE
    assert radii.min() >= lo and radii.max() <= hi
    assert radii.min() <= lo + 2 and radii.max() >= hi - 4 and 0.55 < (radii == BRUSH_RADIUS).mean() < 0.8
    assert heights.min() < 0.3 and heights.max() > 0.75
    centres = np.array([p.center for p in placements])
    assert centres.min() < 250 and centres.max() > 550  # anywhere, not just the middle
    for digit, p in list(zip(sample, placements))[:40]:
        top, bottom, left, right = ink_box(p.sketch(digit.strokes).ink())
        assert top > 0 and left > 0 and bottom < 799 and right < 799  # fully inside the canvas


def test_random_placements_are_reproducible_from_a_seed():
    assert random_placement(np.random.default_rng(5)) == random_placement(np.random.default_rng(5))
    assert random_placement(5) != random_placement(6)


# ---------------------------------------------------------------- training images


def test_a_small_render_preprocesses_like_the_full_canvas(digits):
    rng = np.random.default_rng(1)
    diffs = []
    for digit in digits[:30]:
        sketch = random_placement(rng, digit.strokes).sketch(digit.strokes)
        full = preprocess(sketch)
        small = preprocess_ink(sketch.ink(detail=200), whole_canvas=False)
        assert full.status is small.status is Status.OK
        diffs.append(np.abs(full.image.astype(np.int16) - small.image).mean())
    assert np.mean(diffs) < 6 and max(diffs) < 20  # gray levels of 255


def test_pen_training_images_are_mnist_like_and_labelled(digits):
    chosen = [d for d in digits if d.writer in TRAIN_WRITERS][:60]
    images, labels = pen_training_images(chosen, renders_per_digit=2, seed=3)
    assert images.dtype == torch.uint8 and images.shape[1:] == (28, 28)
    assert labels.dtype == torch.int64 and len(labels) == len(images)
    assert len(images) >= 0.95 * 120
    # In order, each digit's label once a render; a render preprocessing can't read is left out.
    expected = iter(d.label for d in chosen for _ in range(2))
    assert all(any(label == e for e in expected) for label in labels.tolist())
    mean_ink = images.float().mean(dim=(1, 2)) / 255
    assert (mean_ink > 0.03).all() and (mean_ink < 0.3).all()
    again, _ = pen_training_images(chosen, renders_per_digit=2, seed=3)
    assert torch.equal(images, again)
    other, _ = pen_training_images(chosen, renders_per_digit=2, seed=4)
    assert not torch.equal(images, other)


# ---------------------------------------------------------------- the shipped copies


def test_both_collections_ship_with_the_package_with_their_licence_and_checksums():
    import hashlib

    readme = (pen_digits.BUNDLED / "README.md").read_text()
    assert readme.count("CC BY 4.0") >= 2 and "Alpaydin" in readme and "Llorens" in readme
    for collection in pen_digits.COLLECTIONS.values():
        path = pen_digits.BUNDLED / collection.file
        assert hashlib.sha256(path.read_bytes()).hexdigest() in readme
    assert len(pen_digits.UJI.digits()) == 800 and {d.writer for d in pen_digits.UJI.digits()} == {
        f"W{i:02d}" for i in range(1, 41)}


def test_each_collection_splits_its_writers_three_ways_that_never_meet():
    for collection in pen_digits.COLLECTIONS.values():
        train, calibration, held = (set(collection.train_writers), set(collection.calibration_writers),
                                    set(collection.held_out_writers))
        assert train and calibration and held
        assert not train & calibration and not train & held and not calibration & held
        assert train | calibration | held == {d.writer for d in collection.digits()}


def test_the_shipped_pendigits_are_the_shared_file_when_it_is_there():
    shared = Path(__file__).resolve().parents[2] / "shared" / "drawn-digits" / "pendigits_train.jsonl"
    if not shared.is_file():
        pytest.skip("no ../shared/drawn-digits here")
    assert load_pen_digits(shared) == load_pen_digits(pen_digits.BUNDLED / pen_digits.PENDIGITS.file)


def test_missing_pen_digits_are_a_clear_error_that_says_where_they_belong(tmp_path):
    with pytest.raises(pen_digits.PenDigitsUnavailable, match="pen digits not found at .*missing.jsonl"):
        load_pen_digits(tmp_path / "missing.jsonl")


def test_a_placement_records_the_hand_that_drew(digits):
    rng = np.random.default_rng(8)
    hands = {random_placement(rng, d.strokes).hand.value for d in digits[:60]}
    assert hands == {"stylus", "mouse", "finger"}
