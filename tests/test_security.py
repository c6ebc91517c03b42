"""Security: no pickle anywhere, nothing a visitor sends becomes a file path, limits hold on the server;
the app imports none of the tests' helpers."""

from __future__ import annotations

import re
from pathlib import Path

import gradio as gr
import httpx
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from mnist_demo.reading.weights import Weights
from tests.support.servers import REPO, app_settings, served_app

# Ways Python code can unpickle: each would let a weights file run code.
UNPICKLING = re.compile(r"\bimport\s+(c?pickle|dill|joblib|cloudpickle)\b|\bfrom\s+(c?pickle|dill|joblib)\b"
                        r"|\bpickle\.loads?\(|torch\.load\(|allow_pickle\s*=\s*True|weights_only\s*=\s*False"
                        r"|\bnp\.load\(|\bnumpy\.load\(")


def unpickling_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if UNPICKLING.search(line)]


def test_the_scanner_finds_each_way_to_unpickle():
    # Spelled in pieces so that searches of this repository for unpickling don't stop at its own test.
    pk, load = "pick" + "le", "torch." + "load("
    for line in [f"import {pk}", f"from {pk} import loads", f"{load}path)", f"x = {pk}.load(f)",
                 "np.load(p, allow_pickle=True)", f"{load}p, weights_only=False)", "import dill"]:
        assert unpickling_lines(line), line
    assert not unpickling_lines("from safetensors.torch import load_file, save_file")


def app_sources() -> list[Path]:
    """The app's code: what is shipped (app.py, the package)."""
    return [REPO / "app.py", *sorted((REPO / "mnist_demo").rglob("*.py"))]


def test_no_code_of_the_app_can_unpickle():
    # The benchmarks and the helpers the tests share (servers, the load generator) load weights and run the app too.
    sources = [*app_sources(), *sorted((REPO / "benchmarks").glob("*.py")),
               *sorted((REPO / "tests" / "support").rglob("*.py"))]
    assert len(sources) > 20 and REPO / "tests" / "support" / "servers.py" in sources
    found = {str(p.relative_to(REPO)): unpickling_lines(p.read_text(encoding="utf-8")) for p in sources}
    assert not {p: lines for p, lines in found.items() if lines}


def test_the_app_imports_nothing_from_the_tests():
    """Test helpers (servers with test settings, the load generator) are not shipped: the app never needs them."""
    importing = re.compile(r"^\s*(from|import)\s+tests\b", re.MULTILINE)
    assert importing.search("x = 1\n    from tests.support.servers import REPO")
    assert not importing.search("import testsuite")
    found = [str(p.relative_to(REPO)) for p in app_sources() if importing.search(p.read_text(encoding="utf-8"))]
    assert not found


@pytest.fixture(scope="module")
def strict_server(shipped_weights):
    """A server as a public Space would run it: few epochs."""
    with served_app(app_settings(shipped_weights, max_epochs=2)) as url:
        yield url


def test_the_epoch_limit_holds_for_api_clients_that_skip_the_page(strict_server):
    # Gradio checks the value against the slider's maximum before our own check would run.
    with pytest.raises(AppError, match="greater than maximum value 2"):
        Client(strict_server, verbose=False).predict(model="mlp-50", epochs=50, api_name="/train")


def test_training_turned_off_holds_for_api_clients(shipped_weights):
    with served_app(app_settings(shipped_weights, allow_training=False)) as url:
        final = Client(url, verbose=False).predict(model="mlp-50", epochs=1, api_name="/train")
    assert "turned off" in final[1]


@pytest.mark.parametrize("target", ["/etc/passwd", str(Weights.DEFAULT.file)])
def test_a_server_path_sent_as_an_upload_is_refused(strict_server, target):
    """An API client naming a file on the server gets an error, never the file read as a digit."""
    url = strict_server + "gradio_api/call/predict_image"
    started = httpx.post(url, json={"data": [{"path": target, "meta": {"_type": "gradio.FileData"}}, 3]})
    assert started.status_code == 200
    events = httpx.get(f"{url}/{started.json()['event_id']}", timeout=60).text
    assert "event: error" in events and "Looks like" not in events


def test_a_path_sent_as_a_drawing_is_parsed_as_a_drawing_not_opened(strict_server):
    label, status, _ = Client(strict_server, verbose=False).predict(str(Path("/etc/passwd")), 3, api_name="/predict")
    assert not label and "not valid JSON" in status


def test_closing_a_heartbeat_named_like_a_folder_deletes_no_visitor_s_files(shipped_weights):
    """Any client can open /gradio_api/heartbeat/<id> and close it: the server then forgets the session <id>.
    An id named like a folder of the server (or like a visitor's folder) takes nobody's files with it: it
    once deleted every visitor's collection file."""
    from mnist_demo.app.handlers import WebApp
    from mnist_demo.app.visitor_files import folder_name
    from tests.support.drawings import held_out_digits, pad_value
    from tests.support.waiting import wait_until

    webapp = WebApp(app_settings(shipped_weights))
    forgotten: list[str] = []
    forget = webapp.forget_visitor

    def forget_visitor(request: gr.Request | None = None) -> None:  # what the page's unload calls
        forget(request)
        forgotten.append(request.session_hash)
    webapp.forget_visitor = forget_visitor
    with served_app(webapp=webapp) as url:
        visitor = Client(url, verbose=False)
        visitor.predict(pad_value(held_out_digits((3,))[0]), 3, api_name="/keep_drawing")
        visitor.predict(api_name="/download_drawings")
        mine = next(webapp.trainer.files.root.rglob("my-handwriting.json.gz"))  # the visitor's file, on the server
        for sneaky in ["handwriting", "collections", "trainings", folder_name(visitor.session_hash)]:
            with httpx.stream("GET", f"{url}gradio_api/heartbeat/{sneaky}", timeout=30) as beat:
                next(beat.iter_lines())  # the server sees the session open, then closed
            wait_until(lambda: sneaky in forgotten, message=f"the server never forgot {sneaky!r}")
            assert mine.is_file(), sneaky


@pytest.mark.parametrize("api_name", ["keep_drawing", "remove_drawing", "relabel_drawing", "remove_all_drawings",
                                      "upload_drawings", "download_drawings", "train", "fit_to_my_hand"])
def test_what_queues_cannot_be_called_around_the_queue(strict_server, api_name):
    """The collection's events and the trainings run a few at a time, in the queue; POST /gradio_api/run/ would
    run them at once, as many as anyone sends, but it is closed to them. /predict skips the queue, for speed."""
    config = httpx.get(strict_server + "config").json()
    queued = {d["api_name"]: d.get("queue") is not False for d in config["dependencies"] if d.get("api_name")}
    assert queued[api_name] and not queued["predict"]
    around = httpx.post(f"{strict_server}gradio_api/run/{api_name}", json={"data": []})
    assert around.status_code == 404 and "join the queue" in around.text
