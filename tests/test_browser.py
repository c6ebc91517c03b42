"""The app in a real browser: Chromium (Debian's, driven by Playwright) draws with mouse and finger, and trains.

Screenshots go to artifacts/screenshots/, which CI keeps.
"""

from __future__ import annotations

import base64
import io
import time

import numpy as np
import pytest
from PIL import Image

from mnist_demo.app.handlers import WebApp
from mnist_demo.reading.reader import Reader
from tests.support.browser import (
    CANVAS,
    CHROMIUM,
    PAD,
    draw_with_mouse,
    launch_chromium,
    mouse_stroke,
    on_screen,
    open_app_page,
    touch_stroke,
    wait_for_answer,
)
from tests.support.drawings import held_out_digits
from tests.support.servers import SCREENSHOTS, app_settings, served_app
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)")]

SLOW = 90_000  # ms; software rendering on a busy 2-core machine makes each page update slow


@pytest.fixture(scope="module")
def server(shipped_weights):
    with served_app(app_settings(shipped_weights)) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()


def open_page(browser, url, **context_options):
    return open_app_page(browser, url, SLOW, **context_options)


@pytest.fixture
def page(browser, server):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = open_page(browser, server, viewport={"width": 1280, "height": 900})
    yield page
    page.context.close()


def answered(page) -> str:
    """Wait until the page shows the answer to the pad's latest drawing; returns the status line."""
    wait_for_answer(page)
    # The status line is Markdown, which Gradio renders a moment after the preview's HTML: on a busy
    # machine the previous answer's line can still be showing. Read it once it has settled: the same
    # four times running, 100 ms apart.
    readings = [page.locator("#status").inner_text()]

    def settled() -> str:
        readings.append(page.locator("#status").inner_text())
        return readings[-1] if readings[-4:] == readings[-1:] * 4 else ""

    return wait_until(settled, 10, interval=0.1, message=lambda: f"the status line did not settle: {readings[-4:]}")


def headline(page) -> str:
    return page.locator("#prediction [data-testid=label-output-value]").inner_text().strip()


def test_the_pad_is_ready_to_draw_on_load_and_large(page):
    # No tool to pick: the first stroke draws.
    box = page.locator(CANVAS).bounding_box()
    assert box["width"] >= 400 and abs(box["width"] - box["height"]) < 1
    mouse_stroke(page, [(box["x"] + 200, box["y"] + 100), (box["x"] + 220, box["y"] + 300)])
    assert page.locator(PAD).get_attribute("data-strokes") == "1"
    # ...in black: the middle of the stroke is dark on the white pad.
    dark = page.evaluate("""() => { const c = document.querySelector('#sketch canvas');
        const k = c.width / c.getBoundingClientRect().width;
        return Array.from(c.getContext('2d').getImageData(210 * k, 200 * k, 1, 1).data); }""")
    assert dark[:3] == [0, 0, 0]


def test_a_digit_drawn_with_the_mouse_is_read_and_shown_as_the_model_sees_it(page):
    digit = held_out_digits((4,))[0]
    assert len(digit.strokes) == 2  # the answer must follow the last stroke, not stop at the first
    draw_with_mouse(page, digit.strokes, page.locator(CANVAS).bounding_box())

    assert "Looks like a 4" in answered(page)
    assert headline(page) == "4"
    preview = page.locator("#preview img")
    assert preview.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [28, 28]
    assert preview.bounding_box()["width"] >= 150  # enlarged so its pixels show
    assert "Answering" in page.locator("#model_line").inner_text()
    page.screenshot(path=SCREENSHOTS / "draw-tab.png", full_page=True)


def test_the_answer_follows_the_pen_before_it_lifts(page):
    digit = held_out_digits((7,))[0]
    strokes = on_screen(digit.strokes, page.locator(CANVAS).bounding_box())
    longest = max(strokes, key=len)
    half = len(longest) // 2
    mouse_stroke(page, longest[:half], release=False)
    page.wait_for_timeout(300)  # the pen rests, still down

    # The page was answered for the stroke so far, not only for where the pen touched down.
    while_drawing = answered(page)
    assert page.locator(PAD).get_attribute("data-strokes") == "0"  # not lifted yet
    assert int(page.locator(PAD).get_attribute("data-version")) >= 2  # sent after the touch-down
    assert "Only a dot" not in while_drawing and "Nothing drawn" not in while_drawing

    for point in longest[half:]:
        page.mouse.move(*point)
    page.mouse.up()
    answered(page)
    assert page.locator(PAD).get_attribute("data-strokes") == "1"


