"""An adapter for other apps: a Gradio Sketchpad/ImageEditor value in front of the same pipeline.

This app's pad sends strokes (`sketch.Sketch`); a `gr.Sketchpad` hands over a
dict of image layers instead: {"background", "layers", "composite"}. Its ink is
the drawing layers' alpha when a layer holds any; otherwise the composite read
as a picture, against the background's colour when that is one plain colour.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from mnist_demo.reading.images import to_array
from mnist_demo.reading.ink import alpha_mask, ink_from_image, uniform_level
from mnist_demo.reading.sketch import Sketch


def _layers_ink(layers: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """(max alpha over the drawing layers, its ink mask), or None when no layer holds any ink."""
    found = []
    for layer in layers or []:
        if layer is None:
            continue
        arr = to_array(layer)
        if arr.ndim != 3 or arr.shape[-1] != 4:
            continue
        mask = alpha_mask(arr)
        if mask.any():
            found.append((arr[..., 3], mask))
    if not found:
        return None
    if len(found) == 1:
        return found[0]
    return np.maximum.reduce([a for a, _ in found]), np.logical_or.reduce([m for _, m in found])


def sketchpad_ink(value: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray | None] | None:
    """(ink map, its mask or None) of a Sketchpad value, or None when it holds no ink."""
    found = _layers_ink(value.get("layers"))
    if found is not None:
        return found
    image = value.get("composite")
    if image is None:
        image = value.get("background")
    if image is None:
        return None
    arr = to_array(image)
    # A plain canvas tells us the background colour for sure, even when the ink covers the border.
    bg = value.get("background")
    bg = to_array(bg) if bg is not None else None
    level = uniform_level(bg) if bg is not None and bg.shape[:2] == arr.shape[:2] else None
    return ink_from_image(arr, level)


LIGHT_BACKGROUND = (255, 255, 255, 255)
DARK_BACKGROUND = (51, 51, 51, 255)  # Gradio's dark theme canvas, #333333
THEMES = ("light", "dark")


def sketchpad_value(sketch: Sketch, theme: str = "light",
                    ink: tuple[int, int, int] | None = None) -> dict[str, np.ndarray]:
    """What a `gr.Sketchpad` hands over for this drawing: {"background", "layers": [layer], "composite"}.

    RGBA uint8 (size, size, 4) arrays; the layer is transparent except for the
    ink, as the browser's canvas exports it. For testing this adapter (and
    other apps' values) against the pad's own path.
    """
    if theme not in THEMES:
        raise ValueError(f"theme must be one of {THEMES}, not {theme!r}")
    background = LIGHT_BACKGROUND if theme == "light" else DARK_BACKGROUND
    color = ink if ink is not None else ((0, 0, 0) if theme == "light" else (255, 255, 255))
    inked = sketch.ink() != 0
    # Whole pixels as little-endian uint32 words: one pass an array instead of one a channel.
    bg_word, ink_word = _word(background), _word((*color, 255))
    n = sketch.size

    def rgba(words: np.ndarray) -> np.ndarray:
        return words.view(np.uint8).reshape(n, n, 4)

    return {"background": rgba(np.full((n, n), bg_word, np.uint32)),
            "layers": [rgba(np.where(inked, ink_word, np.uint32(0)))],
            "composite": rgba(np.where(inked, ink_word, bg_word))}


def _word(rgba: tuple[int, ...]) -> np.uint32:
    return np.array(rgba, np.uint8).view("<u4")[0]
