"""Teach it your handwriting, in a real browser: say what a few readings were (buttons and digit keys), fit the
model to them, and the Draw tab reads the next drawings with the fitted model, for this visitor only; the drawings
download as a file; then a misclick is mended in the gallery and Remove all empties the collection on its second
press.

Screenshots go to artifacts/screenshots/ (handwriting-*.png).
"""

from __future__ import annotations

import pytest

from mnist_demo.app.handlers import WebApp
from mnist_demo.personal import load
from tests.support.browser import (
    CANVAS,
    CHROMIUM,
    PAD,
    draw_with_mouse,
    launch_chromium,
    open_app_page,
    wait_for_answer,
)
from tests.support.drawings import held_out_digits
from tests.support.servers import SCREENSHOTS, app_settings, served_app

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)")]

SLOW = 90_000  # ms; software rendering on a busy 2-core machine makes each page update slow


def open_page(browser, url):
    return open_app_page(browser, url, SLOW, viewport={"width": 1280, "height": 900})


def draw_and_read(page, digit) -> str:
    """Draw `digit` on the pad; wait for the answer to it; returns the headline."""
    draw_with_mouse(page, digit.strokes, page.locator(CANVAS).bounding_box())
    wait_for_answer(page)
    return page.locator("#prediction [data-testid=label-output-value]").inner_text().strip()


def wait_text(page, selector: str, pattern: str, timeout: float = SLOW) -> None:
    page.wait_for_function("([s, p]) => new RegExp(p).test(document.querySelector(s)?.innerText || '')",
                           arg=[selector, pattern], timeout=timeout)


def test_say_what_a_few_readings_were_fit_and_the_draw_tab_reads_with_the_fitted_model(shipped_weights):
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    webapp = WebApp(app_settings(shipped_weights, fit_min_drawings=4, fit_mnist=1000, fit_pen=200, fit_folds=2))
    answered_by = []  # the visitor's own reader (None: the shared one) of every reading, in order
    read = webapp.draw_tab.read
    webapp.draw_tab.read = lambda value, k=3, own=None: (answered_by.append(own), read(value, k, own))[1]

    with served_app(webapp=webapp) as url, sync_playwright() as p:
        browser = launch_chromium(p)
        page = open_page(browser, url)
        digits = held_out_digits((2, 5, 7, 9), per_label=2)[1::2]  # writers' second digits: not in the test's fit
        for n, digit in enumerate(digits, 1):
            said = draw_and_read(page, digit)
            if n % 2:  # by the buttons: "Yes" when it read right, else the right digit
                if said == str(digit.label):
                    page.locator("#confirm").click()
                else:
                    page.locator(f"#keep-{digit.label}").click()
            else:  # by the digit key
                page.keyboard.press(str(digit.label))
            wait_text(page, "#kept", f"Kept as a {digit.label} .*{n} in all")
            page.wait_for_selector(f"{PAD}[data-strokes='0']")  # cleared for the next digit
        page.get_by_text("Your handwriting: the drawings you labelled").click()
        page.wait_for_function("() => { const imgs = [...document.querySelectorAll('#collection img')];"
                               " return imgs.length === 4 && imgs.every(i => i.complete && i.naturalWidth === 28); }")
        page.screenshot(path=SCREENSHOTS / "handwriting-draw-tab.png", full_page=True)
        with page.expect_download() as saving:  # the file is written when asked for, then handed to the browser
            page.locator("#download").click()
        assert saving.value.suggested_filename == "my-handwriting.json.gz"
        assert sorted(d.label for d in load(saving.value.path())) == sorted(d.label for d in digits)
        wait_text(page, "#kept", "Your 4 drawings")

        page.get_by_role("tab", name="Train").click()
        wait_text(page, "#fit_hint", "your 4 drawings")
        page.locator("#fit").click()
        wait_text(page, "#train_status", "Fitted to your|Not fitted|Stopped")
        assert "Fitted to your 4 drawings" in page.locator("#train_status").inner_text(), \
            page.locator("#train_status").inner_text()
        wait_text(page, "#train_status", "% after", timeout=120_000)  # then the assessment
        status = page.locator("#train_status").inner_text()
        print(status)
        page.screenshot(path=SCREENSHOTS / "handwriting-train-tab.png", full_page=True)

        page.get_by_role("tab", name="Draw").click()
        assert "fitted to your handwriting" in page.locator("#model_line").inner_text()
        draw_and_read(page, held_out_digits((3,), per_label=2)[1])
        own = answered_by[-1]
        assert own is not None and own.info["finetuned_from"]["drawings"] == 4 and own.strokes is not None

        other = open_page(browser, url)  # another visitor: the shipped model, no drawings
        draw_and_read(other, held_out_digits((3,), per_label=2)[1])
        assert answered_by[-1] is None
        assert "fitted" not in other.locator("#model_line").inner_text()

        # A misclick mended: select a drawing in the gallery, relabel it; then Remove all, which asks first.
        first = page.locator("#collection .thumbnail-item").first
        was = first.inner_text().strip()
        first.click()
        wait_text(page, "#kept", f"Selected a {was}: Remove selected takes it out; Relabel selected as gives it")
        new_label = "8" if was != "8" else "6"
        page.locator("#relabel_to input").click()
        page.get_by_role("option", name=new_label, exact=True).click()
        page.locator("#relabel").click()
        wait_text(page, "#kept", f"Relabelled a {was} as a {new_label}")
        page.locator("#remove_all").click()
        wait_text(page, "#kept", "removes all 4 drawings")
        assert page.locator("#collection img").count() == 4  # nothing gone yet
        page.locator("#remove_all").click()
        wait_text(page, "#kept", "Removed all 4 drawings")
        page.wait_for_function("() => document.querySelectorAll('#collection img').length === 0")
        browser.close()
