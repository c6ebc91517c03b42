"""The Draw tab's "where it looked" map: on the ink that speaks for the answer, and harmless to the shared model."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter

from mnist_demo.app.drawing import Answer, DrawTab, preview_html
from mnist_demo.base.mnist import MEAN, STD, normalize
from mnist_demo.base.status import Status
from mnist_demo.reading.reader import Reader
from mnist_demo.reading.saliency import overlay, saliency
from mnist_demo.reading.sketch import Sketch, parse_sketch
from tests.support.drawings import held_out_digits, pad_value

BLANK = -MEAN / STD  # a black pixel, normalised


@pytest.fixture(scope="module")
def shipped(shipped_weights) -> Reader:
    return Reader.load(shipped_weights, "cpu")


@pytest.fixture(scope="module")
def draw_tab(shipped_weights) -> DrawTab:
    return DrawTab(shipped_weights, device="cpu")


@pytest.fixture(scope="module")
def drawn(shipped) -> list[tuple[np.ndarray, int]]:
    """(28x28 image the model sees, its answer) for one held-out drawing of each digit."""
    out = []
    for digit in held_out_digits():
        p = shipped.read(parse_sketch(pad_value(digit)))
        assert p.digit is not None
        out.append((p.image, p.digit))
    return out


def model_input(image: np.ndarray) -> torch.Tensor:
    return normalize(torch.from_numpy(np.array(image, np.uint8))[None])


def near(mask: np.ndarray, px: int) -> np.ndarray:
    """The mask grown by `px` pixels (a square neighbourhood)."""
    grown = Image.fromarray(mask.astype(np.uint8) * 255).filter(ImageFilter.MaxFilter(2 * px + 1))
    return np.asarray(grown) > 0


def test_the_map_is_28x28_in_0_1_and_its_heat_lies_on_the_ink(shipped, drawn):
    for image, digit in drawn:
        heat = saliency(shipped.picture.model, model_input(image), digit)
        assert heat.shape == (28, 28) and heat.dtype == np.float32
        assert heat.min() >= 0.0 and heat.max() == pytest.approx(1.0)
        ink = image > 0
        # Blank pixels carry no evidence: nothing beyond the blur's reach of the ink, most of it on the ink itself.
        assert heat[~near(ink, 1)].max() == 0.0, digit
        assert heat[ink].sum() > 0.8 * heat.sum(), digit


def test_a_digit_in_the_left_half_heats_the_left_half_only(shipped, drawn):
    image, digit = drawn[7]
    small = np.zeros((28, 28), np.uint8)
    small[7:21, 0:14] = np.asarray(Image.fromarray(image).resize((14, 14), Image.Resampling.BOX))
    heat = saliency(shipped.picture.model, model_input(small), digit)
    assert heat.max() > 0
    assert heat[:, 16:].max() == 0.0  # the right half is empty, so no evidence lies there
    assert heat[near(small > 0, 2)].sum() >= 0.99 * heat.sum()


def test_nothing_drawn_is_no_evidence(shipped):
    heat = saliency(shipped.picture.model, model_input(np.zeros((28, 28), np.uint8)), 3)
    assert heat.shape == (28, 28) and not heat.any()


def test_the_hottest_ink_is_what_the_answer_rests_on(shipped, drawn):
    """Wiping the hottest fifth of the ink lowers the answer's probability more than wiping a random fifth."""
    rng = np.random.default_rng(0)
    by_heat, at_random = [], []
    for image, digit in drawn:
        x = model_input(image)
        heat = saliency(shipped.picture.model, x, digit)
        ink = np.flatnonzero(image.ravel() > 0)
        n = len(ink) // 5
        hot = ink[np.argsort(-heat.ravel()[ink], kind="stable")[:n]]
        wiped = []
        for chosen in (hot, rng.choice(ink, n, replace=False)):
            y = x.clone().view(-1)
            y[torch.from_numpy(chosen)] = BLANK
            wiped.append(y.view(1, 1, 28, 28))
        p = shipped.probabilities(torch.cat([x, *wiped]))[:, digit]
        by_heat.append(p[0] - p[1])
        at_random.append(p[0] - p[2])
    assert np.mean(by_heat) > np.mean(at_random) + 0.1, (np.mean(by_heat), np.mean(at_random))


