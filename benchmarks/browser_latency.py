"""From the end of a stroke to the answer on the page, in a real browser: our app against a bare Sketchpad.

    python -m benchmarks.browser_latency [--strokes 24] [--json benchmarks/results/browser_latency.json]

Serves two apps in this process: the real one (`app.build_app`, shipped
weights) and a bare Gradio 6 `gr.Sketchpad` (its defaults) whose function
returns a counter at once into a Textbox. Chromium (Debian's, driven by
Playwright, 1280x900 window) draws the same strokes, from held-out writers'
pen digits, on each, one stroke at a time, waiting for each answer before the
next stroke. The clock runs in the page: from the pointerup event's timestamp
to the first animation frame where the answer for that stroke is on the page
(ours: the preview tagged with the drawing's version, which arrives with the
top-k label in one update; bare: the Textbox showing a new count).
Prints a markdown table (median, p90, max in ms) and writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import gradio as gr
import numpy as np
from playwright.sync_api import sync_playwright

from mnist_demo.app import page as app
from mnist_demo.app.settings import AppSettings
from mnist_demo.handwriting.pen_digits import HELD_OUT_WRITERS, load_pen_digits
from mnist_demo.reading.weights import Weights
from tests.support.browser import launch_chromium, mouse_stroke, on_screen, open_app_page, wait_for_answer
from tests.support.servers import free_port

REPO = Path(__file__).resolve().parent.parent

VIEWPORT = {"width": 1280, "height": 900}
TIMEOUT_MS = 20_000

# Answer clocks, installed in each page: every pointerup starts a record, and an animation-frame loop
# stamps it when the page shows the answer to that stroke.
OURS_CLOCK = """() => {
  window.__strokes = [];
  const pad = document.querySelector('#sketch .pad');
  window.addEventListener('pointerup', (e) => {
    if (e.target.tagName !== 'CANVAS') return;  // a click on Clear is no stroke
    const rec = {version: pad.dataset.version, start: e.timeStamp, end: null};
    window.__strokes.push(rec);
    const look = () => {
      const shown = document.querySelector('#preview [data-version]');
      if (shown && shown.dataset.version === rec.version) rec.end = performance.now();
      else requestAnimationFrame(look);
    };
    look();
  });
}"""
BARE_CLOCK = """() => {
  window.__strokes = [];
  const out = () => document.querySelector('#bare_out textarea').value;
  window.addEventListener('pointerup', (e) => {
    if (e.target.tagName !== 'CANVAS') return;
    const rec = {before: out(), start: e.timeStamp, end: null};
    window.__strokes.push(rec);
    const look = () => {
      if (out() !== rec.before) rec.end = performance.now();
      else requestAnimationFrame(look);
    };
    look();
  }, true);
}"""
LAST_DONE = "() => window.__strokes.length > 0 && window.__strokes[window.__strokes.length - 1].end !== null"


def bare_sketchpad_app() -> gr.Blocks:
    """Gradio's own Sketchpad with its defaults, and a function that returns at once."""
    count = {"n": 0}

    def answer(drawing):
        count["n"] += 1
        return str(count["n"])

    with gr.Blocks() as demo:
        sketch = gr.Sketchpad(elem_id="bare")
        out = gr.Textbox(elem_id="bare_out")
        sketch.change(answer, sketch, out)
    return demo


def serve(demo: gr.Blocks) -> str:
    port = free_port()
    app.launch(demo, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    return f"http://127.0.0.1:{port}/"


def pen_strokes(n: int) -> list[list[list[tuple[float, float]]]]:
    """Held-out writers' digits, 0 to 9 in turn, until they hold at least `n` strokes."""
    held = [d for d in load_pen_digits() if d.writer in HELD_OUT_WRITERS]
    by_label = {label: [d for d in held if d.label == label] for label in range(10)}
    digits, total, i = [], 0, 0
    while total < n:
        digit = by_label[i % 10][i // 10]
        digits.append([list(s) for s in digit.strokes])
        total += len(digit.strokes)
        i += 1
    return digits


def timed_strokes(page, digits, box, before_digit=None) -> list[dict]:
    records = []
    for strokes in digits:
        if before_digit is not None:
            before_digit(page)
        for points in on_screen(strokes, box):
            mouse_stroke(page, points)
            page.wait_for_function(LAST_DONE, timeout=TIMEOUT_MS)
            time.sleep(0.1)
        records = page.evaluate("() => window.__strokes")
    return records


def run_ours(browser, url: str, digits) -> list[float]:
    page = open_app_page(browser, url, viewport=VIEWPORT)
    page.evaluate(OURS_CLOCK)
    box = page.locator("#sketch canvas").bounding_box()

    def clear(page):
        if page.locator("#sketch .pad").get_attribute("data-strokes") != "0":
            page.locator("#sketch .pad-clear").click()
            wait_for_answer(page)

    records = timed_strokes(page, digits, box, clear)
    page.close()
    return [r["end"] - r["start"] for r in records]


def run_bare(browser, url: str, digits) -> list[float]:
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(url)
    page.locator("#bare button[aria-label='Brush']").click()  # "select the draw tool to start"
    page.evaluate(BARE_CLOCK)
    canvas = page.locator("#bare canvas").first.bounding_box()
    side = min(canvas["width"], canvas["height"]) * 0.5  # inside the drawing area, whatever its zoom
    box = {"x": canvas["x"] + (canvas["width"] - side) / 2, "y": canvas["y"] + (canvas["height"] - side) / 2,
           "width": side, "height": side}
    records = timed_strokes(page, digits, box)
    page.close()
    return [r["end"] - r["start"] for r in records]


def stats(ms: list[float]) -> dict:
    return {"strokes": len(ms), "median_ms": round(statistics.median(ms), 1),
            "p90_ms": round(float(np.percentile(ms, 90)), 1), "max_ms": round(max(ms), 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.browser_latency", description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=os.environ.get("MNIST_DEMO_WEIGHTS")
                        or str(Weights.DEFAULT.file))
    parser.add_argument("--strokes", type=int, default=24, help="at least this many strokes on each app")
    parser.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results" / "browser_latency.json")
    args = parser.parse_args(argv)

    ours_demo = app.build_app(AppSettings(weights=Path(args.weights), allow_training=False))
    bare_demo = bare_sketchpad_app()
    urls = {"ours": serve(ours_demo), "bare": serve(bare_demo)}
    digits = pen_strokes(args.strokes)
    with sync_playwright() as p:
        browser = launch_chromium(p)
        results = {"mnist_demo (DrawPad, strokes as JSON)": run_ours(browser, urls["ours"], digits),
                   "bare gr.Sketchpad (defaults)": run_bare(browser, urls["bare"], digits)}
        browser.close()
    ours_demo.close()
    bare_demo.close()

    summary = {name: stats(ms) for name, ms in results.items()}
    print(f"Stroke end to answer on the page, Chromium {VIEWPORT['width']}x{VIEWPORT['height']} "
          f"({platform.machine()}, {os.cpu_count()} CPUs, gradio {gr.__version__})\n")
    print("| app | strokes | median ms | p90 ms | max ms |")
    print("|---|---:|---:|---:|---:|")
    for name, s in summary.items():
        print(f"| {name} | {s['strokes']} | {s['median_ms']:.0f} | {s['p90_ms']:.0f} | {s['max_ms']:.0f} |")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"gradio": gr.__version__, "cpus": os.cpu_count(), "results": summary,
                                     "raw_ms": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
