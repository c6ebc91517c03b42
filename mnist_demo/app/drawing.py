"""The Draw tab's answers: the shared reader, each visitor's own, and what to show.

Every visitor starts with the shared reader (the shipped weights); a visitor
who trains a model, or fits one to their hand, may switch *their* Draw tab to
it. The shared reader is loaded once and never modified, so no visitor
changes what another one gets.
"""

from __future__ import annotations

import base64
import io
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from mnist_demo.base.status import Problem, Status
from mnist_demo.models.checkpoint import CheckpointError, LoadedModel
from mnist_demo.reading.preprocess import model_input
from mnist_demo.reading.reader import Prediction, Reader
from mnist_demo.reading.saliency import overlay, saliency

log = logging.getLogger(__name__)

TOP_K_MAX = 10
# Short headlines for the label when there is no confident answer; the status line says more.
EMPTY_LABEL = "Draw a digit"
UNSURE_LABEL = "Not sure"
NOT_A_DIGIT_LABEL = "Not a digit yet"


@dataclass
class Answer:
    """What the Draw tab shows for one drawing."""

    status: Status  # the reader's OK, UNSURE or EMPTY, or ERROR (no model, unreadable image)
    label: dict[str, float] | str | None  # for a gr.Label: digit -> probability, or a short headline
    message: str  # one line for people: the answer, or what to do
    image: np.ndarray | None  # uint8 (28, 28): what the model saw
    model: str  # which model answered
    heat: np.ndarray | None = None  # float32 (28, 28) in [0, 1]: where the model found its top answer


def _percent(fraction: float | None) -> str:
    return "unknown accuracy" if fraction is None else f"{100 * fraction:.2f}% test accuracy"


def _beside(reader: Reader) -> str:
    """Says so when a stroke reader reads the pad's drawings beside the model."""
    return "" if reader.strokes is None else f", with **{reader.strokes.name}** reading the pen's path"


class DrawTab:
    """Turns drawings into Answers with the shared reader or a visitor's own."""

    def __init__(self, weights: str | Path, device: str | None = None) -> None:
        self.weights = Path(weights)
        self.device = device
        self.shared: Reader | None = None
        self.problem: str | None = None  # why there is no shared model
        self._lock = threading.Lock()
        try:
            self.shared = Reader.load(self.weights, device=device)
        except (CheckpointError, OSError) as exc:
            # The app still starts: the Train tab can make a model for the visitor.
            self.problem = (f"No model to read drawings with: {exc}. Train one in the Train tab, "
                            f"or point MNIST_DEMO_WEIGHTS at a weights file.")
            log.error("cannot load the weights the Draw tab answers with: %s", exc)

    def own_reader(self, trained: LoadedModel) -> Reader:
        """A reader of a model a visitor trained (the shared one stays as it is)."""
        return Reader(trained, device=self.device)

    def describe(self, own: Reader | None = None) -> str:
        """Markdown: which model answers this visitor's drawings."""
        if own is not None and isinstance(own.info.get("finetuned_from"), dict):
            n = own.info["finetuned_from"].get("drawings", "your")
            return (f"Answering: **{own.model_name} fitted to your handwriting** ({n} drawings; "
                    f"{_percent(own.test_accuracy)}){_beside(own)}. Only you see it.")
        if own is not None:
            return (f"Answering: **{own.model_name}**, the model you trained "
                    f"({_percent(own.test_accuracy)}){_beside(own)}. Only you see it.")
        if self.shared is None:
            return f"**{self.problem}**"
        return (f"Answering: **{self.shared.model_name}** ({_percent(self.shared.test_accuracy)} on MNIST)"
                f"{_beside(self.shared)}.")

    def read(self, value: Any, k: int = 3, own: Reader | None = None) -> Answer:
        """Read the pad's strokes (a Sketch), or any image preprocess accepts, with `own` or the shared model."""
        reader = own or self.shared
        if reader is None:
            return Answer(Status.ERROR, None, self.problem or "no model", None, "none")
        k = max(1, min(int(k or 3), TOP_K_MAX))
        try:
            prediction = reader.read(value, k=k)
        except (ValueError, OSError) as exc:  # an upload that is not an image
            return Answer(Status.ERROR, None, f"Could not read that image: {exc}", None, reader.model_name)
        answer = self._answer(prediction, reader.model_name)
        if answer.status in (Status.OK, Status.UNSURE) and prediction.digit is not None:
            answer.heat = self._heat(reader, prediction)
        return answer

    @staticmethod
    def _heat(reader: Reader, p: Prediction) -> np.ndarray | None:
        """Where the model looked for its top answer; None if that fails: the answer matters more than the map."""
        try:
            x = model_input(p.image).to(reader.device)  # what preprocess gave the model
            return saliency(reader.picture.model, x, int(p.digit))
        except Exception:  # whatever goes wrong with the map, the reading stands without it
            log.exception("no saliency map for a reading of %s", reader.model_name)
            return None

    @staticmethod
    def _answer(p: Prediction, model: str) -> Answer:
        if p.status is Status.OK:
            return Answer(Status.OK, p.label_dict(), f"{p.message} ({100 * p.top[0][1]:.0f}% sure).", p.image, model)
        if p.status is Status.UNSURE:
            # Never a digit as the headline of a guess: the label says so, the status line lists the guesses.
            guesses = ", ".join(f"{d} ({100 * q:.0f}%)" for d, q in p.top)
            return Answer(Status.UNSURE, UNSURE_LABEL, f"{p.message}. Best guesses: {guesses}.", p.image, model)
        headline = EMPTY_LABEL if p.problem is Problem.NOTHING_DRAWN else NOT_A_DIGIT_LABEL
        return Answer(p.status, headline, p.message, None, model)


PREVIEW_PX = 196  # the 28x28 image shown 7x, its pixels square


def _png_data_url(pixels: np.ndarray) -> str:
    """uint8 (H, W) gray or (H, W, 3) RGB -> an inline PNG."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels, np.uint8)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def preview_html(image: np.ndarray | None, version: int = 0, heat: np.ndarray | None = None) -> str:
    """The 28x28 image the model saw, inline (no file to fetch), tagged with the drawing's version.

    `data-version` tells the page (and its tests) which drawing this answer is for.
    With `heat` (a `saliency` map), the image comes with a second one beside it:
    where the model looked. That one is a div with a background image and
    role='img', not an <img>, so `#preview img` still finds the 28x28 alone.
    """
    if image is None:
        return (f"<div class='preview preview-empty' data-version='{int(version)}' "
                f"style='width:{PREVIEW_PX}px;height:{PREVIEW_PX}px'></div>")
    pixels = np.asarray(image, np.uint8)
    seen = (f"<img class='preview' data-version='{int(version)}' src='{_png_data_url(pixels)}' "
            f"width='{PREVIEW_PX}' height='{PREVIEW_PX}' alt='The 28×28 image the model sees'>")
    if heat is None:
        return seen
    looked = (f"<div class='preview-heat' role='img' aria-label='Where the model looked' "
              f"title='Where the model looked' style='width:{PREVIEW_PX}px;height:{PREVIEW_PX}px;"
              f"background:#000 center / 100% 100% no-repeat url({_png_data_url(overlay(pixels, heat))});"
              f"image-rendering:pixelated'></div>")
    return (f"<div class='preview-pair' data-version='{int(version)}'>"
            f"<figure>{seen}<figcaption>what the model sees</figcaption></figure>"
            f"<figure>{looked}<figcaption>where it looked</figcaption></figure></div>")
