"""A public server's trainings: nobody holds the one training slot for long, and a click on Train starts at once.

Every /train field has a range and a training's steps a budget, checked before anything starts, with a
message that names the field and its range; any training stops itself at the server's time limit, keeping
the best model so far; the queue has a size; the training's process and MNIST are ready before the click.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading

import httpx
import pytest
from gradio_client import Client
from gradio_client.utils import Status

from mnist_demo.app.handlers import WebApp
from mnist_demo.app.settings import AppSettings, SettingsError
from mnist_demo.app.trainer import Trainer, TrainingReport
from mnist_demo.app.views import recipe_changes
from mnist_demo.models.registry import image_models
from mnist_demo.training.engine import Progress
from tests.support.servers import app_settings, served_app
from tests.support.waiting import wait_until


@pytest.fixture(scope="module")
def public(shipped_weights):
    """A server with a public server's limits (AppSettings' own), on the tests' small part of MNIST."""
    webapp = WebApp(app_settings(shipped_weights, max_epochs=AppSettings.max_epochs))
    with served_app(webapp=webapp) as url:
        yield webapp, url


def call(url: str, api_name: str, **values) -> list[list]:
    """Every output an API call streams (its last one once), its values sent as a script might send them: JSON
    as Python writes it, NaN and all (gradio_client refuses to send NaN)."""
    endpoint = Client(url, verbose=False).view_api(print_info=False, return_format="dict")["named_endpoints"]
    defaults = {p["parameter_name"]: p.get("parameter_default") for p in endpoint[api_name]["parameters"]}
    url = f"{url}gradio_api/call{api_name}"
    started = httpx.post(url, content=json.dumps({"data": [values.get(n, d) for n, d in defaults.items()]}),
                         headers={"Content-Type": "application/json"})
    assert started.status_code == 200, started.text
    stream = httpx.get(f"{url}/{started.json()['event_id']}", timeout=120).text
    assert "event: error" not in stream, stream
    events = stream.strip().split("\n\n")  # "event: generating\ndata: [...]", ..., then "event: complete\ndata: [...]"
    return [json.loads(e.split("data: ", 1)[1]) for e in events if e.startswith("event: generating")] or \
        [json.loads(e.split("data: ", 1)[1]) for e in events if e.startswith("event: complete")]


# What an API client sent a public server, each of which trained (or held the slot) before.
ABSURD = {
    "a batch of a billion": (dict(batch_size=1e9), "batch_size must be a whole number in [1, 1024] on this server "
                                                   "(MNIST_DEMO_MAX_BATCH_SIZE), not 1000000000"),
    "batches of one for 20 epochs": (dict(batch_size=1, epochs=20), "would take 40,000 steps (20 epoch(s) x 2,000 "
                                     "batches of 1 from 2,000 training digits), and this server allows at most "
                                     "20,000 (MNIST_DEMO_MAX_STEPS): ask for fewer epochs or a larger batch size"),
    "lr 1e9": (dict(lr=1e9), "lr must be in (0, 10], not 1e+09"),
    "momentum 50": (dict(momentum=50), "momentum must be in [0, 1), not 50"),
    "weight decay -5": (dict(weight_decay=-5), "weight_decay must be in [0, 1], not -5"),
    "lr nan": (dict(lr=float("nan")), "lr must be in (0, 10], not nan"),
}


@pytest.mark.parametrize("recipe, message", ABSURD.values(), ids=ABSURD.keys())
def test_an_absurd_recipe_is_refused_up_front_through_the_api_with_what_is_allowed(public, recipe, message):
    webapp, url = public
    outputs = call(url, "/train", model="fastnet", **recipe)
    # One answer, the refusal: no "Starting…" before it, no training ever took the slot.
    assert len(outputs) == 1, [o[1] for o in outputs]
    status = outputs[0][1]
    assert status.startswith("**Not trained.**") and message in status, status
    assert not webapp.trainer.busy


