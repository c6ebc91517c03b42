"""The page: its layout, and each event wired to a `WebApp` handler (`mnist_demo.app.handlers`).

The limits for public hosting come from environment variables (`mnist_demo.app.settings`).
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
from typing import Any, Callable, Iterator, Mapping

import gradio as gr

from mnist_demo.app.drawing import EMPTY_LABEL, TOP_K_MAX, preview_html
from mnist_demo.app.hosting import gpu_training
from mnist_demo.app.settings import AppSettings, SettingsError
from mnist_demo.training.remote import start_training_server
from mnist_demo.app import views
from mnist_demo.app.charts import COLORS as CURVE_COLORS, confusion_html, filters_html
from mnist_demo.models import DEFAULT_MODEL, REGISTRY
from mnist_demo.app.drawpad import DrawPad
from mnist_demo.reading.images import MAX_UPLOAD_BYTES
from mnist_demo.app.handlers import TRAIN_API_OUTPUTS, TRAIN_OUTPUTS, WebApp
from mnist_demo.app.views import TRAIN_FIELDS, TrainField

CSS = """
#preview .preview { width: 196px; height: 196px; image-rendering: pixelated; background: #000; border-radius: 4px; }
#preview .preview-pair { display: flex; flex-wrap: wrap; gap: 12px; }
#preview .preview-pair figure { margin: 0; }
#preview .preview-pair figcaption { font-size: .8em; opacity: .75; text-align: center; }
#preview .preview-heat { border-radius: 4px; }  /* size, image and pixelated rendering are inline */
#progress { min-height: 3.5em; }  /* room for the queue position while a training waits */
.train-progress { display: flex; align-items: center; gap: .75em; min-height: 1.6em; }
.train-progress progress { flex: 1; height: 1em; }
@media (max-width: 640px) { #sketch .html-container { padding: 0 !important; } }
"""
# On a phone the pad takes the screen's width: Gradio's page margins would leave it three quarters.
# In <head> because Gradio scopes `css` to the page's content, and these margins are outside it.
HEAD = """<style>
@media (max-width: 640px) { .gradio-container .main { padding-left: 8px !important; padding-right: 8px !important; } }
</style>"""


def _field_widget(f: TrainField, **kwargs: Any) -> gr.components.Component:
    """The Train tab's widget for a recipe field, empty until `WebApp.model_fields` fills in the model's recipe:
    its choices in a dropdown, yes/no for a switch, else a number."""
    if f.choices:
        return gr.Dropdown(list(f.choices), value=None, label=f.label, **kwargs)
    if f.kind is bool:
        return gr.Dropdown(["yes", "no"], value=None, label=f.label, **kwargs)
    return gr.Number(value=None, precision=0 if f.kind is int else None, label=f.label, **kwargs)


def _by_name(handler: Callable, components: Mapping[str, Any]) -> Callable:
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


def build_app(settings: AppSettings | None = None, app: WebApp | None = None) -> gr.Blocks:
    """The page; `app` (default: a new WebApp of `settings`) answers its events."""
    app = app or WebApp(settings)
    max_epochs = app.settings.max_epochs
    recipe_fields = {f.name: f for f in TRAIN_FIELDS}

    with gr.Blocks(title="Draw a digit · MNIST", delete_cache=(3600, 3600)) as demo:
        own_model = gr.State(None)  # this visitor's model for the Draw tab; None: the shared one
        trained = gr.State(None)  # the model this visitor trained last (a LoadedModel)

        gr.Markdown("# Draw a digit\nA small convolutional network trained on MNIST reads what you draw. "
                    "In the **Train** tab you can train your own and watch it learn.")

        with gr.Tab("Draw"):
            with gr.Row():
                with gr.Column(scale=3, min_width=280):
                    pad = DrawPad(elem_id="sketch")
                    with gr.Accordion("Or upload a picture of a digit", open=False):
                        upload = gr.File(file_types=["image"], type="filepath", label="A photo or scan of one digit",
                                         elem_id="upload")
                with gr.Column(scale=2, min_width=240):
                    label = gr.Label(value=EMPTY_LABEL, label="Prediction", elem_id="prediction")
                    status = gr.Markdown("Draw a digit from 0 to 9 in the box.", label="Status", elem_id="status")
                    top_k = gr.Slider(1, TOP_K_MAX, value=3, step=1, label="Guesses to show", elem_id="top_k")
                    gr.Markdown("**What the model sees (28×28)**")
                    preview = gr.HTML(preview_html(None), elem_id="preview", js_on_load=None)
                    model_line = gr.Markdown(app.describe(), label="Model", elem_id="model_line")
                    shared_btn = gr.Button("Back to the shipped model", size="sm")

        with gr.Tab("Train"):
            gr.Markdown(app.training_intro())
            with gr.Row():
                with gr.Column(scale=1, min_width=300):
                    model = gr.Dropdown(list(REGISTRY), value=DEFAULT_MODEL, label="Model", elem_id="model")
                    about = gr.Markdown()
                    # The recipe's fields by name (views.TRAIN_FIELDS): epochs on a slider, the rest below.
                    form = {"epochs": gr.Slider(1, max_epochs, value=None, step=1,
                                                label=recipe_fields["epochs"].label, elem_id="epochs")}
                    with gr.Row():
                        train_btn = gr.Button("Train", variant="primary", interactive=app.settings.allow_training,
                                              elem_id="train")
                        stop_btn = gr.Button("Stop", variant="stop", elem_id="stop")
                    with gr.Accordion("Recipe (the tutorial's, editable)", open=False):
                        rest = [f for f in TRAIN_FIELDS if f.name not in form]
                        for i in range(0, len(rest), 2):
                            with gr.Row():
                                for f in rest[i:i + 2]:
                                    form[f.name] = _field_widget(f, elem_id=f"recipe-{f.name}")
                with gr.Column(scale=2):
                    progress = gr.HTML(label="Progress", elem_id="progress")
                    train_status = gr.Markdown(label="Status", elem_id="train_status")
                    curve_style = dict(x="epoch", y="value", color="series", x_title="epochs", x_lim=[0, None],
                                       tooltip="all", color_title="curve", color_map=CURVE_COLORS)
                    # No value until the first points: a plot that starts from an empty frame never draws
                    # the lines of later values (Gradio 6.31; starting from None it does).
                    accuracy_curves = gr.LinePlot(None, y_title="accuracy %",
                                                  label="Accuracy as it trains", elem_id="accuracy_curves",
                                                  **curve_style)
                    loss_curves = gr.LinePlot(None, y_title="loss", label="Loss as it trains",
                                              elem_id="loss_curves", **curve_style)
                    filters = gr.HTML(filters_html(None), label="First-layer filters", elem_id="filters")
                    epochs_table = gr.Dataframe(views.epochs_table([]), label="Epochs", interactive=False,
                                                elem_id="epochs_table")
            gr.Markdown("### The trained model on the test digits")
            with gr.Row():
                per_class = gr.Dataframe(views.per_class_table(None), label="Per-digit accuracy", interactive=False,
                                         scale=2)
                heatmap = gr.HTML(confusion_html(None), label="Confusion matrix", elem_id="heatmap", scale=3)
                # The same counts as data, for API clients; the page shows the heatmap.
                confusion = gr.Dataframe(views.confusion_table(None), interactive=False, visible=False)
            misclassified = gr.Plot(label="Misclassified test digits (prediction / truth)", show_label=False,
                                    format="png")
            with gr.Row():
                weights_file = gr.File(label="Trained weights (.safetensors)", interactive=False)
                use_btn = gr.Button("Use in Draw tab", interactive=False, elem_id="use")

        # Draw tab: the pad reports its strokes while one is drawn and when it ends (see drawpad.py), and
        # the drawing is read again when k changes; a newer drawing replaces a reading still waiting.
        # A reading takes milliseconds, so it skips the queue: that halves the time to the answer
        # (benchmarks/browser_latency.py), and a training in the queue never holds it up.
        gr.on([pad.change, top_k.release], app.predict, [pad, top_k, own_model], [label, status, preview],
              api_name="predict", trigger_mode="always_last", show_progress="hidden", queue=False)
        # An upload can be a 16-megapixel photo (~250 MB while decoded): two at a time keeps memory bounded.
        upload.upload(app.predict_image, [upload, top_k, own_model], [label, status, preview],
                      api_name="predict_image", concurrency_limit=2, concurrency_id="upload")
        use_btn.click(app.use_trained, [trained, own_model], [own_model, model_line], api_name="use_trained",
                      concurrency_limit=None)
        shared_btn.click(app.use_shared, None, [own_model, model_line], api_name="use_shared",
                         concurrency_limit=None)

        # Train tab: every input and output is named; nothing depends on the order of a list.
        # One training at a time on the server; the queue shows the others their place.
        filled = {"about": about, **form}
        gr.on([demo.load, model.change], _by_name(app.model_fields, filled), model, list(filled.values()),
              api_visibility="private", show_progress="hidden", queue=False)
        shown = {"progress": progress, "status": train_status, "accuracy_curves": accuracy_curves,
                 "loss_curves": loss_curves, "filters": filters, "epochs_table": epochs_table,
                 "per_class": per_class, "confusion": confusion, "heatmap": heatmap, "misclassified": misclassified,
                 "weights_file": weights_file, "trained": trained, "use_button": use_btn}
        assert set(shown) == set(TRAIN_OUTPUTS), "every TrainOutputs field needs its component"
        # gradio_client gets every output but a State or a Button: the order TRAIN_API_OUTPUTS promises.
        assert [n for n in TRAIN_OUTPUTS if not shown[n].skip_api] == list(TRAIN_API_OUTPUTS)
        train_btn.click(app.before_train, None, train_status, api_visibility="private", queue=False).then(
            _by_name(app.train, shown), inputs_kwargs={"model": model, **form},
            outputs=[shown[name] for name in TRAIN_OUTPUTS],  # the order gradio_client returns them in
            api_name="train", concurrency_limit=1, concurrency_id="train", show_progress="full",
            show_progress_on=[progress])
        stop_btn.click(app.stop, None, train_status, api_name="stop", concurrency_limit=None)
        demo.unload(app.forget_visitor)
    return demo


def launch(demo: gr.Blocks, max_upload_bytes: int = MAX_UPLOAD_BYTES, **kwargs) -> gr.Blocks:
    """Serve `demo` with the page's CSS; kwargs go to `Blocks.launch`."""
    # Gradio rebuilds a pandas summary of up to 10,000 past events after every event by default; with
    # many visitors drawing that alone cut throughput by a fifth (benchmarks/load.py). Every 1000 events
    # is plenty for the summary; an operator's own setting wins.
    os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "1000")
    demo.queue(default_concurrency_limit=4)
    # Gradio refuses bigger uploads before they reach the app (and `read_image` checks again).
    demo.launch(css=CSS, head=HEAD, max_file_size=max_upload_bytes, **kwargs)
    return demo



SERVER_NICENESS = 10  # how far the web server steps down below its trainings (os.nice)


def main() -> None:
    """Serve the app with settings from the environment (what `python app.py` does)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = AppSettings.from_env()
    except SettingsError as exc:  # a bad MNIST_DEMO_* value: say which, no traceback
        raise SystemExit(f"error: {exc}") from None
    if not settings.train_in_process and gpu_training() is None:
        # Trainings are forked from a server started now; the web server then steps down a little, so
        # that with many visitors drawing the CPU goes to a training first (benchmarks/load.py).
        start_training_server()
        os.nice(SERVER_NICENESS)
    launch(build_app(settings), settings.max_upload_bytes)