def test_undo_takes_back_the_last_stroke_and_clear_empties_the_pad(page):
    digit = held_out_digits((4,))[0]
    draw_with_mouse(page, digit.strokes, page.locator(CANVAS).bounding_box())
    assert "Looks like a 4" in answered(page)

    page.locator("#sketch .pad-undo").click()
    assert page.locator(PAD).get_attribute("data-strokes") == "1"
    after_undo = answered(page)
    assert "Looks like a 4" not in after_undo  # one stroke of a 4 is not read as a 4

    page.keyboard.press("Control+z")  # the keyboard works too
    assert page.locator(PAD).get_attribute("data-strokes") == "0"
    assert "Nothing drawn yet" in answered(page)

    draw_with_mouse(page, digit.strokes, page.locator(CANVAS).bounding_box())
    answered(page)
    page.locator("#sketch .pad-clear").click()
    assert "Nothing drawn yet" in answered(page)
    assert headline(page) == "Draw a digit"
    blank = page.evaluate("""() => { const c = document.querySelector('#sketch canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        return d.every(v => v === 255); }""")
    assert blank


def test_what_the_page_shows_is_what_the_server_reads(page, shipped_weights):
    """The server draws the strokes again: its 28x28 matches the one made from the page's own pixels."""
    digit = held_out_digits((2,))[0]
    draw_with_mouse(page, digit.strokes, page.locator(CANVAS).bounding_box())
    answered(page)
    png = page.evaluate("() => document.querySelector('#sketch canvas').toDataURL('image/png')")
    shown = np.asarray(Image.open(io.BytesIO(base64.b64decode(png.split(",", 1)[1]))).convert("L"))
    server_seen = page.locator("#preview img").get_attribute("src")
    server_image = np.asarray(Image.open(io.BytesIO(base64.b64decode(server_seen.split(",", 1)[1]))))

    from_pixels = Reader.load(shipped_weights, "cpu").read(shown)
    assert from_pixels.digit == 2 and headline(page) == "2"
    # Same image, up to anti-aliasing: most pixels within a few gray levels.
    diff = np.abs(from_pixels.image.astype(int) - server_image.astype(int))
    assert diff.mean() < 6 and np.percentile(diff, 95) < 40, (diff.mean(), np.percentile(diff, 95))


def test_a_phone_sized_screen_draws_with_a_finger(browser, server):
    phone = open_page(browser, server, viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True,
                      device_scale_factor=2)
    try:
        box = phone.locator(CANVAS).bounding_box()
        assert box["width"] >= 0.85 * 390  # the pad fills the screen's width
        digit = held_out_digits((1,))[0]
        for points in on_screen(digit.strokes, box):
            touch_stroke(phone, points)
        assert phone.locator(PAD).get_attribute("data-strokes") == str(len(digit.strokes))
        assert "Looks like a 1" in answered(phone)
        phone.screenshot(path=SCREENSHOTS / "draw-tab-phone.png", full_page=True)
    finally:
        phone.context.close()


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
    assert line_points(page, "#accuracy_curves") >= 2 and page.locator("#heatmap table.confusion").count() == 1
    page.screenshot(path=SCREENSHOTS / "train-tab.png", full_page=True)

    page.locator("#use").click()
    page.get_by_role("tab", name="Draw").click()
    page.wait_for_function("() => /mlp-50/.test(document.querySelector('#model_line').innerText)")


def line_points(page, plot: str) -> int:
    """Points of the longest line drawn in a gr.LinePlot (Vega draws each curve as one SVG path)."""
    return page.evaluate("""(plot) => Math.max(0, ...[...document.querySelectorAll(`${plot} path`)]
        .filter(p => (p.getAttribute("aria-roledescription") || "").includes("line"))
        .map(p => (p.getAttribute("d") || "").split("L").length))""", plot)


