"""The web app through its API (gradio_client), as a script or another program would use it.

One server runs in this process for the module, with the shipped weights and
MNIST cut to a small subset so trainings take seconds.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import time
from pathlib import Path

import pytest
from gradio_client import Client
from gradio_client.utils import Status
from PIL import Image

from mnist_demo.app.drawing import EMPTY_LABEL, NOT_A_DIGIT_LABEL, UNSURE_LABEL
from mnist_demo.app.handlers import WebApp
from mnist_demo.app.outputs import TRAIN_API_OUTPUTS
from mnist_demo.app.settings import AppSettings, SettingsError
from mnist_demo.app.trainer import TrainingRefused
from mnist_demo.app.views import TRAIN_FIELDS
from mnist_demo.handwriting.pen_digits import centred
from mnist_demo.models.checkpoint import load_weights
from mnist_demo.training.data import DataUnavailable
from tests.support.drawings import held_out_digits, pad_value
from tests.support.servers import REPO, app_settings, served_app
from tests.support.waiting import wait_until


@pytest.fixture(scope="module")
def server(shipped_weights):
    with served_app(app_settings(shipped_weights)) as url:
        yield url


@pytest.fixture(scope="module")
def local(shipped_weights):
    """The same app logic without a server: what a visitor should get, computed here."""
    return WebApp(app_settings(shipped_weights))


def client(url: str) -> Client:
    """A new client is a new visitor (its own session)."""
    return Client(url, verbose=False)


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def named(output: tuple) -> dict:
    """One of /train's streamed tuples by output name (see TrainOutputs)."""
    assert len(output) == len(TRAIN_API_OUTPUTS)
    return dict(zip(TRAIN_API_OUTPUTS, output))


def epoch_rows(output) -> list:
    table = named(output)["epochs_table"]
    return table.get("data", []) if isinstance(table, dict) and "headers" in table else []


def statuses(job) -> list[str]:
    return [named(o)["status"] for o in job.outputs()]


def wait_for(job, condition, timeout: float = 120.0) -> None:
    """Wait until a streaming job's outputs so far meet `condition(outputs)`; fails at once if it ends without."""
    def met() -> bool:
        ended = job.done()  # before the outputs: a job that ended has streamed them all
        if condition(job.outputs()):
            return True
        assert not ended, f"the job ended, the condition not met; its statuses: {statuses(job)}"
        return False

    wait_until(met, timeout, message=lambda: f"condition not met; statuses so far: {statuses(job)}")


# ---------------------------------------------------------------- predict

def preview_image(preview: str) -> Image.Image:
    """The 28x28 image inside the preview HTML the predict event returns."""
    src = re.search(r"src='data:image/png;base64,([^']+)'", preview)
    assert src, preview
    return Image.open(io.BytesIO(base64.b64decode(src.group(1))))


MAX_UNSURE = 1  # of the ten held-out digits read, at most one may get "Not sure"; none may get a wrong answer


def assert_read_right(labels: list[dict], digits: list) -> None:
    """Each answer is the digit drawn, or "Not sure" (at most MAX_UNSURE times), never another digit."""
    said = [label["label"] for label in labels]
    wrong = [(s, d.label) for s, d in zip(said, digits) if s not in (str(d.label), UNSURE_LABEL)]
    assert not wrong, f"confident and wrong (said, drawn): {wrong}"
    assert said.count(UNSURE_LABEL) <= MAX_UNSURE, f"read {said} for {[d.label for d in digits]}"


def test_predict_reads_digits_drawn_by_writers_no_model_has_seen(server):
    c = client(server)
    digits = held_out_digits(per_label=1)
    labels = []
    for version, digit in enumerate(digits, 1):
        label, status, preview = c.predict(pad_value(digit, version), 3, api_name="/predict")
        assert "sure" in status.lower()  # "Looks like a 3 (96% sure)." or "Not sure: ..."
        labels.append(label)
        # The 28x28 image the model saw comes back too, tagged with the drawing it is for.
        assert preview_image(preview).size == (28, 28)
        assert f"data-version='{version}'" in preview
    assert_read_right(labels, digits)