def test_the_servers_limits_name_their_variables_and_the_step_budget_counts_all_of_mnist(shipped_weights):
    app = WebApp(app_settings(shipped_weights, train_limit=None, max_epochs=20, max_batch_size=512))
    trainer = app.trainer
    messages = [out.status for out in app.train(model="fastnet", batch_size=1, epochs=20) if out.status]
    assert messages == ["**Not trained.** This training would take 1,200,000 steps (20 epoch(s) x 60,000 batches "
                        "of 1 from 60,000 training digits), and this server allows at most 20,000 "
                        "(MNIST_DEMO_MAX_STEPS): ask for fewer epochs or a larger batch size."]
    with pytest.raises(Exception, match=r"batch_size must be a whole number in \[1, 512\] on this server "
                                        r"\(MNIST_DEMO_MAX_BATCH_SIZE\), not 600"):
        trainer.recipe_for("fastnet", batch_size=600)
    # Not whole, or not a number: named, never rounded into a training nor a traceback.
    for values, said in [(dict(batch_size=64.5), "batch_size must be a whole number in [1, 512] on this server "
                                                 "(MNIST_DEMO_MAX_BATCH_SIZE), not 64.5"),
                         (dict(epochs=float("nan")), "epochs must be a whole number in [1, 20] on this server "
                                                     "(MNIST_DEMO_MAX_EPOCHS), not nan")]:
        assert [out.status for out in app.train(model="fastnet", **values)] == [
            f"**Not trained.** Cannot train with these settings: {said}."]
    # A recipe made in Python, past the page's fields, meets the same limits when it is run.
    from mnist_demo.base.recipe import Recipe

    with pytest.raises(Exception, match=r"epochs must be a whole number in \[1, 20\] on this server"):
        next(trainer.run("visitor", "fastnet", Recipe(epochs=50)))
    assert not trainer.busy


def test_every_models_recipe_as_the_train_tab_fills_it_in_fits_the_servers_limits(shipped_weights):
    app = WebApp(app_settings(shipped_weights, train_limit=None, max_epochs=20))
    for model in image_models():
        values = app.model_fields(model)
        values.pop("about")
        recipe = app.trainer.recipe_for(model, **recipe_changes(values))
        app.trainer.check(model, recipe)  # Train with nothing changed is never refused


def test_the_training_limits_come_from_environment_variables_and_a_bad_one_is_named():
    s = AppSettings.from_env({"MNIST_DEMO_MAX_BATCH_SIZE": "4096", "MNIST_DEMO_MAX_STEPS": "100000",
                              "MNIST_DEMO_MAX_TRAIN_SECONDS": "900", "MNIST_DEMO_MAX_QUEUE": "3"})
    assert (s.max_batch_size, s.max_steps, s.max_train_seconds, s.max_queue) == (4096, 100_000, 900, 3)
    d = AppSettings.from_env({})
    assert (d.max_epochs, d.max_batch_size, d.max_steps, d.max_train_seconds, d.max_queue) == (20, 1024, 20_000,
                                                                                                300, 10)
    for name in ("MNIST_DEMO_MAX_BATCH_SIZE", "MNIST_DEMO_MAX_STEPS", "MNIST_DEMO_MAX_TRAIN_SECONDS",
                 "MNIST_DEMO_MAX_QUEUE"):
        with pytest.raises(SettingsError, match=name):
            AppSettings.from_env({name: "0"})


# ---------------------------------------------------------------- the time limit


class ManualClock:
    """Stands in for the trainer's Timer: the time limit runs out when the test says so."""

    made: list["ManualClock"] = []

    def __init__(self, seconds: float, expire) -> None:
        self.seconds, self.expire, self.started = seconds, expire, False
        ManualClock.made.append(self)

    def start(self) -> None:
        self.started = True

    def cancel(self) -> None:
        pass


def test_the_time_limit_stops_a_training_keeps_its_best_model_and_says_so(shipped_weights, monkeypatch):
    monkeypatch.setattr("mnist_demo.app.trainer.Timer", ManualClock)
    ManualClock.made.clear()
    app = WebApp(app_settings(shipped_weights, train_limit=3000, test_limit=500, max_train_seconds=120))
    outputs = []
    for out in app.train(model="mlp-100", epochs=3, batch_size=50, optimizer="adam", lr=0.002):
        outputs.append(out)
        if out.status and "epoch 1/3" in out.status:
            ManualClock.made[-1].expire()  # two minutes have gone by, in the first epoch's end
    assert [(c.seconds, c.started) for c in ManualClock.made] == [(120, True)]
    final = outputs[-1]
    assert final.status.startswith("**Stopped at the time limit after 1 epoch(s). Kept the model of epoch 1: ")
    assert ("Stopped at this server's time limit of 2 min (MNIST_DEMO_MAX_TRAIN_SECONDS); the best model so far "
            "is kept.") in final.status
    assert final.trained is not None and final.weights_file.endswith(".safetensors") and final.use_button
    assert not app.trainer.busy


