"""The functions the web app's events call: library results in, component values out.

`app.py` lays out the page and wires each event to a method here; the work is
done by the UI-independent modules (`app_drawing`, `app_training`,
`app_views`). This module is the one place that speaks Gradio (gr.skip,
gr.update, gr.Request), so the rest stays usable from plain Python.
"""

from __future__ import annotations

from typing import Any, Iterator

import gradio as gr

from mnist_demo.app.drawing import DrawingReader, Reading, preview_html
from mnist_demo.app.settings import AppSettings
from mnist_demo.app.trainer import Trainer, TrainingFailed, TrainingRefused, TrainingReport
from mnist_demo.app.views import (RECIPE_FIELDS, curves, confusion_table, epochs_table, misclassified, model_summary,
                        per_class_table, progress_html, recipe_changes, recipe_text, recipe_values)
from mnist_demo.checkpoint import LoadedModel
from mnist_demo.models import DEFAULT_MODEL, REGISTRY
from mnist_demo.reading.predictor import Predictor
from mnist_demo.reading.sketch import SketchError, parse_sketch
from mnist_demo.reading.images import UploadRejected, read_upload
from mnist_demo.training.engine import EpochResult, Progress

def _owner(request: gr.Request | None) -> str:
    """Whose training this is: the visitor's browser session (or API client), else a local caller."""
    return getattr(request, "session_hash", None) or "local"


