"""Teach it your handwriting: the Draw tab's "Was it right?" row, the visitor's collection, and "Fit to my hand".

Every visitor's collection (`personal.Collection`) lives in their session (a
`gr.State`), and its file, written when they ask to download it, in their own
folder (`visitor_files`), which goes when they leave: no visitor sees another's
drawings, and nothing is written to the server's own folders. What outlives
the page, and how long, `GONE_WITHIN_MIN` says. Keeping a drawing costs what
the drawing does, whatever the collection holds. Handlers answer by name, as
in `handlers.py`: `COLLECTION_OUTPUTS` after each change, a `FitOutputs` per
step of a fit.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import gradio as gr

from mnist_demo.app.charts import LiveCurves
from mnist_demo.app.drawing import DrawTab
from mnist_demo.app.outputs import TRAIN_API_OUTPUTS, TrainOutputs, finished, owner
from mnist_demo.app.settings import AppSettings
from mnist_demo.app.trainer import Trainer, TrainingFailed, TrainingRefused, TrainingReport
from mnist_demo.app.views import progress_html
from mnist_demo.app.visitor_files import Part
from mnist_demo.personal import MAX_DRAWINGS, Collection, CollectionError, load
from mnist_demo.personal.assess import Assessment
from mnist_demo.personal.collection_file import dumps, write_atomically
from mnist_demo.personal.finetune import FitSettings
from mnist_demo.reading.reader import Reader
from mnist_demo.training.engine import EpochResult

# What every change of the collection answers, by name; API clients get all but the State, in this order.
COLLECTION_OUTPUTS = ("collection", "gallery", "counts", "message", "selected", "listing", "fit_hint")
COLLECTION_API_OUTPUTS = COLLECTION_OUTPUTS[1:]
DOWNLOAD_OUTPUTS = ("file", "message")  # what /download_drawings answers, in this order
FILE_NAME = "my-handwriting.json.gz"
# How long a visitor's drawings outlive their page on this server. Their files go at once (`forget`);
# Gradio keeps a closed page's state an hour, in case it reconnects (gradio/state_holder.py), and the
# copies of files it served (the gallery's pictures, a download) until a sweep every CACHE_SWEEP_S s
# finds them older than CACHE_AGE_S s (`Blocks(delete_cache=...)`, page.py).
CLOSED_STATE_S = 3600
CACHE_SWEEP_S, CACHE_AGE_S = 600, 3600
GONE_WITHIN_MIN = math.ceil(max(CLOSED_STATE_S, CACHE_SWEEP_S + CACHE_AGE_S) / 60)
KEPT_HOW_LONG = (f"They stay in this page's session, on this server only, and are deleted from it within "
                 f"{GONE_WITHIN_MIN} minutes of your leaving, with the pictures of them the page was sent. "
                 "Download them to keep them (a small file of strokes and labels), upload them another day.")


@dataclass
class FitOutputs(TrainOutputs):
    """A fit's step: the Train tab's outputs, plus this visitor's Draw tab model and its line."""

    own: Reader | Any | None = None  # a State: not sent to API clients
    model_line: str | None = None


FIT_API_OUTPUTS = TRAIN_API_OUTPUTS + ("model_line",)  # what gradio_client gets from /fit_to_my_hand


def _digit(value: Any) -> int:
    """A label from a button, the API (an int, a float from a gr.Number, a string) or a gr.Label's value."""
    if isinstance(value, dict):  # the Draw tab's reading, as gr.Label hands it over: {"7": 0.96, "1": 0.02, ...}
        value = value.get("label") if "label" in value else max(value, key=value.get, default=None)
    try:
        digit = int(float(value))
    except (TypeError, ValueError):
        raise CollectionError("the model was not sure what this is: press the digit it is (0-9)") from None
    if digit != float(value) or not 0 <= digit <= 9:
        raise CollectionError(f"a label is a digit from 0 to 9, not {value!r}")
    return digit


