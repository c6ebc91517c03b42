"""The Train tab's live views: curves that grow while an epoch runs, the confusion heatmap, the filters.

Everything here is plain data for the page (pandas frames for `gr.LinePlot`,
small HTML), built from the engine's events; nothing here speaks Gradio. What
is sent stays small however long a training runs: each curve keeps at most
`MAX_POINTS` points, halving its older ones when it grows past that.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from enum import Enum

import numpy as np
import pandas as pd
import torch
from PIL import Image

from mnist_demo.training.engine import EpochResult, Progress

MAX_POINTS = 240  # a curve's points on the page; older ones are thinned to keep it so


class Series(str, Enum):
    """The curves, by what they show (the legend's words)."""

    TRAIN_ACCURACY = "training batches (running)"
    PROBE_ACCURACY = "test digits, a fixed 1,000"
    TEST_ACCURACY = "test set, each epoch's end"
    TRAIN_LOSS = "training loss (running)"
    TEST_LOSS = "test loss, each epoch's end"


COLORS = {Series.TRAIN_ACCURACY.value: "#60a5fa", Series.PROBE_ACCURACY.value: "#f97316",
          Series.TEST_ACCURACY.value: "#16a34a", Series.TRAIN_LOSS.value: "#60a5fa",
          Series.TEST_LOSS.value: "#16a34a"}  # gr.LinePlot's color_map: the same curve, the same colour
ACCURACY_SERIES = (Series.TRAIN_ACCURACY, Series.PROBE_ACCURACY, Series.TEST_ACCURACY)
LOSS_SERIES = (Series.TRAIN_LOSS, Series.TEST_LOSS)
COLUMNS = ["epoch", "value", "series"]


@dataclass
class LiveCurves:
    """Points of every curve so far, x in epochs (2.5: half-way through the third)."""

    points: dict[Series, list[tuple[float, float]]] = field(default_factory=lambda: {s: [] for s in Series})

    def add_progress(self, p: Progress) -> None:
        x = p.epochs_done
        self._add(Series.TRAIN_ACCURACY, x, 100 * p.accuracy)
        self._add(Series.TRAIN_LOSS, x, p.loss)
        if p.probe_accuracy is not None:
            self._add(Series.PROBE_ACCURACY, x, 100 * p.probe_accuracy)

    def add_epoch(self, r: EpochResult) -> None:
        self._add(Series.TEST_ACCURACY, float(r.epoch), 100 * r.test_accuracy)
        self._add(Series.TEST_LOSS, float(r.epoch), r.test_loss)

    def _add(self, series: Series, x: float, y: float) -> None:
        points = self.points[series]
        points.append((round(x, 4), round(y, 4)))
        if len(points) > MAX_POINTS:
            # Every other one of the older half goes: the recent curve stays detailed, the total bounded.
            half = len(points) // 2
            points[:half] = points[:half:2]

    def frame(self, series: tuple[Series, ...]) -> pd.DataFrame:
        """The points of `series`; a curve with none yet has one empty row (no value), so the plot's
        legend and colours hold every curve from the first frame on (Gradio 6.31 fixes them there)."""
        rows = [(x, y, s.value) for s in series for x, y in (self.points[s] or [(0.0, float("nan"))])]
        return pd.DataFrame(rows, columns=COLUMNS)

    def accuracy(self) -> pd.DataFrame:
        return self.frame(ACCURACY_SERIES)

    def loss(self) -> pd.DataFrame:
        return self.frame(LOSS_SERIES)


def _png(image: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def filters_html(filters: np.ndarray | None, columns: int = 8, cell: int = 40) -> str:
    """The first layer's filters as one small image (blue negative, red positive), or a note."""
    if filters is None or len(filters) == 0:
        return "<p class='filters-note'>The first layer's filters appear here while a model trains.</p>"
    n, h, w = filters.shape
    rows = -(-n // columns)
    grid = np.full((rows * (h + 1) + 1, columns * (w + 1) + 1, 3), 255, np.uint8)
    for i, f in enumerate(filters):
        r, c = divmod(i, columns)
        pos, neg = np.clip(f, 0, 1), np.clip(-f, 0, 1)
        tile = np.stack([1 - neg, 1 - pos - neg, 1 - pos], axis=-1)  # white at 0, red up, blue down
        grid[1 + r * (h + 1):1 + r * (h + 1) + h, 1 + c * (w + 1):1 + c * (w + 1) + w] = (tile * 255).astype(np.uint8)
    scale = max(1, cell // max(h, w))
    big = np.kron(grid, np.ones((scale, scale, 1), np.uint8))
    return (f"<img class='filters' src='{_png(big)}' alt='{n} first-layer filters ({h}x{w}): red where a "
            f"filter responds to ink, blue where to its absence' style='image-rendering: pixelated; max-width: 100%'>")


def confusion_html(confusion: torch.Tensor | None) -> str:
    """The confusion matrix as a heatmap table: rows the true digit, columns what the model read."""
    if confusion is None:
        return "<p class='confusion-note'>The confusion matrix of the trained model appears here.</p>"
    counts = confusion.tolist()
    off_peak = max([v for t, row in enumerate(counts) for p, v in enumerate(row) if p != t] + [1])
    head = "".join(f"<th>{d}</th>" for d in range(10))
    rows = []
    for t, row in enumerate(counts):
        total = max(sum(row), 1)
        cells = []
        for p, v in enumerate(row):
            # The diagonal in green by its share of the row; errors in red against the worst error.
            colour = (f"rgba(34,139,34,{0.15 + 0.6 * v / total:.2f})" if p == t
                      else f"rgba(220,38,38,{0.85 * v / off_peak:.2f})" if v else "transparent")
            cells.append(f"<td style='background:{colour}' title='true {t}, read as {p}: {v}'>{v}</td>")
        rows.append(f"<tr><th>{t}</th>{''.join(cells)}</tr>")
    caption = html.escape("rows: the true digit; columns: what the model read")
    return (f"<table class='confusion'><caption>{caption}</caption><thead><tr><th></th>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")
