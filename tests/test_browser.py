"""The app in a real browser: Chromium (Debian's, driven by Playwright) draws with the mouse and trains.

Screenshots go to artifacts/screenshots/, which CI keeps.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app_helpers import SCREENSHOTS, app_settings, held_out_digits, served_app

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)")

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SLOW = 90_000  # ms; software rendering on a busy 2-core machine makes each canvas update slow


@pytest.fixture(scope="module")
def server(shipped_weights):
    with served_app(app_settings(shipped_weights)) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, color_scheme="light")
    page = context.new_page()
    page.set_default_timeout(SLOW)
    page.goto(server)
    yield page
    context.close()


def thinned(stroke, points: int = 7):
    """Every n-th point of a pen stroke: fewer mouse moves, the same shape (the brush joins them)."""
    if len(stroke) <= points:
        return list(stroke)
    return [stroke[round(i * (len(stroke) - 1) / (points - 1))] for i in range(points)]


def draw(page, strokes) -> None:
    """Draw pen strokes (tablet units, y up) with the mouse, scaled to half the canvas's height."""
    box = page.locator("#sketch canvas").first.bounding_box()
    xs = [x for s in strokes for x, _ in s]
    ys = [-y for s in strokes for _, y in s]
    scale = 0.5 * box["height"] / (max(ys) - min(ys))
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    mx, my = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
    for stroke in strokes:
        points = [(cx + (x - mx) * scale, cy + (-y - my) * scale) for x, y in thinned(stroke)]
        page.mouse.move(*points[0])
        page.mouse.down()
        for point in points[1:]:
            page.mouse.move(*point)
        page.mouse.up()


def test_a_digit_drawn_with_the_mouse_is_read_and_shown_as_the_model_sees_it(page):
    # The brush is chosen for the visitor: they can draw at once.
    page.locator("#sketch button.highlight[aria-label='Brush']").wait_for()
    digit = held_out_digits((4,))[0]
    assert len(digit.strokes) == 2  # the prediction must follow the last stroke, not stop at the first
    draw(page, digit.strokes)

    page.wait_for_function(
        "() => /Looks like a 4/.test(document.querySelector('#status').innerText)", timeout=SLOW)
    headline = page.locator("#prediction [data-testid=label-output-value]").inner_text()
    assert headline.strip() == "4"
    preview = page.locator("#preview img")
    preview.wait_for()
    assert preview.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [28, 28]
    assert preview.bounding_box()["width"] >= 150  # enlarged so its pixels show
    assert "Answering" in page.locator("#model_line").inner_text()
    page.screenshot(path=SCREENSHOTS / "draw-tab.png", full_page=True)

    page.locator("#clear").click()
    page.wait_for_function("() => /Draw a digit/.test(document.querySelector('#prediction').innerText)")


def test_a_one_epoch_training_shows_its_epoch_and_its_model_can_be_drawn_with(page):
    page.get_by_role("tab", name="Train").click()
    page.locator("#model input").click()
    page.get_by_role("option", name="mlp-50").click()
    page.wait_for_function("() => /784-50-10/.test(document.body.innerText)")  # its recipe is filled in
    epochs = page.locator("#epochs input[type=number]")
    epochs.fill("1")
    epochs.press("Enter")
    page.locator("#train").click()

    # The epoch appears in the table and the plot as it ends.
    page.wait_for_function("() => /Done after 1 epoch/.test(document.querySelector('#train_status').innerText)",
                           timeout=SLOW)
    cells = page.locator("#epochs_table").inner_text().split("kept", 1)[1].split()  # the cells after the header
    # One row: epoch 1, its test accuracy, train and test loss, seconds, lr, kept (no validation split).
    assert len(cells) == 7 and cells[0] == "1" and 0 < float(cells[1]) <= 100 and cells[-1] == "yes"
    assert page.locator("#curves img").count() == 1
    page.screenshot(path=SCREENSHOTS / "train-tab.png", full_page=True)

    page.locator("#use").click()
    page.get_by_role("tab", name="Draw").click()
    page.wait_for_function("() => /mlp-50/.test(document.querySelector('#model_line').innerText)")