def test_predict_says_not_sure_to_what_is_not_one_digit_and_why_where_it_can_tell(server):
    from mnist_demo.handwriting.non_digits import HELD_OUT_FAMILIES, Family, non_digit_set
    from mnist_demo.handwriting.pen_digits import COLLECTIONS

    held = [d for c in COLLECTIONS.values() for d in c.digits(c.held_out_writers)]
    drawings = non_digit_set(HELD_OUT_FAMILIES, 5, seed=11, digits=held)  # symbols, scribbles, pairs, cut digits
    c = client(server)
    answers = [c.predict(d.sketch.to_json(), 3, api_name="/predict")[:2] for d in drawings]
    not_sure = [status for label, status in answers if label["label"] in (UNSURE_LABEL, NOT_A_DIGIT_LABEL)]
    shown = [(d.family.name, d.name, label["label"]) for d, (label, _) in zip(drawings, answers)
             if label["label"] not in (UNSURE_LABEL, NOT_A_DIGIT_LABEL)]
    assert len(not_sure) >= 0.85 * len(drawings), f"answered as digits: {shown}"
    assert all(status.startswith(("Not sure", "This doesn't look")) for status in not_sure)
    # A digit cut by the pad's edge: the page says so, whatever the model thinks of the rest.
    for d, (label, status) in zip(drawings, answers):
        if d.family is Family.OFF_PAD:
            assert label["label"] == UNSURE_LABEL and "off the pad" in status


def test_predict_answers_with_the_top_k_asked_for(server):
    c = client(server)
    digits = held_out_digits(per_label=1)
    labels = [c.predict(pad_value(digit), 5, api_name="/predict")[0] for digit in digits]
    assert_read_right(labels, digits)
    for label in labels:
        if label["label"] != UNSURE_LABEL:  # a confident answer: the five likeliest digits, likeliest first
            probabilities = [c["confidence"] for c in label["confidences"]]
            assert len(probabilities) == 5 and probabilities == sorted(probabilities, reverse=True)
            assert label["confidences"][0]["label"] == label["label"]


def test_strokes_given_as_bare_point_lists_are_read_too(server):
    digit = held_out_digits((3,))[0]
    strokes = [s.points.tolist() for s in centred().sketch(digit.strokes).strokes]
    label, _, _ = client(server).predict(json.dumps({"strokes": strokes}), 3, api_name="/predict")
    assert label["label"] == "3"


def test_an_empty_pad_gets_a_message_not_a_guess(server):
    for empty in ('{"strokes": []}', ""):
        label, status, preview = client(server).predict(empty, 3, api_name="/predict")
        assert label["label"] == EMPTY_LABEL and not label.get("confidences")
        assert status == "Nothing drawn yet"
        assert "<img" not in preview


def test_a_malformed_drawing_gets_a_message_not_a_traceback(server):
    label, status, _ = client(server).predict('{"strokes": [[[1, "x"]]]}', 3, api_name="/predict")
    assert label is None or not label.get("confidences")
    assert "Could not read the drawing" in status and "must be a number" in status


# ---------------------------------------------------------------- train

def test_the_train_endpoint_takes_every_recipe_field_by_name_and_returns_its_outputs_in_order(server):
    endpoint = client(server).view_api(print_info=False, return_format="dict")["named_endpoints"]["/train"]
    parameters = {p["parameter_name"]: p for p in endpoint["parameters"]}
    assert set(parameters) == {"model", *(f.name for f in TRAIN_FIELDS)}  # called by name: order is no matter
    assert all(p["parameter_has_default"] for p in parameters.values())  # each one may be left out
    assert [r["label"] for r in endpoint["returns"]][:2] == ["Progress", "Status"]
    assert len(endpoint["returns"]) == len(TRAIN_API_OUTPUTS)


