"""The Draw tab pad's value: strokes as JSON, checked and drawn again the way the page drew them."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from mnist_demo.base.status import Status
from mnist_demo.handwriting.pen_digits import HELD_OUT_WRITERS, centred, load_pen_digits
from mnist_demo.reading.preprocess import preprocess
from mnist_demo.reading.sketch import BRUSH_RADIUS, MAX_POINTS, MAX_STROKES, Sketch, SketchError, Stroke, parse_sketch
from mnist_demo.reading.sketchpad import sketchpad_value


def some_digits(n: int = 20):
    held = [d for d in load_pen_digits() if d.writer in HELD_OUT_WRITERS]
    return held[:: max(1, len(held) // n)][:n]


def test_a_drawing_survives_the_trip_through_json():
    sketch = Sketch((Stroke(((10.5, 20.0), (30.0, 40.25)), 12.0), Stroke(((100.0, 100.0),), BRUSH_RADIUS)),
                    800, 7)
    back = parse_sketch(sketch.to_json())
    assert back.version == 7 and back.size == 800
    assert [s.radius for s in back.strokes] == [12.0, BRUSH_RADIUS]
    assert back.strokes[0].points == ((10.5, 20.0), (30.0, 40.2))  # to_json keeps 0.1 px


def test_strokes_may_be_bare_point_lists_with_the_default_brush():
    sketch = parse_sketch({"strokes": [[[1, 2], [3, 4]]]})
    assert sketch.strokes == (Stroke(((1.0, 2.0), (3.0, 4.0)), BRUSH_RADIUS),)
    assert sketch.size == 800 and sketch.version == 0


@pytest.mark.parametrize("value", [None, "", "   ", '{"strokes": []}', {"strokes": [[]]}])
def test_nothing_drawn_is_an_empty_sketch_that_reads_as_nothing(value):
    sketch = parse_sketch(value)
    assert sketch.empty
    assert preprocess(sketch).status == "empty"


@pytest.mark.parametrize("value, says", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "a drawing is an object"),
    ('{"strokes": 5}', "strokes must be a list"),
    ('{"strokes": [[[1, "x"]]]}', "must be a number"),
    ('{"strokes": [[[1, 2, 3]]]}', "must be [x, y]"),
    ('{"strokes": [[[1, NaN]]]}', "finite"),
    ('{"strokes": [[[1, Infinity]]]}', "finite"),
    ('{"strokes": [[[true, 2]]]}', "must be a number"),
    ('{"strokes": [{"r": 500, "points": [[1, 2]]}]}', "brush radius"),
    ('{"size": 5, "strokes": []}', "size must be"),
    ('{"size": 100000, "strokes": []}', "size must be"),
    ('{"version": "seven", "strokes": []}', "version must be"),
])
def test_what_the_pad_could_not_have_sent_is_refused_with_a_reason(value, says):
    with pytest.raises(SketchError, match=re.escape(says)):
        parse_sketch(value)


def test_drawings_beyond_the_limits_are_refused_before_any_drawing_work():
    too_many_strokes = json.dumps({"strokes": [[[1, 1]]] * (MAX_STROKES + 1)})
    with pytest.raises(SketchError, match="too many strokes"):
        parse_sketch(too_many_strokes)
    too_many_points = json.dumps({"strokes": [[[1, 1]] * (MAX_POINTS // 2 + 1)] * 2})
    with pytest.raises(SketchError, match="too many points"):
        parse_sketch(too_many_points)
    with pytest.raises(SketchError, match="too large"):
        parse_sketch("x" * 2_000_000)


def test_ink_is_the_round_brush_along_the_strokes_and_stops_at_the_canvas_edge():
    ink = Sketch((Stroke(((100.0, 100.0), (300.0, 100.0)), 10.0), Stroke(((-5.0, 400.0),), 10.0)), 800).ink()
    assert ink.shape == (800, 800) and ink.dtype == np.uint8
    assert ink[100, 200] == 255 and ink[100, 305] == 255  # along the line and in its round cap
    assert ink[115, 200] == 0 and ink[100, 315] == 0  # not beyond the brush
    assert ink[400, 0] == 255 and ink[400, 10] == 0  # a dot past the left edge is cut there


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_a_gradio_sketchpad_value_of_the_same_drawing_reads_as_the_pads_strokes(theme):
    # Other apps hand over gr.Sketchpad layers; the adapter must give the model what the pad path does.
    for digit in some_digits(10):
        sketch = centred().sketch(digit.strokes)
        by_pad = preprocess(sketch)
        by_sketchpad = preprocess(sketchpad_value(sketch, theme))
        by_composite = preprocess({**sketchpad_value(sketch, theme), "layers": []})
        assert by_pad.status is by_sketchpad.status is by_composite.status is Status.OK
        assert np.array_equal(by_pad.image, by_sketchpad.image), (digit.label, digit.writer)
        assert np.array_equal(by_pad.image, by_composite.image), (digit.label, digit.writer)
