"""Driving Chromium (Debian's, through Playwright) like a visitor: strokes by mouse or finger.

Used by the browser tests and by benchmarks/browser_latency.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

Point = tuple[float, float]


def launch_chromium(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


PAD = "#sketch .pad"
CANVAS = "#sketch canvas"


def open_app_page(browser: Any, url: str, timeout_ms: float = 90_000, **context_options: Any) -> Any:
    """The app in a new page, once its pad is ready to draw on and has stopped moving.

    The pad is ready the moment its own script has run, but Gradio renders the Markdown above it a
    little later: on a busy machine the pad can move down after a test has measured where it is,
    and the strokes then land beside it. So wait until the pad's box is the same three times running.
    """
    page = browser.new_context(color_scheme="light", **context_options).new_page()
    page.set_default_timeout(timeout_ms)
    page.goto(url)
    page.wait_for_selector(f"{PAD}[data-ready=true]")
    page.wait_for_function("""() => {
        const box = document.querySelector('#sketch canvas').getBoundingClientRect();
        const here = [box.x, box.y, box.width, box.height].join();
        window.__padBox = window.__padBox || {at: '', same: 0};
        window.__padBox.same = window.__padBox.at === here ? window.__padBox.same + 1 : 0;
        window.__padBox.at = here;
        return document.readyState === 'complete' && window.__padBox.same >= 3;
    }""", polling=100)
    return page


def wait_for_answer(page: Any) -> None:
    """Wait until the page shows the answer to the pad's latest drawing: the preview carries the
    version of the value it answers (the pad counts the values it sends)."""
    version = page.locator(PAD).get_attribute("data-version")
    page.wait_for_selector(f"#preview [data-version='{version}']")


def thinned(stroke: Sequence[Point], points: int = 12) -> list[Point]:
    """`points` points along a pen stroke: fewer moves, the same shape (the brush joins them)."""
    if len(stroke) <= points:
        return list(stroke)
    return [stroke[round(i * (len(stroke) - 1) / (points - 1))] for i in range(points)]


def on_screen(strokes: Sequence[Sequence[Point]], box: dict, fill: float = 0.5) -> list[list[Point]]:
    """Pen strokes (y down, as load_pen_digits gives them) as page coordinates: `fill` of the box's height,
    centred in it."""
    xs = [x for s in strokes for x, _ in s]
    ys = [y for s in strokes for _, y in s]
    scale = fill * box["height"] / max(max(ys) - min(ys), 1e-6)
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    mx, my = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
    return [[(cx + (x - mx) * scale, cy + (y - my) * scale) for x, y in thinned(s)] for s in strokes]


def mouse_stroke(page: Any, points: Sequence[Point], release: bool = True) -> None:
    page.mouse.move(*points[0])
    page.mouse.down()
    for point in points[1:]:
        page.mouse.move(*point)
    if release:
        page.mouse.up()


def draw_with_mouse(page: Any, strokes: Sequence[Sequence[Point]], box: dict) -> None:
    for points in on_screen(strokes, box):
        mouse_stroke(page, points)


def touch_stroke(page: Any, points: Sequence[Point]) -> None:
    """One finger stroke, sent as touch events (what a phone's browser gets) through the DevTools protocol."""
    cdp = page.context.new_cdp_session(page)
    try:
        cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [_touch(points[0])]})
        for point in points[1:]:
            cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [_touch(point)]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    finally:
        cdp.detach()


def _touch(point: Point) -> dict:
    return {"x": point[0], "y": point[1], "radiusX": 4, "radiusY": 4, "force": 1}