@pytest.mark.slow
def test_train_streams_every_epoch_and_its_model_answers_only_for_its_visitor(server, tmp_path, local,
                                                                             shipped_weights):
    shipped_before = sha256(shipped_weights)
    trainer, other = client(server), client(server)
    job = trainer.submit(model="mlp-50", epochs=2, api_name="/train")
    final = named(job.result(timeout=180))
    outputs = job.outputs()

    # Each epoch streamed as it ended: a table of one epoch, then of two.
    tables = [len(epoch_rows(o)) for o in outputs if epoch_rows(o)]
    assert 1 in tables and 2 in tables and tables.index(1) < tables.index(2)
    assert any("batch" in str(named(o)["progress"]) for o in outputs)  # progress within the epoch
    rows = final["epochs_table"]["data"]
    assert [r[0] for r in rows] == [1, 2] and all(0 < r[1] <= 100 for r in rows)
    assert "Done after 2 epoch(s)" in final["status"]
    assert len(final["per_class"]["data"]) == 10 and len(final["confusion"]["data"]) == 10
    weights = Path(final["weights_file"])
    assert weights.suffix == ".safetensors"

    # "Use in Draw tab" switches this visitor's Draw tab only.
    assert "mlp-50" in trainer.predict(api_name="/use_trained")
    own = local.draw_tab.own_reader(load_weights(weights))
    differs = False
    for digit in held_out_digits((2, 5, 8)):
        value = pad_value(digit)
        _, trainer_status, _ = trainer.predict(value, 3, api_name="/predict")
        _, other_status, _ = other.predict(value, 3, api_name="/predict")
        assert trainer_status == local.predict(value, 3, own)[1]  # the trained model answered
        assert other_status == local.predict(value, 3, None)[1]  # the shipped model answered
        differs |= trainer_status != other_status
    assert differs

    # Back to the shipped model on request; the shipped weights were never touched.
    assert "mlp-50" not in trainer.predict(api_name="/use_shared")
    assert sha256(shipped_weights) == shipped_before
    assert not list((REPO / "weights").glob("mlp-50*"))


@pytest.mark.slow
def test_a_second_visitor_waits_in_the_queue_and_stop_keeps_the_best_model_so_far(server):
    first, second = client(server), client(server)
    running = first.submit(model="drawnet", epochs=5, pen_digits="no", augment="none", api_name="/train")
    wait_for(running, lambda outs: any(epoch_rows(o) for o in outs))  # its first epoch has ended

    # One training at a time: the second visitor's waits in the queue...
    queued = second.submit(model="mlp-50", epochs=1, api_name="/train")
    wait_until(lambda: queued.status().code == Status.IN_QUEUE, 30,
               message=lambda: f"the second training is not waiting in the queue: {queued.status().code}")
    # ...while drawing predictions are still answered, and quickly.
    value = pad_value(held_out_digits((4,))[0])
    started = time.perf_counter()
    second.predict(value, 3, api_name="/predict")
    assert time.perf_counter() - started < 5.0

    # A visitor can stop only their own training.
    assert "No training of yours" in second.predict(api_name="/stop")

    # Stop ends the first training early, and keeps the best model so far.
    assert "Stopping" in first.predict(api_name="/stop")
    final = named(running.result(timeout=60))
    assert "Stopped early" in final["status"], final["status"]
    assert 1 <= len(final["epochs_table"]["data"]) < 5
    assert Path(final["weights_file"]).is_file()

    # Then the queued training runs.
    assert "Done after 1 epoch(s)" in named(queued.result(timeout=120))["status"]


# ---------------------------------------------------------------- limits and missing pieces (no server needed)

def train_messages(app: WebApp, **kwargs) -> list[str]:
    """The status lines a training from Python shows, in order."""
    return [out.status for out in app.train(**kwargs) if out.status is not None]


def test_training_can_be_turned_off_for_public_hosting(shipped_weights):
    app = WebApp(app_settings(shipped_weights, allow_training=False))
    message = train_messages(app, model="mlp-50", epochs=1)[-1]
    assert "turned off" in message and "MNIST_DEMO_ALLOW_TRAINING" in message


def test_more_epochs_than_the_server_allows_are_refused(shipped_weights):
    app = WebApp(app_settings(shipped_weights, max_epochs=3))
    message = train_messages(app, model="mlp-50", epochs=4)[-1]
    assert "epochs must be a whole number in [1, 3] on this server (MNIST_DEMO_MAX_EPOCHS), not 4" in message


def test_bad_recipe_values_get_a_message(shipped_weights):
    app = WebApp(app_settings(shipped_weights))
    message = train_messages(app, model="mlp-50", epochs=1, lr=-1.0)[-1]
    assert "lr must be in (0, 10], not -1" in message
    message = train_messages(app, model="mlp-50", epochs=1, learning_rate=0.1)[-1]  # not a recipe field
    assert "Not trained" in message and "learning_rate" in message


