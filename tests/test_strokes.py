"""Pen digits load, split by writer, and render the way the sketchpad hands drawings over."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mnist_demo import pen_digits as strokes
from mnist_demo.reading.preprocess import preprocess, preprocess_ink
from mnist_demo.pen_digits import (HELD_OUT_WRITERS, TRAIN_WRITERS, PenDigit, RenderSettings, load_pen_digits,
                                pen_training_images, random_settings, render_drawing, render_ink, split_by_writer)

LINE_AND_DOT = [[(0.0, 0.0), (100.0, 0.0)], [(50.0, 100.0)]]  # tablet units: the dot is above the line


@pytest.fixture(scope="module")
def digits() -> list[PenDigit]:
    if not strokes.default_path().is_file():
        pytest.skip(f"pen digits not at {strokes.default_path()}")
    return load_pen_digits()


def ink_box(drawing: dict) -> tuple[int, int, int, int]:
    alpha = drawing["layers"][0][..., 3]
    rows, cols = np.flatnonzero(alpha.any(1)), np.flatnonzero(alpha.any(0))
    return int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])


# ---------------------------------------------------------------- the data


def test_the_shared_file_holds_7494_digits_of_30_writers(digits):
    assert len(digits) == 7494
    assert {d.label for d in digits} == set(range(10))
    assert {d.writer for d in digits} == set(range(1, 31))
    assert all(len(d.strokes) >= 1 and all(len(s) >= 1 for s in d.strokes) for d in digits[:200])


def test_held_out_writers_are_never_in_the_training_split(digits):
    train, held_out = split_by_writer(digits)
    assert {d.writer for d in train} <= set(TRAIN_WRITERS)
    assert {d.writer for d in held_out} == set(HELD_OUT_WRITERS)
    assert not set(TRAIN_WRITERS) & set(HELD_OUT_WRITERS)
    assert len(train) + len(held_out) == len(digits)


def test_the_path_comes_from_the_environment_when_set(tmp_path, monkeypatch):
    path = tmp_path / "mine.jsonl"
    path.write_text(json.dumps({"label": "3", "writer": 7, "sample_no": 1, "segment": "0",
                                "strokes": [[[1, 2], [3, 4]]]}) + "\n\n")
    monkeypatch.setenv(strokes.PATH_ENV, str(path))
    assert strokes.default_path() == path
    assert load_pen_digits() == [PenDigit(3, 7, (((1.0, 2.0), (3.0, 4.0)),), 1)]


# ---------------------------------------------------------------- rendering


@pytest.mark.parametrize("theme, background, ink", [("light", (255, 255, 255, 255), (0, 0, 0, 255)),
                                                    ("dark", (51, 51, 51, 255), (255, 255, 255, 255))])
def test_a_rendering_is_what_the_sketchpad_sends(theme, background, ink):
    value = render_drawing(LINE_AND_DOT, theme=theme)
    assert set(value) == {"background", "layers", "composite"} and len(value["layers"]) == 1
    layer = value["layers"][0]
    for arr in (value["background"], layer, value["composite"]):
        assert arr.shape == (800, 800, 4) and arr.dtype == np.uint8
    assert (value["background"] == background).all()
    drawn = layer[..., 3] > 0
    assert 0 < drawn.mean() < 0.2
    assert (layer[~drawn] == 0).all()  # transparent where nothing is drawn
    assert (layer[drawn] == ink).all()
    assert (value["composite"][drawn] == ink).all() and (value["composite"][~drawn] == background).all()


def test_y_points_up_in_the_strokes_and_down_on_the_canvas():
    alpha = render_drawing(LINE_AND_DOT, brush_radius=10)["layers"][0][..., 3]
    rows = np.flatnonzero(alpha.any(1))
    top_half = alpha[: (rows[0] + rows[-1]) // 2]
    # The dot (y = 100, up) is the only ink in the upper half: a round blob about 20 px across.
    assert 15 <= np.flatnonzero(top_half.any(0)).size <= 22


def test_height_centre_and_brush_are_honoured():
    value = render_drawing(LINE_AND_DOT, brush_radius=20, height=300, center=(250.0, 500.0))
    top, bottom, left, right = ink_box(value)
    # The pen path is 300 tall (and 300 wide here); the ink reaches the brush radius beyond it.
    assert abs((bottom - top + 1) - 340) <= 2 and abs((right - left + 1) - 340) <= 2
    assert abs((top + bottom) / 2 - 500) <= 1.5 and abs((left + right) / 2 - 250) <= 1.5
    dot = render_drawing([[(0.0, 0.0)]], brush_radius=25)["layers"][0][..., 3] > 0
    assert abs(dot.sum() - np.pi * 25 ** 2) < 0.05 * np.pi * 25 ** 2  # a 50 px wide round brush


def test_strokes_are_connected_lines_not_just_their_points():
    value = render_drawing([[(0.0, 0.0), (0.0, 500.0)]], brush_radius=5, height=600)
    alpha = value["layers"][0][..., 3]
    column = alpha[:, 400]
    ink_rows = np.flatnonzero(column)
    assert ink_rows.size == ink_rows[-1] - ink_rows[0] + 1  # no gap between the two points


def test_random_settings_cover_what_visitors_do(digits):
    rng = np.random.default_rng(0)
    sample = [digits[i] for i in rng.choice(len(digits), 300, replace=False)]
    settings = [random_settings(rng, d.strokes) for d in sample]
    radii = np.array([s.brush_radius for s in settings])
    heights = np.array([s.height for s in settings])
    assert radii.min() <= 8 and radii.max() >= 36 and (radii == 25).mean() > 0.2
    assert heights.min() < 200 and heights.max() > 600
    assert {s.theme for s in settings} == {"light", "dark"}
    centres = np.array([s.center for s in settings])
    assert centres.min() < 250 and centres.max() > 550  # anywhere, not just the middle
    for digit, s in list(zip(sample, settings))[:40]:
        top, bottom, left, right = ink_box(s.render(digit.strokes))
        assert top > 0 and left > 0 and bottom < 799 and right < 799  # fully inside the canvas


def test_random_settings_are_reproducible_from_a_seed():
    assert random_settings(np.random.default_rng(5)) == random_settings(np.random.default_rng(5))
    assert isinstance(random_settings(3), RenderSettings)


# ---------------------------------------------------------------- training images


def test_a_small_render_preprocesses_like_the_full_canvas(digits):
    rng = np.random.default_rng(1)
    diffs = []
    for digit in digits[:30]:
        settings = random_settings(rng, digit.strokes)
        full = preprocess(settings.render(digit.strokes))
        small = preprocess_ink(render_ink(digit.strokes, settings), whole_canvas=False)
        assert full.status == small.status == "ok"
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