def counts_text(collection: Collection) -> str:
    if not len(collection):
        return ("No drawings yet. After a reading, press **Yes** or the right digit (or its key): the drawing "
                "comes here, labelled.")
    each = " · ".join(f"{d}: {n}" for d, n in collection.counts().items())
    return f"**{len(collection)} drawings** (at most {MAX_DRAWINGS}). Per digit: {each}"


class Handwriting:
    """The handlers of the visitor's collection and "Fit to my hand", for one server (`WebApp.handwriting`)."""

    def __init__(self, settings: AppSettings, trainer: Trainer, draw_tab: DrawTab) -> None:
        self.settings = settings
        self.trainer = trainer
        self.draw_tab = draw_tab

    # ------------------------------------------------------------ the collection

    def _shown(self, collection: Collection, message: str) -> dict[str, Any]:
        """Every collection output, by name, after a change (or none)."""
        ordered = [d for group in collection.by_digit().values() for d in group]  # grouped by digit
        gallery = [(d.image, str(d.label)) for d in ordered]
        listing = {"drawings": [{"id": d.id, "label": d.label} for d in ordered],
                   "counts": {str(k): v for k, v in collection.counts().items()}}
        return {"collection": collection, "gallery": gallery, "counts": counts_text(collection),
                "message": message, "selected": "", "listing": listing, "fit_hint": self.fit_hint(collection)}

    def download(self, collection: Collection | None = None, request: gr.Request | None = None) -> dict[str, Any]:
        """The collection's file, written now into the visitor's own folder (DOWNLOAD_OUTPUTS): "file" is
        None, and the message says why, when there is nothing to download."""
        who, collection = owner(request), Collection() if collection is None else collection
        if not len(collection) or who is None:  # a call without a session has no collection either
            return {"file": None, "message": "There are no drawings to download yet."}
        files = self.trainer.files
        errand = files.begin(who)
        try:
            data = dumps(collection)  # before the lock: the gzip is the slow part
            with files.writing(errand, Part.COLLECTIONS) as folder:
                path = None if folder is None else write_atomically(folder / FILE_NAME, data)
        finally:
            files.end(errand)
        if path is None:
            return {"file": None, "message": "Nothing to download: this page has been closed."}
        return {"file": str(path), "message": f"Your {len(collection)} drawings, {len(data) / 1e3:,.0f} kB: upload "
                                              "the file another day to have them back."}

    def keep(self, drawing: str | None, label: Any, collection: Collection | None = None) -> dict[str, Any]:
        """Keep the pad's drawing (its JSON strokes) as `label` (0-9) in this visitor's collection.

        Raises gr.Error (nothing kept) for an empty or unreadable drawing or a bad label.
        """
        collection = Collection() if collection is None else collection
        try:
            kept = collection.add(drawing or "", _digit(label))
        except CollectionError as exc:
            raise gr.Error(f"Not kept: {exc}.", print_exception=False) from None
        n = collection.counts()[kept.label]
        self.trainer.draw_ahead(self.draw_tab.weights, self.fit_settings())
        return self._shown(collection, f"Kept as a **{kept.label}** ({n} of that digit, {len(collection)} in all). "
                                       "Draw the next one.")

    def keep_as(self, digit: int) -> Callable[..., dict[str, Any]]:
        """The handler of the button (and key) for `digit`."""
        def keep(drawing: str | None, collection: Collection | None = None) -> dict[str, Any]:
            return self.keep(drawing, digit, collection)
        keep.__name__ = f"keep_{digit}"
        return keep

    def confirm(self, drawing: str | None, reading: Any, collection: Collection | None = None) -> dict[str, Any]:
        """"Yes": keep the drawing as the digit the Draw tab read (a gr.Label's value)."""
        return self.keep(drawing, reading, collection)

    @staticmethod
    def confirm_button(reading: Any) -> dict[str, Any]:
        """The "Yes" button names the digit read; with no digit read it cannot be pressed."""
        try:
            return gr.update(value=f"Yes, it's a {_digit(reading)}", interactive=True)
        except CollectionError:
            return gr.update(value="Yes", interactive=False)

    def select(self, collection: Collection | None, event: gr.SelectData) -> tuple[str, str]:
        """A click on a drawing in the gallery selects it for Remove: (its id, message)."""
        ordered = [d for group in (collection or Collection()).by_digit().values() for d in group]
        if event.index is None or not 0 <= event.index < len(ordered):
            return "", ""
        d = ordered[event.index]
        return d.id, (f"Selected a **{d.label}**: **Remove selected** takes it out; **Relabel selected as** "
                      "gives it the digit chosen beside it.")

    def remove(self, drawing_id: str | None, collection: Collection | None = None) -> dict[str, Any]:
        """Take a drawing out of this visitor's collection by its id (the gallery's selection, or the API's)."""
        collection = Collection() if collection is None else collection
        try:
            gone = collection.remove(drawing_id or "")
        except KeyError:
            return self._shown(collection, "Nothing removed: select a drawing in the gallery first.")
        return self._shown(collection, f"Removed a **{gone.label}**; {len(collection)} drawings left.")

    def relabel(self, drawing_id: str | None, label: Any, collection: Collection | None = None) -> dict[str, Any]:
        """Give a drawing (the gallery's selection, or the API's id) another digit: a misclick mended."""
        collection = Collection() if collection is None else collection
        if not drawing_id or drawing_id not in collection:
            return self._shown(collection, "Nothing relabelled: select a drawing in the gallery first.")
        try:
            digit = _digit(label)
        except CollectionError:
            return self._shown(collection, "Nothing relabelled: choose the digit it is (0-9) first.")
        was = collection[drawing_id].label
        collection.relabel(drawing_id, digit)
        return self._shown(collection, f"Relabelled a **{was}** as a **{digit}**.")

    def remove_all(self, armed: frozenset[str] | None, collection: Collection | None = None) -> dict[str, Any]:
        """Empty this visitor's collection, on a second press: the first says how many would go.
        `armed` (a State, answered under "armed") holds the drawings the first press announced; if they
        changed since, the press asks again."""
        collection = Collection() if collection is None else collection
        ids = frozenset(d.id for d in collection)
        if not ids:
            return {**self._shown(collection, "There are no drawings to remove."), "armed": None}
        if armed != ids:
            return {**self._shown(collection, f"This removes all **{len(ids)} drawings**. Press **Remove all** "
                                              "again to do it (download them first to keep them)."),
                    "armed": ids}
        collection.clear()
        return {**self._shown(collection, f"Removed all {len(ids)} drawings."), "armed": None}

    def upload(self, path: str | None, collection: Collection | None = None) -> dict[str, Any]:
        """Add the drawings of a collection file (downloaded on another day) to this visitor's; all or none."""
        collection = Collection() if collection is None else collection
        if not path:
            return self._shown(collection, "No file came.")
        try:
            loaded = load(path)
            before = len(collection)
            collection.extend(loaded)  # checked whole first: a refusal changes nothing
        except CollectionError as exc:
            return self._shown(collection, f"**Not loaded:** {exc}. Your collection is as it was.")
        added = len(collection) - before
        return self._shown(collection, f"Loaded {len(loaded)} drawings from {Path(path).name}: {added} new, "
                                       f"{len(collection)} in all.")

    # ------------------------------------------------------------ Fit to my hand

    def fit_settings(self) -> FitSettings:
        s = self.settings
        changes: dict[str, Any] = {}
        if s.fit_mnist is not None:
            changes["mnist"] = s.fit_mnist
        if s.fit_pen is not None:
            changes["pen"] = s.fit_pen
        # Tested on the server's test digits, so the misclassified ones can be shown from them.
        changes["test_digits"] = min(FitSettings.test_digits, s.test_limit or FitSettings.test_digits)
        return FitSettings(**changes)

    def fit_hint(self, collection: Collection | None) -> str:
        n, need = len(collection or ()), self.settings.fit_min_drawings
        if n < need:
            return (f"**Fit to my hand** fine-tunes the model you draw with to your own drawings. It needs at "
                    f"least {need}; you have {n}. In the Draw tab, say whether each reading was right.")
        return (f"**Fit to my hand** fine-tunes the model you draw with to your {n} drawings (with MNIST and "
                "other people's pen digits, so it keeps reading theirs). Your Draw tab then answers with it; "
                "nobody else's does.")

    def fit(self, collection: Collection | None = None, own: Reader | None = None,
            request: gr.Request | None = None) -> Iterator[FitOutputs]:
        """Fit the model this visitor draws with to their collection, streaming the Train tab's outputs;
        the fitted model then answers in their Draw tab; last, their drawings' accuracy before and after."""
        collection = Collection() if collection is None else collection
        base = own if own is not None else self.draw_tab.shared
        name = base.model_name if base is not None else "the model"
        settings = self.fit_settings()
        folds = self.settings.fit_folds
        history: list[EpochResult] = []
        curves = LiveCurves()
        started = time.perf_counter()
        try:
            if base is None:
                raise TrainingRefused(self.draw_tab.problem or "There is no model to fit.")
            events = self.trainer.fit(owner(request), base, collection, settings, folds)
            yield FitOutputs.starting(progress_html(None, settings.epochs, "Preparing your drawings and the samples…"),
                                      f"Fitting **{name}** to your {len(collection)} drawings ({settings.mnist:,} "
                                      f"MNIST digits, {settings.pen:,} pen digits of other writers).")
            fitted = ""
            for event in events:
                step = FitOutputs.live(event, curves, history, settings.epochs)
                if step is not None:
                    yield step
                elif isinstance(event, TrainingReport):
                    step, fitted = self._fitted(event, base, len(collection), time.perf_counter() - started, folds)
                    yield step
                elif isinstance(event, Assessment) and fitted:
                    yield FitOutputs(status=f"{fitted}\n\n{assessment_text(event)}")
        except (TrainingRefused, TrainingFailed) as exc:
            yield FitOutputs(progress="", status=f"**Not fitted.** {exc}")

    def _fitted(self, report: TrainingReport, base: Reader, drawings: int, seconds: float, folds: int
                ) -> tuple[FitOutputs, str]:
        """The fit's result, shown at once (the assessment comes later): its step and its status line."""
        step = finished(report)
        if report.loaded is None:
            return FitOutputs(**vars(step)), ""
        own = base.with_picture(report.loaded)
        fitted = (f"**Fitted to your {drawings} drawings in {seconds:.0f} s**: "
                  f"{100 * (report.loaded.test_accuracy or 0):.2f}% on {len(report.test_data or [])} MNIST test "
                  "digits. Your Draw tab answers with it now, and nobody else's does; the Draw tab's "
                  "**Back to the shipped model** switches back.")
        measuring = (f"\n\nMeasuring how it reads your drawings, on drawings kept out of the fit "
                     f"({folds} more fits)…" if folds >= 2 else "")
        values = {**vars(step), "status": fitted + measuring, "own": own, "model_line": self.draw_tab.describe(own)}
        return FitOutputs(**values), fitted


def assessment_text(a: Assessment) -> str:
    """"Your drawings: 92% before, 98% after, on drawings kept out of the fit (3-fold)"."""
    how = a.method.replace(" cross-validation", "")
    return (f"**Your drawings: {100 * a.before:.0f}% before, {100 * a.after:.0f}% after**, on drawings kept out "
            f"of the fit ({how}, {a.measured} drawings, {a.seconds:.0f} s).")