def test_without_mnist_the_train_tab_says_so_and_drawing_still_works(shipped_weights, monkeypatch):
    def unavailable(*_):
        raise DataUnavailable("MNIST is not in data/MNIST/raw and could not be downloaded")

    monkeypatch.setattr("mnist_demo.app.trainer.load_mnist", unavailable)
    app = WebApp(app_settings(shipped_weights))
    messages = train_messages(app, model="mlp-50", epochs=1)
    assert "needs MNIST" in messages[-1] and "could not be downloaded" in messages[-1]
    _, status, preview = app.predict(pad_value(held_out_digits((3,))[0]), 3)
    assert "sure" in status and preview_image(preview).size == (28, 28)


def test_without_weights_the_app_starts_and_says_what_to_do(tmp_path):
    app = WebApp(app_settings(tmp_path / "missing.safetensors"))
    assert "MNIST_DEMO_WEIGHTS" in app.describe()
    label, status, preview = app.predict(pad_value(held_out_digits((1,))[0]), 3)
    assert label is None and "<img" not in preview and "No model" in status


def test_one_training_at_a_time_even_from_python(shipped_weights):
    app = WebApp(app_settings(shipped_weights))
    events = app.trainer.run("first", "mlp-50", app.trainer.recipe_for("mlp-50", epochs=1))
    next(events)  # the first training has started
    try:
        with pytest.raises(TrainingRefused, match="Another training"):
            next(app.trainer.run("second", "mlp-50", app.trainer.recipe_for("mlp-50", epochs=1)))
    finally:
        events.close()  # leaving early stops it and frees the trainer
    assert not app.trainer.busy


def test_hosting_limits_come_from_environment_variables():
    from mnist_demo.reading.weights import Weights

    s = AppSettings.from_env({"MNIST_DEMO_WEIGHTS": "w.safetensors", "MNIST_DEMO_ALLOW_TRAINING": "0",
                              "MNIST_DEMO_MAX_EPOCHS": "3", "MNIST_DEMO_TRAIN_LIMIT": "5000",
                              "MNIST_DEMO_TEST_LIMIT": "1000", "MNIST_DEMO_TRAIN_THREADS": "2"})
    assert (s.weights, s.allow_training, s.max_epochs, s.train_limit, s.test_limit, s.train_threads) == \
        (Path("w.safetensors"), False, 3, 5000, 1000, 2)
    defaults = AppSettings.from_env({})
    assert defaults.allow_training and defaults.train_limit is None
    assert defaults.weights == Weights.DEFAULT.file  # the shipped weights, wherever the app is started from


@pytest.mark.parametrize("name, value", [("MNIST_DEMO_MAX_EPOCHS", "ten"), ("MNIST_DEMO_MAX_EPOCHS", "0"),
                                         ("MNIST_DEMO_ALLOW_TRAINING", "maybe")])
def test_a_bad_limit_is_named_in_the_error(name, value):
    with pytest.raises(SettingsError, match=name):
        AppSettings.from_env({name: value})


# ---------------------------------------------------------------- the README's snippets

def readme_api_snippets() -> list[str]:
    section = (REPO / "README.md").read_text(encoding="utf-8").split("## The app's API", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


@pytest.mark.slow
def test_the_readme_api_snippets_run_as_written(server, capsys):
    predict_snippet, train_snippet = readme_api_snippets()
    namespace: dict = {}
    exec(predict_snippet.replace("http://127.0.0.1:7860/", server), namespace)
    assert namespace["status"].startswith("Looks like a 7")
    assert namespace["label"]["label"] == "7"
    exec(train_snippet, namespace)  # the same client: it trains, then draws with its model, then stops
    # The snippet's names for the outputs are the app's, in the app's order.
    assert [namespace[name.upper()] for name in TRAIN_API_OUTPUTS] == list(range(len(TRAIN_API_OUTPUTS)))
    final = named(namespace["final"])
    assert "Done after 3 epoch(s)" in final["status"]
    assert Path(final["weights_file"]).suffix == ".safetensors"
    printed = capsys.readouterr().out
    assert "'epoch': 1" in printed and "'epoch': 3" in printed
