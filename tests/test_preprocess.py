"""Preprocessing turns any drawing into an MNIST-like 28x28 image, or says why it can't."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from mnist_demo.base.mnist import MEAN, STD
from mnist_demo.base.status import Problem
from mnist_demo.reading.images import NON_FINITE
from mnist_demo.reading.preprocess import ink_map, naive_resize, preprocess, preprocess_ink
from tests.support.sketchpads import sketchpad_drawing as render_drawing

# A "7" and a "4" in tablet units (y down), drawn like the pen digits: sparse points, two strokes for the 4.
SEVEN = [[(60, 0), (180, -5), (300, -10), (330, 0), (280, 100), (230, 200), (190, 300), (170, 400)]]
FOUR = [[(220, 0), (150, 150), (90, 250), (300, 250), (350, 250)], [(260, 120), (255, 250), (250, 400)]]
ONE = [[(200, 0), (200, 200), (200, 400)]]

ROWS, COLS = np.mgrid[0:28, 0:28]


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    w = image.astype(np.float64)
    return float((w * ROWS).sum() / w.sum()), float((w * COLS).sum() / w.sum())


def box_size(mask: np.ndarray) -> tuple[int, int]:
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def blank(theme: str = "light", size: int = 800) -> dict:
    colour = (255, 255, 255, 255) if theme == "light" else (51, 51, 51, 255)
    bg = np.empty((size, size, 4), np.uint8)
    bg[...] = colour
    return {"background": bg, "layers": [np.zeros((size, size, 4), np.uint8)], "composite": bg.copy()}


# ---------------------------------------------------------------- nothing to read


@pytest.mark.parametrize("value", [
    None,
    blank(),
    blank("dark"),
    {**blank(), "layers": []},
    {"background": None, "layers": None, "composite": None},
    {"background": None, "layers": [], "composite": None},
], ids=["none", "blank-light", "blank-dark", "no-layers", "all-none", "layers-empty-composite-none"])
def test_an_empty_canvas_is_empty_not_a_prediction(value):
    result = preprocess(value)
    assert result.status == "empty"
    assert result.message == Problem.NOTHING_DRAWN.message
    assert result.tensor is None
    assert result.image.shape == (28, 28) and result.image.dtype == np.uint8 and not result.image.any()


def test_a_few_pixels_of_noise_count_as_empty():
    value = blank()
    value["layers"][0][100:102, 200:203] = (0, 0, 0, 255)  # 6 stray pixels on 800x800
    assert preprocess(value).status == "empty"


def test_a_single_dot_is_empty_and_says_so():
    result = preprocess(render_drawing([[(100.0, 100.0)]], brush_radius=25))
    assert result.status == "empty"
    assert result.message == Problem.DOT.message


def test_a_canvas_painted_all_over_is_invalid():
    value = blank()
    value["layers"][0][...] = (0, 0, 0, 255)
    value["composite"][...] = (0, 0, 0, 255)
    result = preprocess(value)
    assert (result.status, result.message, result.tensor) == ("invalid", Problem.MOSTLY_INK.message, None)
    # The same canvas without its layer: the plain background still tells black is the ink.
    assert preprocess({**value, "layers": []}).status == "invalid"


def test_a_huge_blob_is_invalid_not_a_dot():
    result = preprocess(render_drawing([[(0.0, 0.0), (1.0, 0.0)]], height=1, brush_radius=200))
    assert result.status == "invalid"
    assert result.message == Problem.BLOB.message


def test_a_solid_colour_image_has_no_contrast_and_is_empty():
    # Documented: without a canvas to compare with, one colour is no ink at all, whatever the colour.
    assert preprocess(np.zeros((100, 100), np.uint8)).status == "empty"
    assert preprocess(np.full((50, 60, 3), 200, np.uint8)).status == "empty"


def test_a_digit_touching_the_edges_of_a_small_picture_is_still_read():
    image = np.full((28, 28), 255, np.uint8)
    image[0:28, 13:16] = 0  # a 1 drawn from the top edge to the bottom one, in a paint program's 28x28
    image[0:3, 9:14] = 0  # its flag, along the top edge
    result = preprocess(image)
    assert result.ok and result.image.max() == 255


def test_random_noise_has_no_background_and_is_invalid():
    rng = np.random.default_rng(0)
    for value in (rng.integers(0, 256, (28, 28), dtype=np.uint8), rng.integers(0, 256, (300, 300, 3), dtype=np.uint8)):
        result = preprocess(value)
        assert (result.status, result.message) == ("invalid", Problem.NO_BACKGROUND.message)


@pytest.mark.parametrize("value", [np.zeros((5, 5, 7), np.uint8), np.zeros((0, 0)), 42],
                         ids=["seven-channels", "zero-size", "a-number"])
def test_something_that_is_no_image_raises_value_error(value):
    with pytest.raises(ValueError, match="expected a gray, RGB or RGBA image"):
        preprocess(value)


def test_a_not_a_number_pixel_is_refused_not_guessed_at():
    # One NaN pixel in a good digit: no gray level to read it as, so no silent guess (background or ink).
    image = np.zeros((60, 60), np.float32)
    image[10:50, 28:32] = 1.0
    image[0, 0] = np.nan
    with pytest.raises(ValueError, match=NON_FINITE):
        preprocess(image)
    image[0, 0] = 0.0
    assert preprocess(image).status == "ok"


# ---------------------------------------------------------------- MNIST's form


@pytest.mark.parametrize("kwargs", [
    dict(brush_radius=25, height=480),
    dict(brush_radius=6, height=700),  # thin pen, huge digit
    dict(brush_radius=40, height=150),  # fat brush, small digit
    dict(brush_radius=12, height=160, center=(110.0, 690.0)),  # off in a corner
    dict(brush_radius=25, height=700, theme="dark"),
], ids=["default", "thin-huge", "thick-small", "off-centre", "dark-huge"])
@pytest.mark.parametrize("strokes", [SEVEN, FOUR, ONE], ids=["7", "4", "1"])
def test_the_digit_fills_a_20px_box_with_its_centre_of_mass_at_the_centre(strokes, kwargs):
    result = preprocess(render_drawing(strokes, **kwargs))
    assert result.status == "ok"
    img = result.image
    # Tolerance: sub-pixel placement can leave an edge half in one pixel, half in the next, so the
    # half-intensity ink spans at most 21 px and the faintest fringe 22; the longer side is 20 +- 1.
    half = box_size(img >= 128)
    assert max(half) in (19, 20, 21) and min(half) <= 21
    assert max(box_size(img > 0)) <= 22
    cy, cx = centre_of_mass(img)
    assert abs(cy - 13.5) <= 0.5 and abs(cx - 13.5) <= 0.5
    assert img.max() == 255  # strokes at full intensity, like MNIST's


def test_the_aspect_ratio_is_kept():
    one = preprocess(render_drawing(ONE, brush_radius=25, height=500)).image
    h, w = box_size(one >= 128)
    assert h >= 19 and w <= 6  # a stroke, not stretched into a square


def test_brush_size_and_digit_size_give_the_same_stroke_thickness():
    images = [preprocess(render_drawing(FOUR, brush_radius=r, height=h, center=c)).image
              for r, h, c in [(25, 480, (400, 400)), (6, 700, (400, 400)), (40, 150, (150, 600)),
                              (15, 300, (600, 200))]]
    ink = [float(im.sum()) / 255 for im in images]
    # Same drawing: same amount of ink in 28x28 whatever the brush (without thinning, the fat
    # brush on the small digit would have several times the ink of the thin pen on the big one).
    assert max(ink) / min(ink) < 1.3
    reference = images[0].astype(np.int16)
    for im in images[1:]:
        assert np.abs(im.astype(np.int16) - reference).mean() < 20


def test_a_hairline_pen_on_a_huge_digit_is_thickened_to_full_ink():
    # A 1 px line on a 700 px digit is a tenth of a working pixel wide, faint gray once shrunk.
    hairline = preprocess(render_drawing(FOUR, brush_radius=0.5, height=700))
    assert hairline.status == "ok" and hairline.image.max() == 255
    reference = preprocess(render_drawing(FOUR)).image
    assert np.abs(hairline.image.astype(np.int16) - reference).mean() < 20


def test_stroke_width_is_mnist_like():
    image = preprocess(render_drawing(SEVEN, brush_radius=40, height=200)).image
    # MNIST's digits: mean intensity between 0.03 and 0.33 of full; a blob of fat strokes is far above.
    assert 0.05 < image.mean() / 255 < 0.25


def test_the_tensor_is_the_image_normalised_like_training():
    result = preprocess(render_drawing(SEVEN))
    assert result.tensor.shape == (1, 1, 28, 28) and result.tensor.dtype == torch.float32
    expected = (torch.from_numpy(result.image).float() / 255 - MEAN) / STD
    torch.testing.assert_close(result.tensor[0, 0], expected)


# ---------------------------------------------------------------- every input form reads the same


def _forms(drawing: dict) -> dict[str, object]:
    composite = drawing["composite"]
    gray = np.asarray(Image.fromarray(composite).convert("L"))
    return {
        "composite only": {"background": drawing["background"], "layers": [], "composite": composite},
        "transparent RGBA": drawing["layers"][0],
        "black on white gray": gray,
        "white on black gray": 255 - gray,
        "RGB array": composite[..., :3].copy(),
        "float RGB in [0, 1]": composite[..., :3].astype(np.float32) / 255,
        "float gray in [0, 1]": gray.astype(np.float64) / 255,
        "PIL RGBA": Image.fromarray(composite),
        "PIL L": Image.fromarray(gray),
        "bool mask": gray < 128,
        "torch tensor": torch.from_numpy(255 - gray),
    }


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_input_form_of_the_same_drawing_gives_the_same_image(theme):
    drawing = render_drawing(SEVEN, brush_radius=20, height=400, center=(350.0, 420.0), theme=theme)
    reference = preprocess(drawing)
    assert reference.status == "ok"
    for name, value in _forms(drawing).items():
        result = preprocess(value)
        assert result.status == "ok", name
        assert np.abs(result.image.astype(np.int16) - reference.image).max() <= 2, name


def test_light_and_dark_theme_read_alike():
    light = preprocess(render_drawing(FOUR, theme="light")).image
    dark = preprocess(render_drawing(FOUR, theme="dark")).image
    assert np.array_equal(light, dark)


def test_a_photo_of_dark_ink_on_uneven_paper():
    clean = render_drawing(SEVEN, brush_radius=15, height=300, canvas=400)
    ink = clean["layers"][0][..., 3].astype(np.float32) / 255
    rng = np.random.default_rng(1)
    # Grey paper lit from one side, grain, grey-blue ink.
    paper = 170 + 40 * np.linspace(0, 1, 400)[None, :] + rng.normal(0, 6, (400, 400))
    photo = paper[..., None] * (1 - ink[..., None]) + np.array([60, 60, 90]) * ink[..., None]
    photo = np.clip(photo, 0, 255).astype(np.uint8)
    result = preprocess(photo)
    assert result.status == "ok"
    assert np.abs(result.image.astype(np.int16) - preprocess(clean).image).mean() < 8


def test_ink_map_marks_ink_whichever_the_polarity():
    drawing = render_drawing(ONE, canvas=200, height=100)
    expected = drawing["layers"][0][..., 3]
    assert np.array_equal(ink_map(drawing), expected)
    gray = np.asarray(Image.fromarray(drawing["composite"]).convert("L"))
    assert np.array_equal(ink_map(gray) >= 128, expected >= 128)
    assert np.array_equal(ink_map(255 - gray) >= 128, expected >= 128)
    assert ink_map(np.full((20, 20), 255, np.uint8)) is None


def test_preprocess_ink_on_a_tight_crop_skips_the_canvas_checks():
    crop = np.zeros((60, 40), np.uint8)
    crop[5:55, 17:23] = 255  # a "1" filling its crop would be "invalid" as a whole canvas
    assert preprocess_ink(crop, whole_canvas=False).status == "ok"


def test_mnist_digits_come_through_nearly_unchanged(mnist):
    _, test = mnist
    images = test.images[:200].numpy()
    diffs = [np.abs(preprocess_ink(im, whole_canvas=False).image.astype(np.int16) - im).mean() for im in images]
    # Already in form: only the stroke width and the half-pixel centring change (most pixels stay put).
    assert np.median(diffs) < 20


# ---------------------------------------------------------------- the baseline


def test_naive_resize_squashes_the_whole_canvas_white_on_black():
    drawing = render_drawing(ONE, brush_radius=25, height=300, center=(150.0, 400.0))
    x = naive_resize(drawing)
    assert x.shape == (1, 1, 28, 28)
    background = (0 - MEAN) / STD
    assert torch.isclose(x[0, 0, 0, 0], torch.tensor(background), atol=1e-5)  # white canvas became black
    assert float(x.max()) > background + 1  # the ink is there, light
    cols = torch.nonzero(x[0, 0].amax(0) > background + 0.5).flatten()
    assert cols.float().mean() < 10  # left where it was drawn: no cropping or centring
    dark = naive_resize(render_drawing(ONE, brush_radius=25, height=300, center=(150.0, 400.0), theme="dark"))
    assert float(dark[0, 0, 0, 0]) < float(dark.max())


# ---------------------------------------------------------------- the pad's taps


def test_a_tap_with_any_pen_is_a_dot_not_a_digit():
    from mnist_demo.reading.sketch import parse_sketch

    for r in (2, 3, 4, 5, 8, 22, 40, 80):  # the API takes 2-80 px; a 4 px tap once read as a 1
        tap = parse_sketch({"strokes": [{"r": r, "points": [[400, 400]]}]})
        assert preprocess(tap).problem is Problem.DOT
        dab = parse_sketch({"strokes": [{"r": r, "points": [[400, 400], [400 + r / 3, 400]]}]})
        assert preprocess(dab).problem is Problem.DOT
