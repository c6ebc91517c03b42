"""Teach it your handwriting, through the app's API (gradio_client): keep, remove, download and upload a
visitor's drawings, and fit the model they draw with to them; no other visitor and no shipped file changes.

One server for the module, with fits small enough for a test (1,000 MNIST digits, 200 pen digits).
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from mnist_demo.app import collecting
from mnist_demo.app.collecting import FIT_API_OUTPUTS
from mnist_demo.app.handlers import WebApp
from mnist_demo.personal import MAX_FILE_BYTES, load
from mnist_demo.reading.reader import Reader
from tests.support.collection_api import confidences, download, keep, labels, named, rounded, visitor
from tests.support.costs import cpu_ms
from tests.support.drawings import held_out_digits, pad_value
from tests.support.servers import REPO, app_settings, served_app
from tests.support.waiting import wait_until

FIT = dict(fit_min_drawings=6, fit_mnist=1000, fit_pen=200, fit_folds=2)


@pytest.fixture(scope="module")
def settings(shipped_weights):
    return app_settings(shipped_weights, **FIT)


@pytest.fixture(scope="module")
def server(settings):
    with served_app(settings) as url:
        yield url


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_kept_drawings_are_listed_by_digit_with_counts_and_can_be_removed(server):
    c = visitor(server)
    three, seven, other_three = held_out_digits((3, 7), per_label=2)[1:4]
    keep(c, three, 3)
    keep(c, seven, 7)
    answer = keep(c, other_three, 3)
    assert "Kept as a **3** (2 of that digit, 3 in all)" in answer["message"]
    assert labels(answer) == [3, 3, 7]  # grouped by digit
    assert answer["listing"]["counts"]["3"] == 2 and answer["listing"]["counts"]["0"] == 0
    assert len(answer["gallery"]) == 3 and "3 drawings" in answer["counts"]
    assert Path(download(c)["file"]).is_file()

    gone = answer["listing"]["drawings"][2]["id"]  # the 7
    answer = named(c.predict(gone, api_name="/remove_drawing"))
    assert labels(answer) == [3, 3] and "Removed a **7**" in answer["message"]
    answer = named(c.predict("no-such-id", api_name="/remove_drawing"))
    assert labels(answer) == [3, 3] and "Nothing removed" in answer["message"]

    # Another visitor starts with nothing: the collection is this session's.
    assert labels(keep(visitor(server), seven, 7)) == [7]


def test_a_misclick_is_mended_by_relabelling_the_drawing(server):
    c = visitor(server)
    four, nine = held_out_digits((4, 9))[:2]
    keep(c, four, 4)
    answer = keep(c, nine, 4)  # pressed 4 for a 9
    assert labels(answer) == [4, 4]
    nine_id = answer["listing"]["drawings"][1]["id"]
    answer = named(c.predict(nine_id, "9", api_name="/relabel_drawing"))
    assert labels(answer) == [4, 9] and "Relabelled a **4** as a **9**" in answer["message"]
    assert answer["listing"]["counts"]["9"] == 1
    # Nothing selected, or no digit chosen: nothing changes, and the message says what is missing.
    for drawing_id, label, why in [("", "3", "select a drawing"), (nine_id, None, "choose the digit")]:
        answer = named(c.predict(drawing_id, label, api_name="/relabel_drawing"))
        assert labels(answer) == [4, 9] and why in answer["message"]


def test_remove_all_asks_first_and_empties_the_collection_on_the_second_press(server):
    c = visitor(server)
    for digit in held_out_digits((1, 2))[:2]:
        keep(c, digit, digit.label)
    first = named(c.predict(api_name="/remove_all_drawings"))
    assert labels(first) == [1, 2] and "removes all **2 drawings**" in first["message"]
    keep(c, held_out_digits((3,))[0], 3)  # the collection changed since: the next press asks again
    again = named(c.predict(api_name="/remove_all_drawings"))
    assert labels(again) == [1, 2, 3] and "removes all **3 drawings**" in again["message"]
    done = named(c.predict(api_name="/remove_all_drawings"))
    assert labels(done) == [] and "Removed all 3 drawings" in done["message"]
    assert download(c)["file"] is None and "no drawings" in download(c)["message"]
    assert "no drawings" in named(c.predict(api_name="/remove_all_drawings"))["message"]


def test_an_empty_pad_or_a_label_that_is_no_digit_is_refused_and_nothing_is_kept(server):
    c = visitor(server)
    digit = held_out_digits((5,))[0]
    for drawing, label, why in [('{"strokes": []}', 5, "the pad is empty"), (pad_value(digit), 12, "0 to 9"),
                                ('{"strokes": [[[1, "x"]]]}', 5, "must be a number")]:
        with pytest.raises(AppError, match=why):
            c.predict(drawing, label, api_name="/keep_drawing")
    assert labels(keep(c, digit, 5)) == [5]  # nothing else got in


def test_the_collection_round_trips_through_download_and_upload(server, tmp_path):
    first = visitor(server)
    for digit in held_out_digits((0, 4, 9)):
        answer = keep(first, digit, digit.label)
    saved = download(first)
    downloaded = Path(saved["file"])
    assert downloaded.name.endswith(".json.gz") and downloaded.stat().st_size < 20_000  # strokes, not pixels
    assert "Your 3 drawings" in saved["message"]
    assert [d.label for d in load(downloaded)] == [0, 4, 9]

    # Another day (another session): upload it, and the same drawings are back, ids and all.
    second = visitor(server)
    back = named(second.predict(handle_file(str(downloaded)), api_name="/upload_drawings"))
    assert back["listing"] == answer["listing"] and "Loaded 3 drawings" in back["message"]
    # Uploading it again adds nothing: the drawings are already there.
    again = named(second.predict(handle_file(str(downloaded)), api_name="/upload_drawings"))
    assert again["listing"] == answer["listing"] and "0 new" in again["message"]


def test_a_bad_or_foreign_file_gets_a_clear_message_and_changes_nothing(server, tmp_path):
    c = visitor(server)
    before = keep(c, held_out_digits((2,))[0], 2)
    foreign = tmp_path / "notes.json"
    foreign.write_text(json.dumps({"format": "someone-else", "drawings": []}))
    broken = tmp_path / "broken.json.gz"
    broken.write_bytes(gzip.compress(b'{"format": "mnist_demo/handwriting", "version": 1, "drawings": [{"label'))
    bad_label = tmp_path / "bad-label.json"
    bad_label.write_text(json.dumps({"format": "mnist_demo/handwriting", "version": 1, "drawings": [
        {"id": "a1", "label": 3, "sketch": json.loads(pad_value(held_out_digits((3,))[0]))},
        {"id": "b2", "label": "seven", "sketch": json.loads(pad_value(held_out_digits((7,))[0]))}]}))
    huge = tmp_path / "huge.json"
    huge.write_bytes(b" " * (MAX_FILE_BYTES + 1))
    for path, why in [(foreign, "not a collection of drawings saved by this app"), (broken, "not JSON"),
                      (bad_label, "drawing 2 of the file: a label is a digit"), (huge, "too large")]:
        answer = named(c.predict(handle_file(str(path)), api_name="/upload_drawings"))
        assert answer["message"].startswith("**Not loaded:**") and why in answer["message"], answer["message"]
        assert "as it was" in answer["message"]
        assert answer["listing"] == before["listing"]  # not even the good drawing of bad-label.json got in


def test_fit_to_my_hand_needs_enough_drawings_and_says_so(server):
    c = visitor(server)
    keep(c, held_out_digits((1,))[0], 1)
    final = dict(zip(FIT_API_OUTPUTS, c.predict(api_name="/fit_to_my_hand")))
    assert "Not fitted" in final["status"] and "at least 6" in final["status"] and "you have 1" in final["status"]


@pytest.mark.slow
def test_a_fit_answers_for_its_visitor_only_and_leaves_the_shipped_weights_as_they_were(server, settings,
                                                                                       shipped_weights):
    shipped_before = sha256(shipped_weights)
    weights_dir_before = sorted(p.name for p in (REPO / "weights").iterdir())
    fitter, other = visitor(server), visitor(server)
    for digit in held_out_digits(per_label=1)[:8]:
        keep(fitter, digit, digit.label)

    job = fitter.submit(api_name="/fit_to_my_hand")
    final = dict(zip(FIT_API_OUTPUTS, job.result(timeout=300)))
    steps = [dict(zip(FIT_API_OUTPUTS, o)) for o in job.outputs()]
    assert any("batch" in str(s["progress"]) for s in steps)  # the live progress, as a training's
    assert "Fitted to your 8 drawings" in final["status"], final["status"]
    assert "% before" in final["status"] and "% after" in final["status"] and "2-fold" in final["status"]
    # The Draw tab's line changed with the fitted model (in the step that brought it, before the assessment).
    lines = [s["model_line"] for s in steps if isinstance(s["model_line"], str)]
    assert len(lines) == 1 and "fitted to your handwriting" in lines[0] and "8 drawings" in lines[0]
    fitted_file = Path(next(s["weights_file"] for s in steps if isinstance(s["weights_file"], str)))
    assert fitted_file.suffix == ".safetensors"

    # The fitted model answers this visitor's drawings; the other visitor still gets the shipped one.
    local = WebApp(settings)
    own = Reader.load(fitted_file)  # the fitted reader, its stroke reader and all
    assert own.info["finetuned_from"]["drawings"] == 8 and own.strokes is not None
    # Drawings not in the collection on which the two models' probabilities differ (a short fit may leave
    # a clear digit at 100% for both, which could not tell whose model answered).
    candidates = [pad_value(d) for d in held_out_digits(per_label=3)[2::3]]
    telling = [v for v in candidates
               if rounded(local.predict(v, 3, own)[0]) != rounded(local.predict(v, 3, None)[0])][:3]
    assert telling, "the fitted model reads every held-out drawing exactly as the shipped one does"
    for value in telling:
        fitter_label, fitter_status, _ = fitter.predict(value, 3, api_name="/predict")
        other_label, other_status, _ = other.predict(value, 3, api_name="/predict")
        assert (fitter_status, confidences(fitter_label)) == (local.predict(value, 3, own)[1],
                                                             rounded(local.predict(value, 3, own)[0]))
        assert (other_status, confidences(other_label)) == (local.predict(value, 3, None)[1],
                                                           rounded(local.predict(value, 3, None)[0]))
    assert "fitted" not in fitter.predict(api_name="/use_shared")  # back to the shipped model on request
    assert fitter.predict(pad_value(held_out_digits((4,))[0]), 3, api_name="/predict")[1] == \
        local.predict(pad_value(held_out_digits((4,))[0]), 3, None)[1]

    assert sha256(shipped_weights) == shipped_before
    assert sorted(p.name for p in (REPO / "weights").iterdir()) == weights_dir_before


def test_the_size_of_a_fit_comes_from_environment_variables(shipped_weights):
    from mnist_demo.app.settings import AppSettings, SettingsError
    from mnist_demo.personal.finetune import FitSettings

    s = AppSettings.from_env({"MNIST_DEMO_FIT_MIN_DRAWINGS": "3", "MNIST_DEMO_FIT_MNIST": "500",
                              "MNIST_DEMO_FIT_PEN": "0", "MNIST_DEMO_FIT_FOLDS": "0"})
    assert (s.fit_min_drawings, s.fit_mnist, s.fit_pen, s.fit_folds) == (3, 500, 0, 0)
    fit = WebApp(app_settings(shipped_weights, fit_mnist=500, fit_pen=0)).handwriting.fit_settings()
    assert (fit.mnist, fit.pen, fit.epochs) == (500, 0, FitSettings.epochs)
    defaults = WebApp(app_settings(shipped_weights, test_limit=None)).handwriting.fit_settings()
    assert defaults == FitSettings()  # the library's sizes, chosen for < 30 s on two cores
    with pytest.raises(SettingsError, match="MNIST_DEMO_FIT_MNIST"):
        AppSettings.from_env({"MNIST_DEMO_FIT_MNIST": "0"})


def collection_of(n: int):
    from mnist_demo.personal import Collection

    c = Collection()
    for digit in held_out_digits(per_label=2)[:n]:
        c.add(pad_value(digit), digit.label)
    return c


def test_a_fit_takes_the_one_training_slot(settings):
    from mnist_demo.app.trainer import TrainingRefused

    app = WebApp(settings)
    training = app.trainer.run("first", "mlp-50", app.trainer.recipe_for("mlp-50", epochs=1))
    next(training)  # a training has started
    try:
        with pytest.raises(TrainingRefused, match="Another training"):
            next(app.trainer.fit("second", settings.weights, collection_of(6), app.handwriting.fit_settings()))
    finally:
        training.close()
    assert not app.trainer.busy


@pytest.mark.slow
def test_stop_ends_a_fit_with_no_model_and_no_assessment(settings):
    from mnist_demo.app.trainer import TrainingReport
    from mnist_demo.personal.assess import Assessment
    from mnist_demo.training.engine import Progress

    app = WebApp(settings)
    fit = app.handwriting.fit_settings()
    events = app.trainer.fit("visitor", settings.weights, collection_of(6), type(fit)(mnist=20000, pen=200,
                                                                                     test_digits=500), folds=2)
    seen = []
    for event in events:
        seen.append(event)
        if isinstance(event, Progress):
            assert app.trainer.stop("visitor")
    report = next(e for e in seen if isinstance(e, TrainingReport))
    assert report.stopped and report.loaded is None
    assert not any(isinstance(e, Assessment) for e in seen) and not app.trainer.busy


def test_a_visitor_who_leaves_takes_their_collection_file_with_them(settings):
    app = WebApp(settings)
    leaving, staying = (SimpleNamespace(session_hash=h) for h in ("leaving", "staying"))
    saved = {}
    for who in (leaving, staying):
        collection = app.handwriting.keep(pad_value(held_out_digits((6,))[0]), 6)["collection"]
        saved[who.session_hash] = Path(app.handwriting.download(collection, who)["file"])
    assert saved["leaving"].is_file() and saved["leaving"].name == "my-handwriting.json.gz"
    app.forget_visitor(leaving)
    assert not saved["leaving"].exists() and saved["staying"].is_file()  # another visitor's stays


def test_keeping_a_drawing_writes_no_file_and_costs_the_same_whatever_the_collection_holds(settings, monkeypatch):
    """The download file is written when asked for, not at each keep: a keep used to serialize and gzip the
    whole collection again (70 s a keep at 500 large drawings)."""
    from mnist_demo.personal import Collection

    app = WebApp(settings)
    value = pad_value(held_out_digits((6,))[0])
    small = app.handwriting.keep(value, 6)["collection"]
    large = Collection(small)
    for _ in range(199):
        large.add(value, 6)
    writes = []
    monkeypatch.setattr(collecting, "write_atomically", lambda *args: writes.append(args))
    cost = {name: min(cpu_ms(lambda: app.handwriting.keep(value, 6, c)) for _ in range(5))
            for name, c in (("1 drawing", small), ("200 drawings", large))}
    assert not writes and not [p for p in app.trainer.files.root.rglob("*") if p.is_file()]
    assert cost["200 drawings"] < 2 * cost["1 drawing"] + 5, cost


def test_a_drawing_clicked_in_the_gallery_is_selected_with_what_can_be_done_to_it():
    from types import SimpleNamespace

    from mnist_demo.app.collecting import Handwriting
    from mnist_demo.personal import Collection

    c = Collection()
    for digit in held_out_digits((2, 6))[:2]:
        c.add(pad_value(digit), digit.label)
    hw = Handwriting(None, None, None)  # selecting needs no server
    chosen, message = hw.select(c, SimpleNamespace(index=1))  # the gallery shows them grouped by digit
    assert chosen == c.by_digit()[6][0].id
    assert "Selected a **6**" in message and "Remove selected" in message and "Relabel selected as" in message
    assert hw.select(c, SimpleNamespace(index=5)) == ("", "")  # a stale click selects nothing


def test_keeping_drawings_starts_drawing_a_fits_data_ahead_once_in_a_process_at_the_lowest_priority(
        settings, tmp_path, monkeypatch):
    """Drawing ahead renders for a minute or more: in a thread of the server's it took turns at the GIL from
    the visitors' readings, and a server ended meanwhile aborted ("terminate called without an active
    exception"). It runs in a process of its own, niced, ended with the server."""
    import dataclasses
    import os

    from tests.support.background import NOTE, note_drawing_ahead

    weights = tmp_path / "reader.safetensors"
    weights.symlink_to(settings.weights)
    settings = dataclasses.replace(settings, weights=weights)
    monkeypatch.setattr("mnist_demo.app.trainer.draw_ahead", note_drawing_ahead)
    app = WebApp(settings)
    for _ in range(3):
        app.handwriting.keep(pad_value(held_out_digits((6,))[0]), 6)
    note = tmp_path / NOTE
    wait_until(lambda: note.is_file() and note.read_text().endswith("\n"), 60, message="no drawing ahead started")

    off = WebApp(dataclasses.replace(settings, allow_training=False))
    off.handwriting.keep(pad_value(held_out_digits((6,))[0]), 6)
    assert not off.trainer.draw_ahead(weights, off.handwriting.fit_settings())
    assert not app.trainer.draw_ahead(weights, app.handwriting.fit_settings())  # once per server
    lines = note.read_text().splitlines()
    pid, niceness, drawn_for, fit = lines[0].split(" ", 3)
    assert len(lines) == 1 and int(pid) != os.getpid() and int(niceness) == 19
    assert drawn_for == weights.name and fit == repr(app.handwriting.fit_settings())
