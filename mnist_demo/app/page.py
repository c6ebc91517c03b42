"""The page: its layout, and each event wired to a `WebApp` handler (`mnist_demo.app.handlers`).

The limits for public hosting come from environment variables (`mnist_demo.app.settings`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import fields
from typing import Any

import gradio as gr

from mnist_demo.app import views
from mnist_demo.app.charts import COLORS as CURVE_COLORS
from mnist_demo.app.charts import confusion_html, filters_html
from mnist_demo.app.collecting import (
    CACHE_AGE_S,
    CACHE_SWEEP_S,
    COLLECTION_API_OUTPUTS,
    COLLECTION_OUTPUTS,
    DOWNLOAD_OUTPUTS,
    FIT_API_OUTPUTS,
    KEPT_HOW_LONG,
    FitOutputs,
    counts_text,
)
from mnist_demo.app.drawing import EMPTY_LABEL, TOP_K_MAX, preview_html
from mnist_demo.app.drawpad import DrawPad
from mnist_demo.app.handlers import WebApp
from mnist_demo.app.hosting import gpu_training
from mnist_demo.app.outputs import TRAIN_API_OUTPUTS, TRAIN_OUTPUTS, by_name
from mnist_demo.app.settings import AppSettings, SettingsError
from mnist_demo.app.views import TRAIN_FIELDS, TrainField
from mnist_demo.models.registry import DEFAULT_MODEL, image_models
from mnist_demo.personal import Collection
from mnist_demo.reading.images import MAX_UPLOAD_BYTES
from mnist_demo.training.standby import start_training_server

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
#digits { display: grid; grid-template-columns: repeat(5, 1fr); gap: 4px; }
#digits button { min-width: 0; border: 1px solid var(--border-color-primary); }
#collection img { image-rendering: pixelated; }  /* 28x28s: their pixels, not a blur */
"""
# On a phone the pad takes the screen's width: Gradio's page margins would leave it three quarters.
# In <head> because Gradio scopes `css` to the page's content, and these margins are outside it.
HEAD = """<style>
@media (max-width: 640px) { .gradio-container .main { padding-left: 8px !important; padding-right: 8px !important; } }
</style>
<script>
// "Was it right?": the digit keys press the Draw tab's digit buttons, unless the visitor is typing
// in a field, or the Draw tab is not showing (a hidden button has no offsetParent).
document.addEventListener("keydown", (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey || e.repeat || !/^[0-9]$/.test(e.key)) return;
  if (e.target instanceof HTMLElement && e.target.closest("input, textarea, select, [contenteditable]")) return;
  const button = document.getElementById("keep-" + e.key);
  if (!button || button.offsetParent === null || button.disabled) return;
  e.preventDefault();
  button.click();
});
</script>"""
# After a drawing is kept, the pad is cleared for the next one (the pad keeps its strokes in the page).
CLEAR_PAD = "() => { document.querySelector('#sketch .pad-clear')?.click(); }"
# "Download my drawings" writes the file when pressed, then the browser is handed it (a hidden DownloadButton).
SAVE_FILE = "() => { document.querySelector('#download_file button, button#download_file')?.click(); }"
COLLECTION_CONCURRENCY = 1  # collection events at once: a core at most, the other stays free for readings


def _field_widget(f: TrainField, **kwargs: Any) -> gr.components.Component:
    """The Train tab's widget for a recipe field, empty until `WebApp.model_fields` fills in the model's recipe:
    its choices in a dropdown, yes/no for a switch, else a number."""
    if f.choices:
        return gr.Dropdown(list(f.choices), value=None, label=f.label, **kwargs)
    if f.kind is bool:
        return gr.Dropdown(["yes", "no"], value=None, label=f.label, **kwargs)
    return gr.Number(value=None, precision=0 if f.kind is int else None, label=f.label, **kwargs)


