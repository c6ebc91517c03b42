"""Draw symbols that are not digits on the app's pad with the mouse, in Chromium, and keep what the page sent.

    python -m benchmarks.draw_symbols [--out benchmarks/data/symbols.jsonl] [--seed 0]

The transfer benchmark's hand-drawn non-digits (`training/transfer.py`): real
symbols a visitor might draw (+ x - ? ^ e, a few letters, scribbles), each a
few times, at other sizes, places and pen widths, drawn through the page as a
visitor draws them (mouse moves that waver a little, the pad's own sampling),
not made up as strokes. The file keeps, for each, the last JSON the server
received from the pad. None of these shapes is trained on, and none chose
anything: they judge.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from mnist_demo.app.handlers import WebApp
from tests.support.browser import PAD, launch_chromium, mouse_stroke, open_app_page, wait_for_answer
from tests.support.servers import app_settings, served_app

OUT = Path(__file__).resolve().parent / "data" / "symbols.jsonl"

Path_ = list[tuple[float, float]]  # in a unit box, y down


def line(*points: tuple[float, float], n: int = 12) -> Path_:
    out: Path_ = []
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        out += [(x0 + (x1 - x0) * t, y0 + (y1 - y0) * t) for t in np.linspace(0, 1, n, endpoint=False)]
    return out + [points[-1]]


def arc(cx: float, cy: float, r: float, start: float, end: float, ry: float | None = None, n: int = 24) -> Path_:
    return [(cx + r * math.cos(math.radians(a)), cy + (ry or r) * math.sin(math.radians(a)))
            for a in np.linspace(start, end, n)]


# Each symbol as a visitor draws it: its strokes in the order drawn. Several ways for some.
SYMBOLS: dict[str, list[list[Path_]]] = {
    "+": [[line((0.5, 0), (0.5, 1)), line((0, 0.5), (1, 0.5))], [line((0, 0.45), (1, 0.5)), line((0.5, 0), (0.45, 1))]],
    "x": [[line((0, 0), (1, 1)), line((1, 0), (0, 1))], [line((1, 0), (0, 1)), line((0, 0), (1, 1))]],
    "-": [[line((0, 0.5), (1, 0.5))]],
    "?": [[arc(0.5, 0.3, 0.35, 200, 420) + line((0.8, 0.42), (0.5, 0.6), (0.5, 0.78)), line((0.5, 0.95), (0.51, 0.97))]],
    "^": [[line((0, 1), (0.5, 0), (1, 1))]],
    "e": [[line((0.1, 0.55), (0.9, 0.55)) + arc(0.5, 0.55, 0.42, 0, -300)]],
    "=": [[line((0, 0.3), (1, 0.3)), line((0, 0.7), (1, 0.7))]],
    "<": [[line((1, 0), (0, 0.5), (1, 1))]],
    "h": [[line((0.1, 0), (0.1, 1)), arc(0.45, 0.65, 0.35, 180, 360) + line((0.8, 0.65), (0.8, 1))]],
    "k": [[line((0.1, 0), (0.1, 1)), line((0.8, 0.35), (0.15, 0.7), (0.85, 1))]],
    "m": [[line((0, 1), (0, 0.3)) + arc(0.25, 0.4, 0.25, 180, 360) + line((0.5, 0.4), (0.5, 1)),
           arc(0.75, 0.4, 0.25, 180, 360) + line((1, 0.4), (1, 1))]],
    "w": [[line((0, 0), (0.25, 1), (0.5, 0.35), (0.75, 1), (1, 0))]],
    "r": [[line((0.2, 0.2), (0.2, 1)), arc(0.55, 0.45, 0.35, 200, 300)]],
    "scribble": [[[(0.5 + 0.45 * math.sin(3.1 * t) * math.cos(0.7 * t), 0.5 + 0.45 * math.sin(2.3 * t))
                   for t in np.linspace(0, 9, 70)]]],
}
TIMES = 3  # each way of drawing a symbol, at other sizes, places and pen widths


def wavering(path: Path_, rng: np.random.Generator, box: dict, size: float, at: tuple[float, float]) -> Path_:
    """The unit-box path on the page: `size` px tall at `at`, with the slow waver of a hand on a mouse."""
    drift = rng.normal(0, size * 0.012, (len(path), 2)).cumsum(0) * 0.3
    return [(box["x"] + at[0] + x * size + dx, box["y"] + at[1] + y * size + dy)
            for (x, y), (dx, dy) in zip(path, drift)]


def main(argv: list[str] | None = None) -> int:
    from playwright.sync_api import sync_playwright

    p = argparse.ArgumentParser(prog="python -m benchmarks.draw_symbols", description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(OUT))
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    from tests.support.servers import REPO

    webapp = WebApp(app_settings(REPO / "weights" / "reader.safetensors", allow_training=False))
    received: list[str] = []
    predict = webapp.predict
    webapp.predict = lambda drawing, k=3, own=None: (received.append(drawing), predict(drawing, k, own))[1]
    kept = []
    with served_app(webapp=webapp) as url, sync_playwright() as pw:
        browser = launch_chromium(pw)
        page = open_app_page(browser, url, viewport={"width": 1280, "height": 1400})  # the whole pad in view
        box = page.locator(f"{PAD} canvas").bounding_box()
        assert box["y"] + box["height"] < 1400, box
        slider = page.locator("#sketch input[type=range]")
        for name, ways in SYMBOLS.items():
            for strokes in ways:
                for _ in range(TIMES):
                    page.locator("#sketch .pad-clear").click()
                    if slider.count():
                        slider.fill(str(int(rng.integers(8, 41))))
                    size = rng.uniform(0.3, 0.75) * box["height"]
                    at = (rng.uniform(0.05, 0.9 - size / box["width"]) * box["width"],
                          rng.uniform(0.05, 0.9 - size / box["height"]) * box["height"])
                    for stroke in strokes:
                        mouse_stroke(page, wavering(stroke, rng, box, size, at))
                    wait_for_answer(page)
                    kept.append({"name": name, "sketch": received[-1]})
        browser.close()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(k) + "\n" for k in kept), encoding="utf-8")
    print(f"kept {len(kept)} drawings of {len(SYMBOLS)} symbols in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
