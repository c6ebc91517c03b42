"""The functions the web app's events call: library results in, component values out.

`page.py` lays out the page and wires each event to a method here; the work is
done by the UI-independent modules (`drawing`, `trainer`, `views`). Handlers
answer by name, never by position: `model_fields` a dict keyed by field name,
`train` a `TrainOutputs` per step, which `page.py` maps onto its components.
This module is the one place that speaks Gradio (gr.update, gr.Request,
gr.Warning), so the rest stays usable from plain Python.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Iterator

import gradio as gr

from mnist_demo.app.charts import LiveCurves
from mnist_demo.app.collecting import Handwriting
from mnist_demo.app.drawing import Answer, DrawTab, preview_html
from mnist_demo.app.limits import time_limit_text, within_limits
from mnist_demo.app.outputs import TrainOutputs, finished, owner
from mnist_demo.app.settings import ALLOW_TRAINING_VAR, AppSettings
from mnist_demo.app.trainer import Trainer, TrainingFailed, TrainingRefused, TrainingReport
from mnist_demo.app.views import TRAIN_FIELDS, model_summary, progress_html, recipe_changes, recipe_text, recipe_values
from mnist_demo.models.checkpoint import LoadedModel
from mnist_demo.models.registry import DEFAULT_MODEL, get_spec, image_models
from mnist_demo.reading.images import UploadRejected, read_image
from mnist_demo.reading.reader import Reader
from mnist_demo.reading.sketch import SketchError, parse_sketch
from mnist_demo.training.engine import EpochResult


def _train_fields_as_keywords(method: Callable) -> Callable:
    """Declare the Train tab's fields (`views.TRAIN_FIELDS`) as keyword parameters of
    `method(self, model, request=None, **recipe)`, each None by default, so Gradio's API and
    gradio_client list each one by name, as optional."""
    signature = inspect.signature(method)
    fixed = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    keywords = [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=None) for f in TRAIN_FIELDS]
    method.__signature__ = signature.replace(parameters=[*fixed, *keywords])
    return method


class WebApp:
    """One per server: the shared drawing reader and the one trainer behind every visitor's page."""

    def __init__(self, settings: AppSettings | None = None) -> None:
        self.settings = settings or AppSettings.from_env()
        self.draw_tab = DrawTab(self.settings.weights)
        self.trainer = Trainer(self.settings)
        # "Was it right?", the visitor's collection, "Fit to my hand"
        self.handwriting = Handwriting(self.settings, self.trainer, self.draw_tab)

    # ------------------------------------------------------------ Draw tab

    def predict(self, drawing: str | None, k: float | None = 3, own: Reader | None = None
                ) -> tuple[Any, str, str]:
        """The pad's strokes (JSON) -> (top-k label, status line, preview HTML of the 28x28 image seen)."""
        try:
            sketch = parse_sketch(drawing)
        except SketchError as exc:
            return None, f"**Could not read the drawing: {exc}.**", preview_html(None)
        return self._shown(self.draw_tab.read(sketch, int(k or 3), own), sketch.version)

    def predict_image(self, path: str | None, k: float | None = 3, own: Reader | None = None
                      ) -> tuple[Any, str, str]:
        """An uploaded picture of a digit (a file Gradio received) -> the same outputs as `predict`."""
        try:
            image = read_image(path, max_bytes=self.settings.max_upload_bytes)
        except UploadRejected as exc:
            return None, f"**{exc}.**", preview_html(None)
        return self._shown(self.draw_tab.read(image, int(k or 3), own))

    @staticmethod
    def _shown(r: Answer, version: int = 0) -> tuple[Any, str, str]:
        if r.status == "error":
            return None, f"**{r.message}**", preview_html(None, version)
        return r.label, r.message, preview_html(r.image, version, r.heat)

    def describe(self, own: Reader | None = None) -> str:
        return self.draw_tab.describe(own)

    def use_trained(self, trained: LoadedModel | None, own: Reader | None) -> tuple[Reader | None, str]:
        """Switch this visitor's Draw tab to the model they trained: (their reader, model line)."""
        if trained is None:
            gr.Warning("Train a model first: there is nothing to use yet.")
            return own, self.draw_tab.describe(own)
        own = self.draw_tab.own_reader(trained)
        return own, self.draw_tab.describe(own)

    def use_shared(self) -> tuple[None, str]:
        """Back to the shipped model: (no own reader, model line)."""
        return None, self.draw_tab.describe(None)

    # ------------------------------------------------------------ Train tab

    def training_intro(self) -> str:
        s = self.settings
        if not s.allow_training:
            return (f"Training is turned off on this server (`{ALLOW_TRAINING_VAR}=0`). "
                    "Run the app on your own machine to train: `python app.py`.")
        limits = [f"at most {s.max_epochs} epochs", f"batches of at most {s.max_batch_size}",
                  f"{s.max_steps:,} steps (epochs x batches an epoch)",
                  f"{time_limit_text(s)} a training (it then stops, keeping the best model so far)"]
        if s.train_limit:
            limits.append(f"the first {s.train_limit:,} training digits")
        if s.test_limit:
            limits.append(f"the first {s.test_limit:,} test digits")
        return ("Pick a model and its recipe, then Train: the curves move while it learns (the running "
                "accuracy and loss, a fixed 1,000 test digits every few seconds, the whole test set at each "
                "epoch's end), and the first layer's filters change as they learn. One training runs at a "
                f"time on this server; this one allows {', '.join(limits)}.")

    def model_fields(self, model: str) -> dict[str, Any]:
        """The Train tab's fields for `model`, by name: "about" (its summary) and each of TRAIN_FIELDS
        filled from its registry recipe."""
        if model not in image_models():
            model = DEFAULT_MODEL
        return {"about": model_summary(model), **recipe_values(within_limits(self.settings, get_spec(model).recipe))}

    def warm_up(self) -> None:
        """A visitor opened the Train tab: get the training worker and MNIST ready before they press Train."""
        self.trainer.warm_up()

    def before_train(self) -> str:
        """Status line the moment Train is pressed, before the queue lets the training in."""
        if self.trainer.busy:
            return ("**Waiting:** another visitor's training is running on this server. Yours is queued and "
                    "starts when it ends; your place in the queue shows above.")
        return "Starting…"

    @_train_fields_as_keywords
    def train(self, model: str, request: gr.Request | None = None, **recipe: Any) -> Iterator[TrainOutputs]:
        """Train for this visitor, streaming what changes on the Train tab after each engine event.

        `recipe` holds the Train tab's fields (epochs, optimizer, lr, ...: `views.TRAIN_FIELDS`, each
        a keyword parameter here). Fields left None keep the model's registry recipe (that is what
        API clients get for the fields they leave out); a name that is not a recipe field is refused.
        """
        history: list[EpochResult] = []
        curves = LiveCurves()
        try:
            recipe_ = self.trainer.recipe_for(model, **recipe_changes(recipe))
            self.trainer.check(model, recipe_)
            events = self.trainer.run(owner(request), model, recipe_)  # starts on the first event asked for
            slow = not self.trainer.drawings_ready(recipe_)  # a recipe that draws nothing is ready
            preparing = "Starting…" if self.trainer.ready() and not slow else "Preparing the training data…" + (
                " (drawing the pen digits takes a minute or two the first time)" if slow else "")
            yield TrainOutputs.starting(progress_html(None, recipe_.epochs, preparing),
                                        f"Training **{model}**: {recipe_text(recipe_)}.")
            for event in events:
                status = f"Training **{model}**: {event.summary()}" if isinstance(event, EpochResult) else None
                step = TrainOutputs.live(event, curves, history, recipe_.epochs, status)
                if step is not None:
                    yield step
                elif isinstance(event, TrainingReport):
                    yield finished(event)
        except (TrainingRefused, TrainingFailed) as exc:
            yield TrainOutputs(progress="", status=f"**Not trained.** {exc}")

    def forget_visitor(self, request: gr.Request | None = None) -> None:
        """A visitor closed the page: their training stops, and their weights file and collection file go."""
        who = owner(request)
        if who is not None:
            self.trainer.forget(who)

    def stop(self, request: gr.Request | None = None) -> str:
        """Stop this visitor's training within one batch; the best model so far is kept."""
        who = owner(request)
        if who is not None and self.trainer.stop(who):
            return "Stopping after this batch; the best model so far is kept…"
        return "No training of yours is running."