class WebApp:
    """One per server: the shared drawing reader and the one trainer behind every visitor's page."""

    def __init__(self, settings: AppSettings | None = None) -> None:
        self.settings = settings or AppSettings.from_env()
        self.reader = DrawingReader(self.settings.weights)
        self.trainer = Trainer(self.settings)

    # ------------------------------------------------------------ Draw tab

    def predict(self, drawing: str | None, k: float | None = 3, own: Predictor | None = None
                ) -> tuple[Any, str, str]:
        """The pad's strokes (JSON) -> (top-k label, status line, preview HTML of the 28x28 image seen)."""
        try:
            sketch = parse_sketch(drawing)
        except SketchError as exc:
            return None, f"**Could not read the drawing: {exc}.**", preview_html(None)
        return self._shown(self.reader.read(sketch, int(k or 3), own), sketch.version)

    def predict_image(self, path: str | None, k: float | None = 3, own: Predictor | None = None
                      ) -> tuple[Any, str, str]:
        """An uploaded picture of a digit (a file Gradio received) -> the same outputs as `predict`."""
        try:
            image = read_upload(path, max_bytes=self.settings.max_upload_bytes)
        except UploadRejected as exc:
            return None, f"**{exc}.**", preview_html(None)
        return self._shown(self.reader.read(image, int(k or 3), own))

    @staticmethod
    def _shown(r: Reading, version: int = 0) -> tuple[Any, str, str]:
        if r.status == "error":
            return None, f"**{r.message}**", preview_html(None, version)
        return r.label, r.message, preview_html(r.image, version)

    def describe(self, own: Predictor | None = None) -> str:
        return self.reader.describe(own)

    def use_trained(self, trained: LoadedModel | None, own: Predictor | None) -> tuple[Predictor | None, str]:
        """Switch this visitor's Draw tab to the model they trained: (their predictor, model line)."""
        if trained is None:
            gr.Warning("Train a model first: there is nothing to use yet.")
            return own, self.reader.describe(own)
        own = self.reader.own_predictor(trained)
        return own, self.reader.describe(own)

    def use_shared(self) -> tuple[None, str]:
        """Back to the shipped model: (no own predictor, model line)."""
        return None, self.reader.describe(None)

    # ------------------------------------------------------------ Train tab

    def training_intro(self) -> str:
        s = self.settings
        if not s.allow_training:
            return ("Training is turned off on this server (`MNIST_DEMO_ALLOW_TRAINING=0`). "
                    "Run the app on your own machine to train: `python app.py`.")
        limits = [f"at most {s.max_epochs} epochs"]
        if s.train_limit:
            limits.append(f"the first {s.train_limit:,} training digits")
        if s.test_limit:
            limits.append(f"the first {s.test_limit:,} test digits")
        return ("Pick a model and its recipe, then Train: each epoch's test accuracy and losses appear "
                f"as it ends. One training runs at a time on this server; this one allows {', '.join(limits)}.")

    def model_fields(self, model: str) -> tuple[Any, ...]:
        """(summary, epochs, *RECIPE_FIELDS) for `model`: the Train tab's fields filled from the registry."""
        if model not in REGISTRY:
            model = DEFAULT_MODEL
        values = recipe_values(model, self.settings.max_epochs)
        return (model_summary(model), values["epochs"], *(values[f] for f in RECIPE_FIELDS))

    def before_train(self) -> str:
        """Status line the moment Train is pressed, before the queue lets the training in."""
        if self.trainer.busy:
            return ("**Waiting:** another visitor's training is running on this server. Yours is queued and "
                    "starts when it ends; your place in the queue shows above.")
        return "Starting…"

    def train(self, model: str, epochs: float | None = None, optimizer: str | None = None,
              lr: float | None = None, momentum: float | None = None, weight_decay: float | None = None,
              batch_size: float | None = None, schedule: str | None = None, gamma: float | None = None,
              step_size: float | None = None, val_split: float | None = None, augment: str | None = None,
              label_smoothing: float | None = None, pen_digits: str | None = None,
              request: gr.Request | None = None) -> Iterator[tuple[Any, ...]]:
        """Train for this visitor, streaming one tuple of outputs per engine event.

        The outputs: (progress bar HTML, status line, curves figure, epochs table,
        per-digit table, confusion table, misclassified figure, weights file, the
        trained LoadedModel, the "Use in Draw tab" button); gr.skip() where
        nothing changed. Recipe fields left None keep the model's registry
        recipe (that is what API clients get for the fields they leave out).
        """
        skip = gr.skip()
        changes = recipe_changes(dict(epochs=epochs, optimizer=optimizer, lr=lr, momentum=momentum,
                                      weight_decay=weight_decay, batch_size=batch_size, schedule=schedule,
                                      gamma=gamma, step_size=step_size, val_split=val_split, augment=augment,
                                      label_smoothing=label_smoothing, pen_digits=pen_digits))
        history: list[EpochResult] = []
        try:
            recipe_ = self.trainer.recipe_for(model, **changes)
            self.trainer.check(model, recipe_)
            events = self.trainer.run(_owner(request), model, recipe_)  # starts on the first event asked for
            yield (progress_html(None, recipe_.epochs, "Preparing the training data…"),
                   f"Training **{model}**: {recipe_text(recipe_)}.", None, epochs_table([]),
                   per_class_table(None), confusion_table(None), None, None, skip, gr.update(interactive=False))
            for event in events:
                if isinstance(event, Progress):
                    yield (progress_html(event, recipe_.epochs), skip, skip, skip, skip, skip, skip, skip, skip, skip)
                elif isinstance(event, EpochResult):
                    history.append(event)
                    yield (skip, f"Training **{model}**: {event.summary()}", curves(history),
                           epochs_table(history), skip, skip, skip, skip, skip, skip)
                elif isinstance(event, TrainingReport):
                    yield self._finished(event)
        except (TrainingRefused, TrainingFailed) as exc:
            yield ("", f"**Not trained.** {exc}", skip, skip, skip, skip, skip, skip, skip, skip)

    def _finished(self, report: TrainingReport) -> tuple[Any, ...]:
        notes = "".join(f"\n\nNote: {n}" for n in report.notes)
        if report.loaded is None or report.evaluation is None or report.test_data is None:
            return ("", f"{report.summary()}{notes}", gr.skip(), epochs_table(report.history),
                    per_class_table(None), confusion_table(None), None, None, None, gr.update(interactive=False))
        ev, test = report.evaluation, report.test_data
        status = f"**{report.summary()}** Press **Use in Draw tab** to draw with it.{notes}"
        return ("", status, gr.skip(), epochs_table(report.history), per_class_table(ev.confusion),
                confusion_table(ev.confusion), misclassified(test.images, test.labels, ev.predictions),
                str(report.weights_file), report.loaded, gr.update(interactive=True))

    def forget_visitor(self, request: gr.Request | None = None) -> None:
        """A visitor closed the page: their training stops and their weights file goes."""
        self.trainer.forget(_owner(request))

    def stop(self, request: gr.Request | None = None) -> str:
        """Stop this visitor's training within one batch; the best model so far is kept."""
        if self.trainer.stop(_owner(request)):
            return "Stopping after this batch; the best model so far is kept…"
        return "No training of yours is running."