def test_a_call_leaves_the_shared_model_as_it_was(shipped, drawn):
    model = shipped.picture.model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    needs_grad = [p.requires_grad for p in model.parameters()]
    image, digit = drawn[4]
    x = model_input(image)
    x_before = x.clone()
    saliency(model, x, digit)
    with torch.inference_mode():  # as a reader reads: the map is still made
        assert saliency(model, x, digit).max() > 0
    assert not any(m.training for m in model.modules())
    assert all(p.grad is None for p in model.parameters())
    assert [p.requires_grad for p in model.parameters()] == needs_grad
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # weights and batch-norm statistics
    assert torch.equal(x, x_before) and x.grad is None and not x.requires_grad


def test_a_map_is_for_one_image_of_the_model_s_size(shipped):
    with pytest.raises(ValueError, match="one normalised image"):
        saliency(shipped.picture.model, torch.zeros(2, 1, 28, 28), 0)


def test_the_overlay_colours_the_strokes_that_mattered_and_leaves_the_rest_gray():
    image = np.zeros((28, 28), np.uint8)
    image[4:24, 12:16] = 255  # a stroke
    heat = np.zeros((28, 28), np.float32)
    heat[4:10, 12:16] = 1.0  # its top mattered
    rgb = overlay(image, heat)
    assert rgb.shape == (28, 28, 3) and rgb.dtype == np.uint8
    cold, hot = rgb[20, 13].astype(int), rgb[6, 13].astype(int)
    assert cold[0] == cold[1] == cold[2] > 0  # ink without heat: gray
    assert hot[0] > hot[2] + 100  # ink with heat: warm
    assert not rgb[0, 0].any()  # background stays black


def test_the_preview_shows_the_map_beside_the_28x28_and_keeps_its_version(drawn):
    image, _ = drawn[7]
    heat = np.zeros((28, 28), np.float32)
    html = preview_html(image, 5, heat)
    # `#preview img` must still find the 28x28 alone: the browser tests read its size and src.
    assert html.count("<img") == 1
    assert re.search(r"<img class='preview' data-version='5' src='data:image/png;base64,[^']+'", html)
    assert "alt='The 28×28 image the model sees'" in html
    assert re.search(r"class='preview-heat' role='img' aria-label='Where the model looked'", html)
    assert "url(data:image/png;base64," in html
    assert "what the model sees" in html and "where it looked" in html
    assert html.startswith("<div class='preview-pair' data-version='5'>") and html.endswith("</div>")
    assert preview_html(image, 5) == re.search(r"<img [^>]*>", html).group(0)  # without a map: the image alone


def test_reading_a_drawn_seven_comes_with_its_map_and_an_empty_pad_without(draw_tab):
    seven = parse_sketch(pad_value(held_out_digits((7,))[0]))
    r = draw_tab.read(seven)
    assert r.status is Status.OK and r.label and max(r.label, key=r.label.get) == "7"
    assert r.heat is not None and r.heat.shape == (28, 28) and r.heat.max() == pytest.approx(1.0)
    assert r.heat[r.image == 0].sum() < 0.2 * r.heat.sum()

    empty = draw_tab.read(Sketch())
    assert empty.status is Status.EMPTY and empty.heat is None


def test_a_failing_map_leaves_the_reading_as_it_was(draw_tab, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("no gradients today")

    monkeypatch.setattr("mnist_demo.app.drawing.saliency", broken)
    r = draw_tab.read(parse_sketch(pad_value(held_out_digits((7,))[0])))
    assert r.status is Status.OK and r.heat is None and "Looks like a 7" in r.message
    assert "no gradients today" in caplog.text


def test_the_page_gets_the_map_of_a_reading():
    from mnist_demo.app.handlers import WebApp

    image = np.zeros((28, 28), np.uint8)
    image[4:24, 12:16] = 255
    answer = Answer(Status.OK, {"1": 0.9}, "Looks like a 1", image, "drawnet", np.ones((28, 28), np.float32))
    assert "preview-heat" in WebApp._shown(answer, 2)[2]
    answer.heat = None
    assert "preview-heat" not in WebApp._shown(answer, 2)[2]