def build_app(settings: AppSettings | None = None, app: WebApp | None = None) -> gr.Blocks:
    """The page; `app` (default: a new WebApp of `settings`) answers its events."""
    app = app or WebApp(settings)
    max_epochs = app.settings.max_epochs
    recipe_fields = {f.name: f for f in TRAIN_FIELDS}

    with gr.Blocks(title="Draw a digit · MNIST", delete_cache=(CACHE_SWEEP_S, CACHE_AGE_S)) as demo:
        own_model = gr.State(None)  # this visitor's model for the Draw tab; None: the shared one
        trained = gr.State(None)  # the model this visitor trained last (a LoadedModel)
        collection = gr.State(None)  # this visitor's labelled drawings (a personal.Collection), theirs only
        hw = app.handwriting

        gr.Markdown("# Draw a digit\nTwo small networks read what you draw: one the picture, the way MNIST's "
                    "digits were made, one the path your pen took. In the **Train** tab you can train your own "
                    "and watch it learn.")

        with gr.Tab("Draw"):
            with gr.Row():
                with gr.Column(scale=3, min_width=280):
                    pad = DrawPad(elem_id="sketch")
                    with gr.Accordion("Or upload a picture of a digit", open=False):
                        upload = gr.File(file_types=["image"], type="filepath", label="A photo or scan of one digit",
                                         elem_id="upload")
                    with gr.Accordion("Your handwriting: the drawings you labelled", open=False, elem_id="handwriting"):
                        counts = gr.Markdown(counts_text(Collection()), elem_id="counts")
                        gallery = gr.Gallery(label="As the model sees them (28×28), by digit; click one to select it",
                                             columns=10, fit_columns=False, height=260, allow_preview=False, format="png",
                                             interactive=False, elem_id="collection")
                        with gr.Row():
                            remove_btn = gr.Button("Remove selected", size="sm", elem_id="remove")
                            relabel_btn = gr.Button("Relabel selected as", size="sm", elem_id="relabel")
                            relabel_to = gr.Dropdown([str(d) for d in range(10)], value=None, label="Relabel as",
                                                     show_label=False, container=False, elem_id="relabel_to",
                                                     min_width=70, scale=0)
                            remove_all_btn = gr.Button("Remove all", size="sm", variant="stop", elem_id="remove_all")
                            download_btn = gr.Button("Download my drawings", size="sm", elem_id="download")
                            download_file = gr.DownloadButton(visible="hidden", elem_id="download_file")
                            upload_btn = gr.UploadButton("Upload my drawings", file_types=[".gz", ".json"],
                                                         size="sm", elem_id="upload_drawings")
                        gr.Markdown(KEPT_HOW_LONG, elem_id="kept_how_long")
                        selected = gr.Textbox(visible=False)  # the gallery's selection: the id Remove takes
                        armed = gr.State(None)  # the drawings the first press of Remove all announced (their ids)
                        listing = gr.JSON(visible=False)  # ids and labels, for API clients
                        keep_label = gr.Number(visible=False, precision=0)  # /keep_drawing's label
                        keep_api = gr.Button(visible=False)  # /keep_drawing: the pad's drawing and a label
                with gr.Column(scale=2, min_width=240):
                    label = gr.Label(value=EMPTY_LABEL, label="Prediction", elem_id="prediction")
                    status = gr.Markdown("Draw a digit from 0 to 9 in the box.", label="Status", elem_id="status")
                    with gr.Group(elem_id="teach"):
                        gr.Markdown("**Was it right?** Say yes, or press the right digit (or its key): the drawing "
                                    "goes into your collection, to teach it your handwriting.", padding=True)
                        confirm_btn = gr.Button("Yes", interactive=False, variant="primary", size="sm",
                                                elem_id="confirm")
                        with gr.Row(elem_id="digits"):
                            digit_btns = [gr.Button(str(d), size="sm", min_width=0, elem_id=f"keep-{d}")
                                          for d in range(10)]
                        kept_msg = gr.Markdown(elem_id="kept", padding=True)
                    top_k = gr.Slider(1, TOP_K_MAX, value=3, step=1, label="Guesses to show", elem_id="top_k")
                    gr.Markdown("**What the model sees (28×28)**")
                    preview = gr.HTML(preview_html(None), elem_id="preview", js_on_load=None)
                    model_line = gr.Markdown(app.describe(), label="Model", elem_id="model_line")
                    shared_btn = gr.Button("Back to the shipped model", size="sm")

        with gr.Tab("Train") as train_tab:
            gr.Markdown(app.training_intro())
            with gr.Row():
                with gr.Column(scale=1, min_width=300):
                    model = gr.Dropdown(image_models(), value=DEFAULT_MODEL, label="Model", elem_id="model")
                    about = gr.Markdown()
                    # The recipe's fields by name (views.TRAIN_FIELDS): epochs on a slider, the rest below.
                    form = {"epochs": gr.Slider(1, max_epochs, value=None, step=1,
                                                label=recipe_fields["epochs"].label, elem_id="epochs")}
                    with gr.Row():
                        train_btn = gr.Button("Train", variant="primary", interactive=app.settings.allow_training,
                                              elem_id="train")
                        stop_btn = gr.Button("Stop", variant="stop", elem_id="stop")
                    with gr.Group():
                        fit_hint = gr.Markdown(hw.fit_hint(None), elem_id="fit_hint", padding=True)
                        fit_btn = gr.Button("Fit to my hand", interactive=app.settings.allow_training, elem_id="fit")
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
        # Instant, as a reading is: they skip the queue, so that a full queue (trainings) never holds them up.
        use_btn.click(app.use_trained, [trained, own_model], [own_model, model_line], api_name="use_trained",
                      queue=False)
        shared_btn.click(app.use_shared, None, [own_model, model_line], api_name="use_shared", queue=False)

        # Train tab: every input and output is named; nothing depends on the order of a list.
        # One training at a time on the server; the queue shows the others their place.
        filled = {"about": about, **form}
        # The training's process and MNIST get ready while the visitor reads the recipe, not after Train.
        train_tab.select(app.warm_up, None, None, api_visibility="private", show_progress="hidden", queue=False)
        gr.on([demo.load, model.change], by_name(app.model_fields, filled), model, list(filled.values()),
              api_visibility="private", show_progress="hidden", queue=False)
        shown = {"progress": progress, "status": train_status, "accuracy_curves": accuracy_curves,
                 "loss_curves": loss_curves, "filters": filters, "epochs_table": epochs_table,
                 "per_class": per_class, "confusion": confusion, "heatmap": heatmap, "misclassified": misclassified,
                 "weights_file": weights_file, "trained": trained, "use_button": use_btn}
        assert set(shown) == set(TRAIN_OUTPUTS), "every TrainOutputs field needs its component"
        # gradio_client gets every output but a State or a Button: the order TRAIN_API_OUTPUTS promises.
        assert [n for n in TRAIN_OUTPUTS if not shown[n].skip_api] == list(TRAIN_API_OUTPUTS)
        train_btn.click(app.before_train, None, train_status, api_visibility="private", queue=False).then(
            by_name(app.train, shown), inputs_kwargs={"model": model, **form},
            outputs=[shown[name] for name in TRAIN_OUTPUTS],  # the order gradio_client returns them in
            api_name="train", concurrency_limit=1, concurrency_id="train", show_progress="full",
            show_progress_on=[progress])
        # Stop skips the queue: a visitor can always stop their training, however full the queue is.
        stop_btn.click(app.stop, None, train_status, api_name="stop", queue=False)

        # Teach it your handwriting. A change costs a drawing's preprocessing at most, whatever the collection
        # holds; they queue, COLLECTION_CONCURRENCY at a time, so that no burst of them takes the CPUs from the
        # readings, which skip the queue. Selecting a drawing, or naming the digit read, is quicker than queueing.
        changed = {"collection": collection, "gallery": gallery, "counts": counts, "message": kept_msg,
                   "selected": selected, "listing": listing, "fit_hint": fit_hint}
        outs = [changed[n] for n in COLLECTION_OUTPUTS]
        assert [n for n in COLLECTION_OUTPUTS if not changed[n].skip_api] == list(COLLECTION_API_OUTPUTS)
        quick = dict(queue=False, show_progress="hidden")
        queued = dict(concurrency_limit=COLLECTION_CONCURRENCY, concurrency_id="collection", show_progress="hidden")
        for digit, button in enumerate(digit_btns):
            button.click(by_name(hw.keep_as(digit), changed), [pad, collection], outs, api_visibility="private",
                         **queued).success(None, js=CLEAR_PAD)
        confirm_btn.click(by_name(hw.confirm, changed), [pad, label, collection], outs, api_visibility="private",
                          **queued).success(None, js=CLEAR_PAD)
        keep_api.click(by_name(hw.keep, changed), [pad, keep_label, collection], outs, api_name="keep_drawing",
                       **queued)
        label.change(hw.confirm_button, label, confirm_btn, api_visibility="private", **quick)
        gallery.select(hw.select, collection, [selected, kept_msg], api_visibility="private", **quick)
        remove_btn.click(by_name(hw.remove, changed), [selected, collection], outs, api_name="remove_drawing",
                         **queued)
        relabel_btn.click(by_name(hw.relabel, changed), [selected, relabel_to, collection], outs,
                          api_name="relabel_drawing", **queued)
        remove_all_btn.click(by_name(hw.remove_all, {**changed, "armed": armed}), [armed, collection],
                             outs + [armed], api_name="remove_all_drawings", **queued)
        upload_btn.upload(by_name(hw.upload, changed), [upload_btn, collection], outs, api_name="upload_drawings",
                          concurrency_limit=2, concurrency_id="upload")
        saved = {"file": download_file, "message": kept_msg}
        download_btn.click(by_name(hw.download, saved), collection, [saved[n] for n in DOWNLOAD_OUTPUTS],
                           api_name="download_drawings", concurrency_limit=2, concurrency_id="upload",
                           show_progress="hidden").success(None, js=SAVE_FILE)
        # Fit to my hand: a training in all but its recipe, so it takes the training's one slot and queue.
        fit_shown = {**shown, "own": own_model, "model_line": model_line}
        fit_outputs = [fit_shown[f.name] for f in fields(FitOutputs)]
        assert [n.name for n in fields(FitOutputs) if not fit_shown[n.name].skip_api] == list(FIT_API_OUTPUTS)
        fit_btn.click(app.before_train, None, train_status, api_visibility="private", queue=False).then(
            by_name(hw.fit, fit_shown), [collection, own_model], fit_outputs, api_name="fit_to_my_hand",
            concurrency_limit=1, concurrency_id="train", show_progress="full", show_progress_on=[progress])
        demo.unload(app.forget_visitor)
    # Trainings (and fits) wait here for the one slot; uploads too. Readings skip the queue. Beyond
    # max_queue waiting, one more is told the queue is full rather than wait behind hours of trainings.
    # api_open=False: a queued event cannot be called by POST /run/ around the queue and its limits.
    demo.queue(default_concurrency_limit=4, max_size=app.settings.max_queue, api_open=False)
    return demo


def launch(demo: gr.Blocks, max_upload_bytes: int = MAX_UPLOAD_BYTES, **kwargs) -> gr.Blocks:
    """Serve `demo` with the page's CSS; kwargs go to `Blocks.launch`."""
    # Gradio rebuilds a pandas summary of up to 10,000 past events after every event by default; with
    # many visitors drawing that alone cut throughput by a fifth (benchmarks/load.py). Every 1000 events
    # is plenty for the summary; an operator's own setting wins.
    os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "1000")
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
    webapp = WebApp(settings)
    webapp.trainer.warm_up()  # the first Train starts at once: MNIST and the training's process ready
    launch(build_app(settings, webapp), settings.max_upload_bytes)