def test_train_with_nothing_changed_draws_its_curves_before_the_first_epoch_ends_and_reaches_99(browser,
                                                                                                   shipped_weights):
    # The whole of MNIST, as on the Space: the quick default's epoch takes seconds, long enough to watch.
    webapp = WebApp(app_settings(shipped_weights, train_limit=None, test_limit=None))
    with served_app(webapp=webapp) as url:
        page = open_page(browser, url, viewport={"width": 1280, "height": 900})
        assert not webapp.trainer.ready()
        page.get_by_role("tab", name="Train").click()
        page.wait_for_function("() => /quick default/.test(document.body.innerText)")  # fastnet, its recipe
        # Opening the tab got the training's process and MNIST ready: nothing is left to do after the click.
        wait_until(webapp.trainer.ready, 120, message="the Train tab's visit did not get the training ready")
        start = time.monotonic()
        page.locator("#train").click()
        page.wait_for_function("() => /Epoch 1\\//.test(document.querySelector('#progress').innerText)")
        first_point = time.monotonic() - start
        page.wait_for_function("""() => {
            const lines = [...document.querySelectorAll('#accuracy_curves path')]
                .filter(p => (p.getAttribute('aria-roledescription') || '').includes('line'));
            return lines.some(p => (p.getAttribute('d') || '').split('L').length >= 4);
        }""")
        # Four points of the running accuracy, and the first epoch has not ended: no row in the epochs table.
        assert "Epoch 1/2" in page.locator("#progress").inner_text()
        assert "99." not in page.locator("#epochs_table").inner_text()
        page.screenshot(path=SCREENSHOTS / "train-tab-live.png", full_page=True)
        page.wait_for_function("() => /Done after 2 epoch/.test(document.querySelector('#train_status').innerText)",
                               timeout=300_000)
        status = page.locator("#train_status").inner_text()
        accuracy = float(status.split("Kept the model of epoch 2: ")[1].split("%")[0])
        print(f"quick default in the browser: {accuracy:.2f}% after {time.monotonic() - start:.1f} s, click to done; "
              f"its first point {first_point:.2f} s after the click")
        assert accuracy >= 99.0
        assert page.locator("#filters img.filters").count() == 1  # the first layer, drawn as it learned
        page.close()


def test_a_visitor_who_closes_the_tab_mid_training_frees_the_training_slot(browser, shipped_weights):
    # A training far longer than the test: only the closed tab can end it in time.
    webapp = WebApp(app_settings(shipped_weights, train_limit=20000, max_epochs=20))
    with served_app(webapp=webapp) as url:
        page = open_page(browser, url, viewport={"width": 1280, "height": 900})
        page.get_by_role("tab", name="Train").click()
        page.locator("#model input").click()
        page.get_by_role("option", name="pytorch-example").click()  # ~30 s an epoch here, no pen digits
        page.wait_for_function(r"() => /pytorch\/examples/.test(document.body.innerText)")
        page.locator("#train").click()
        page.wait_for_function("() => /batch/.test(document.querySelector('#progress').innerText)")
        assert webapp.trainer.busy
        page.context.close()
        wait_until(lambda: not webapp.trainer.busy, 60, interval=0.2,
                   message="the training slot is still taken after the visitor closed the tab")


def test_a_pad_of_another_size_sends_its_strokes_in_that_size(browser, shipped_weights):
    """DrawPad(size=400): the server gets the strokes in a 400 px coordinate space, and reads the digit."""
    import gradio as gr

    from mnist_demo.app.drawpad import DrawPad
    from mnist_demo.reading.sketch import parse_sketch
    from tests.support.servers import free_port

    received = []  # every drawing the server was sent, parsed
    with gr.Blocks() as demo:
        pad = DrawPad(size=400, elem_id="sketch")
        pad.change(lambda value: received.append(parse_sketch(value)), pad, None, queue=False)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        page = open_page(browser, f"http://127.0.0.1:{port}/", viewport={"width": 1280, "height": 900})
        digit = held_out_digits((4,))[0]
        box = page.locator(CANVAS).bounding_box()
        draw_with_mouse(page, digit.strokes, box)  # the digit 0.5 of the pad's height, centred
        sent = int(page.locator(PAD).get_attribute("data-version"))
        wait_until(lambda: received and received[-1].version == sent, SLOW / 1000,
                   message=lambda: f"the server never got drawing {sent}; it got {[s.version for s in received]}")
        page.context.close()
    finally:
        demo.close()

    sketch = received[-1]
    assert sketch.version == sent and sketch.size == 400
    assert len(sketch.strokes) == len(digit.strokes)
    ys = [y for s in sketch.strokes for _, y in s.points]
    xs = [x for s in sketch.strokes for x, _ in s.points]
    assert 0 <= min(xs) and max(xs) <= 400 and 0 <= min(ys) and max(ys) <= 400
    assert 170 <= max(ys) - min(ys) <= 230  # half of 400, not of 800
    assert all(s.radius == 11 for s in sketch.strokes)  # the default pen, scaled to the pad: 22 px of 800
    assert Reader.load(shipped_weights, "cpu").read(sketch).digit == 4


def test_a_zero_with_a_slash_through_it_drawn_with_the_mouse_reads_as_a_zero(page):
    # As programmers write it; a loop with a line through it must not be taken for "not a digit".
    zero = [[(200 - 90 * np.sin(t), 240 - 160 * np.cos(t)) for t in np.linspace(0, 2 * np.pi, 12)]]
    slash = [[(270, 110), (130, 380)]]
    draw_with_mouse(page, zero + slash, page.locator(CANVAS).bounding_box())

    assert "Looks like a 0" in answered(page)
    assert headline(page) == "0"
    page.screenshot(path=str(SCREENSHOTS / "slashed-zero.png"))
