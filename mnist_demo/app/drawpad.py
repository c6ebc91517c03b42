"""The Draw tab's drawing pad: a Gradio component (gr.HTML with its own canvas) that sends strokes.

Gradio 6's Sketchpad hands over its drawing as exported image layers, which
took 1.9 to 2.4 s per stroke in the browser before the server even started,
and it reports nothing while a stroke is drawn. This pad is ready on load
(black round brush, no tool to pick), fills its column (and a phone's width),
draws with mouse, pen or finger, has Undo (also Ctrl+Z) and Clear, and sends
its strokes as JSON (see `mnist_demo.sketch`) when a stroke ends and every
150 ms while one is drawn. Its `change` event carries that JSON.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from mnist_demo.reading.sketch import BRUSH_RADIUS, CANVAS, PAD_BRUSH_RANGE

JS = (Path(__file__).with_name("drawpad.js")).read_text(encoding="utf-8")

HTML = """
<div class="pad" data-ready="false" data-version="0" data-strokes="0">
  <div class="pad-frame">
    <canvas aria-label="Drawing pad: draw one digit with the mouse, a pen or a finger"></canvas>
    <div class="pad-hint">Draw a digit here</div>
  </div>
  <div class="pad-tools">
    <button type="button" class="pad-undo" title="Undo the last stroke (Ctrl+Z)">Undo</button>
    <button type="button" class="pad-clear" title="Clear the pad">Clear</button>
    <label class="pad-size">Pen <input class="pad-brush" type="range" min="{{brush_min}}" max="{{brush_max}}"
      step="1" value="{{brush}}" aria-label="Pen width"></label>
  </div>
</div>
"""

CSS = """
.pad { display: flex; flex-direction: column; gap: 8px; width: 100%; max-width: 560px; margin: 0 auto; }
.pad-frame { position: relative; width: 100%; aspect-ratio: 1 / 1; }
.pad canvas { width: 100%; height: 100%; display: block; touch-action: none; cursor: crosshair;
  border: 1px solid var(--border-color-primary); border-radius: var(--radius-lg); background: #fff; }
.pad-hint { position: absolute; inset: 0; display: flex; align-items: center; justify-content: center;
  pointer-events: none; color: #9ca3af; font-size: 1.25rem; }
.pad-hint[hidden] { display: none; }
.pad-tools { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
.pad-tools button { padding: 6px 16px; border-radius: var(--radius-md); border: 1px solid var(--border-color-primary);
  background: var(--button-secondary-background-fill); color: var(--button-secondary-text-color); cursor: pointer; }
.pad-tools button:hover { background: var(--button-secondary-background-fill-hover); }
.pad-size { display: flex; align-items: center; gap: 6px; margin-left: auto; }
"""


class DrawPad(gr.HTML):
    """A square drawing pad whose value is the strokes drawn on it, as JSON (see `mnist_demo.sketch`).

    `size` is the side of the coordinate space the strokes are sent in (however large the pad shows
    on screen); the pen's width, `brush` (a radius), and its slider's range are in the same units,
    by default those of the 800 px pad scaled to `size`.
    """

    def __init__(self, value: str | None = None, *, size: int = CANVAS, brush: float | None = None,
                 **kwargs: Any) -> None:
        self.canvas = int(size)
        scale = size / CANVAS
        low, high = (max(1, round(r * scale)) for r in PAD_BRUSH_RANGE)
        brush = BRUSH_RADIUS * scale if brush is None else brush
        html = HTML.replace('class="pad"', f'class="pad" data-size="{self.canvas}"', 1)
        super().__init__(value=value, html_template=html, css_template=CSS, js_on_load=JS,
                         brush=round(brush), brush_min=low, brush_max=high, **kwargs)

    def api_info(self) -> dict[str, Any]:
        return {"type": "string", "description": 'the drawing as JSON: {"size": %d, "strokes": [[[x, y], ...], '
                "...]} in pixels of a size x size canvas, y down (see mnist_demo/reading/sketch.py)" % self.canvas}