def test_the_real_clock_stops_a_long_training_and_frees_the_slot(shipped_weights):
    # Ten thousand steps of one digit each: far longer than the one second this server allows.
    trainer = Trainer(app_settings(shipped_weights, max_train_seconds=1))
    recipe = trainer.recipe_for("mlp-100", epochs=5, batch_size=1)
    report = list(trainer.run("visitor", "mlp-100", recipe))[-1]
    assert isinstance(report, TrainingReport) and report.time_limited and report.stopped
    assert len(report.history) < 5 and "time limit" in report.summary()
    assert not trainer.busy


# ---------------------------------------------------------------- the queue


@pytest.mark.slow
def test_beyond_the_queues_size_one_more_training_is_told_the_queue_is_full(shipped_weights):
    webapp = WebApp(app_settings(shipped_weights, max_queue=1))
    with served_app(webapp=webapp) as url:
        first, second, third = (Client(url, verbose=False) for _ in range(3))
        running = first.submit(model="mlp-50", epochs=5, batch_size=1, api_name="/train")  # holds the slot
        wait_until(lambda: webapp.trainer.busy, 60, message="the first training did not start")
        waiting = second.submit(model="mlp-50", epochs=1, api_name="/train")
        wait_until(lambda: waiting.status().code == Status.IN_QUEUE, 30,
                   message=lambda: f"the second training is not waiting in the queue: {waiting.status().code}")
        with pytest.raises(Exception, match="Queue is full"):
            third.submit(model="mlp-50", epochs=1, api_name="/train").result(timeout=60)
        # Stop skips the queue, full or not, as do readings and "Use in Draw tab". The page sends what skips the
        # queue to /run/, as here (gradio_client sends every call through the queue, and is told it is full).
        config = httpx.get(f"{url}config").json()
        queued = {d.get("api_name"): d.get("queue") for d in config["dependencies"]}
        assert [queued[name] for name in ("predict", "stop", "use_trained", "use_shared")] == [False] * 4
        stopped = httpx.post(f"{url}gradio_api/run/stop", json={"data": [], "session_hash": first.session_hash})
        assert "Stopping" in stopped.json()["data"][0]
        running.result(timeout=60)
        assert "Done after 1 epoch(s)" in waiting.result(timeout=120)[1]  # the one that waited trains


# ---------------------------------------------------------------- ready before the click


def test_the_training_process_and_mnist_are_ready_before_the_click(tmp_path, mnist_dir, shipped_weights):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for file in (mnist_dir / "MNIST" / "raw").glob("*-ubyte"):
        (raw / file.name).symlink_to(file.resolve())
    trainer = Trainer(app_settings(shipped_weights, data_dir=tmp_path, train_limit=3000, test_limit=500))
    try:
        assert trainer.warm_up() and not trainer.warm_up()  # once: each training's end readies the next
        wait_until(trainer.ready, 120, message="the training's process and MNIST were not ready")
        shutil.rmtree(tmp_path / "MNIST")  # from now on MNIST cannot be loaded: the click must not need to
        recipe = trainer.recipe_for("mlp-100", epochs=1, batch_size=50, optimizer="adam", lr=0.002)
        events = list(trainer.run("visitor", "mlp-100", recipe))
        first = next(e for e in events if isinstance(e, Progress))
        assert first.batch == 3  # the plot's first point comes after the first few batches
        report = events[-1]
        assert isinstance(report, TrainingReport) and report.loaded is not None and not report.stopped
    finally:
        trainer.close()


def note_niceness(path: str) -> None:
    """A standby's preload (run in the standby's process): its thread's niceness, into `path`."""
    with open(path, "w") as f:
        f.write(str(os.getpriority(os.PRIO_PROCESS, threading.get_native_id())))


def niceness_job(stop_path: str):
    """A standby's job: the niceness it runs at."""
    yield os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="niceness is per thread on Linux only")
def test_a_standby_preloads_at_the_lowest_priority_and_trains_at_its_own(tmp_path):
    """A standby readied as a training ends must not take a core from the visitors drawing (the web server is
    niced below its trainings): its preload runs in a thread of the lowest priority; its training does not."""
    from mnist_demo.training.standby import PRELOAD_NICENESS, Standby, start_training_server

    start_training_server()
    standby = Standby(note_niceness, str(tmp_path / "preload"))
    try:
        wait_until(standby.ready, 60, message="the standby never got ready")
        events = list(standby.run(niceness_job, stop_path=str(tmp_path / "stop")))
    finally:
        standby.close()
    assert int((tmp_path / "preload").read_text()) == PRELOAD_NICENESS
    assert events == [os.getpriority(os.PRIO_PROCESS, 0)] and events[0] < PRELOAD_NICENESS
