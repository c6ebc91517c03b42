"""What a training's steps change on the Train tab, by name; and whose request it is.

`TrainOutputs` is shared by the Train tab's trainings (`handlers`) and the
fits to a visitor's hand (`collecting`): each step names the outputs it
changes, and `page.py` maps the names onto its components (`by_name`).
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Iterator, Mapping

import gradio as gr

from mnist_demo.app.charts import LiveCurves, confusion_html, filters_html
from mnist_demo.app.trainer import TrainingReport
from mnist_demo.app.views import confusion_table, epochs_table, misclassified, per_class_table, progress_html
from mnist_demo.models.checkpoint import LoadedModel
from mnist_demo.training.engine import EpochResult, Progress

LOCAL = "local"  # the owner of what a caller in this process (no web request) does


def owner(request: gr.Request | None) -> str | None:
    """Whose training, collection and files these are: the visitor's session (the page's, or an API client's),
    or LOCAL for a call from Python; None for a web request without a session (a raw HTTP call), which
    gets no files and no training: all such calls would share one owner."""
    if request is None:
        return LOCAL
    return getattr(request, "session_hash", None) or None


CLEAR = object()  # a TrainOutputs value: empty this output (None leaves it as it is)


@dataclass
class TrainOutputs:
    """What one step of a training changes on the Train tab, by name.

    None leaves an output as it is; CLEAR empties it. `updates` turns it into
    what a Gradio event returns: {component: new value} for the outputs that change.
    """

    progress: str | None = None  # the progress bar (HTML)
    status: str | None = None  # the status line (Markdown)
    accuracy_curves: Any = None  # accuracy as it trains, x in epochs (a DataFrame for gr.LinePlot; charts.py)
    loss_curves: Any = None  # the losses, the same way
    filters: str | None = None  # the first layer's filters as they learn (HTML)
    epochs_table: Any = None  # one row an epoch (a DataFrame)
    per_class: Any = None  # per-digit accuracy of the kept model (a DataFrame)
    confusion: Any = None  # its confusion matrix (a DataFrame, for API clients)
    heatmap: str | None = None  # the same as a heatmap (HTML, for people)
    misclassified: Any = None  # its misclassified test digits (a figure)
    weights_file: str | Any | None = None  # its weights, for download
    # Not sent to API clients (Gradio leaves out a State and a Button):
    trained: LoadedModel | Any | None = field(default=None, metadata={"api": False})  # the kept model, for the visitor
    use_button: bool | None = field(default=None, metadata={"api": False})  # whether "Use in Draw tab" can be pressed

    @classmethod
    def starting(cls, progress: str, status: str) -> "TrainOutputs":
        """The first step of a training or a fit: every result of the last one cleared."""
        return cls(progress=progress, status=status, accuracy_curves=CLEAR, loss_curves=CLEAR,
                   filters=filters_html(None), epochs_table=epochs_table([]), per_class=per_class_table(None),
                   confusion=confusion_table(None), heatmap=confusion_html(None), misclassified=CLEAR,
                   weights_file=CLEAR, use_button=False)

    @classmethod
    def live(cls, event: Any, curves: LiveCurves, history: list[EpochResult], epochs: int,
             status: str | None = None) -> "TrainOutputs | None":
        """The step a Progress or an EpochResult makes on the curves and tables (None for other events).
        `status`: the status line after an epoch."""
        if isinstance(event, Progress):
            curves.add_progress(event)
            return cls(progress=progress_html(event, epochs), accuracy_curves=curves.accuracy(),
                       loss_curves=curves.loss(),
                       filters=None if event.filters is None else filters_html(event.filters))
        if isinstance(event, EpochResult):
            history.append(event)
            curves.add_epoch(event)
            return cls(status=status, accuracy_curves=curves.accuracy(), loss_curves=curves.loss(),
                       epochs_table=epochs_table(history))
        return None

    def updates(self, components: Mapping[str, Any]) -> dict[Any, Any]:
        """{component: value} for the outputs that change; `components` maps each field's name to its component."""
        changed = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if f.name == "use_button":
                value = gr.update(interactive=value)
            changed[components[f.name]] = None if value is CLEAR else value
        return changed


TRAIN_OUTPUTS = tuple(f.name for f in fields(TrainOutputs))
# What gradio_client gets from /train, a tuple in this order (page.py checks it against Gradio's own rule).
TRAIN_API_OUTPUTS = tuple(f.name for f in fields(TrainOutputs) if f.metadata.get("api", True))


def finished(report: TrainingReport) -> TrainOutputs:
    """The last step of a training or a fit: its result on the Train tab (or why there is none)."""
    notes = "".join(f"\n\nNote: {n}" for n in report.notes)
    if report.loaded is None or report.evaluation is None or report.test_data is None:
        return TrainOutputs(progress="", status=f"{report.summary()}{notes}",
                            epochs_table=epochs_table(report.history), per_class=per_class_table(None),
                            confusion=confusion_table(None), heatmap=confusion_html(None), misclassified=CLEAR,
                            weights_file=CLEAR, trained=CLEAR, use_button=False)
    ev, test = report.evaluation, report.test_data
    status = f"**{report.summary()}** Press **Use in Draw tab** to draw with it.{notes}"
    return TrainOutputs(progress="", status=status,
                        epochs_table=epochs_table(report.history), per_class=per_class_table(ev.confusion, ev.other),
                        confusion=confusion_table(ev.confusion), heatmap=confusion_html(ev.confusion),
                        misclassified=misclassified(test.images, test.labels, ev.predictions),
                        weights_file=str(report.weights_file) if report.weights_file else CLEAR,  # none: left
                        trained=report.loaded, use_button=True)


def by_name(handler: Callable, components: Mapping[str, Any]) -> Callable:
    """`handler`, whose answers name what they change (a dict, or a TrainOutputs per step of a generator),
    as a Gradio event function answering {component: value}. Its signature stays the handler's, for the API."""
    if inspect.isgeneratorfunction(handler):
        def event(*args: Any, **kwargs: Any) -> Iterator[dict]:
            for step in handler(*args, **kwargs):
                yield step.updates(components)
    else:
        def event(*args: Any, **kwargs: Any) -> dict:  # type: ignore[misc]
            return {components[name]: value for name, value in handler(*args, **kwargs).items()}
    functools.update_wrapper(event, handler)
    event.__signature__ = inspect.signature(handler)  # a bound method's: without `self`
    return event
