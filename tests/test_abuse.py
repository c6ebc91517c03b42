"""The abuse suite (benchmarks/abuse.py), small: a bad client against a test server, over HTTP.

The benchmark runs it against `python app.py` (a 30 s flood, 10 visitors); here a 5 s flood beside 3
visitors, on a server of this process with a public server's training limits. What must hold: every absurd
recipe refused up front, naming its field, the slot left free; no visitor's file touched by heartbeats
closed in other names; every call answered through the flood; the held-out digits read right after it;
memory bounded; calls without a session refused or owned by nobody else. No latency bound: a test machine
is busy, and the benchmark reports the numbers.
"""

from __future__ import annotations

import os

import pytest

from benchmarks.abuse import RSS_TARGET_MB, run_suite
from benchmarks.abuse_requests import ABSURD
from mnist_demo.app.handlers import WebApp
from mnist_demo.app.settings import AppSettings
from tests.support.servers import app_settings, served_app


@pytest.mark.slow
def test_a_bad_client_is_refused_and_takes_nothing_from_the_other_visitors(shipped_weights):
    webapp = WebApp(app_settings(shipped_weights, max_epochs=AppSettings.max_epochs))
    with served_app(webapp=webapp) as url:
        report = run_suite(url, os.getpid(), lambda: webapp.trainer.files.root, seconds=5, visitors=3,
                           log=lambda line: None)
    rows = {r["id"]: r for r in report["rows"]}

    refused = [r for r in report["rows"] if r["case"].startswith("1")]
    assert len(refused) == len(ABSURD)
    for r in refused:
        assert r["up_front"] and r["named"], r  # one answer, the refusal, naming the field
        assert r["slot_free"] and r["passed"], r  # and no training took the slot; /predict still read right

    sneaky, own = rows["heartbeats: sneaky ids"], rows["heartbeats: the victim's id"]
    assert sneaky["files_before"] >= 2 and sneaky["touched"] == [], sneaky
    assert sneaky["passed"], sneaky  # both visitors' drawings download again, the same
    assert own["victim_file_went"] and own["touched_others"] == [] and own["passed"], own

    drawing = rows["flood: drawing visitors"]
    figures = report["figures"]["flood"]
    assert figures["visitors_calls"]["predictions"] >= 3 and figures["visitors_calls"]["errors"] == 0, figures
    assert figures["flooder"]["predict"]["calls"] > 0 and figures["flooder"]["keep_drawing"]["calls"] > 0, figures
    assert figures["errors"] == 0, drawing

    assert rows["read right after"]["passed"], rows["read right after"]
    memory = rows["memory"]
    assert 100 < memory["peak_rss_mb"] < RSS_TARGET_MB, memory

    for name in ("no session: queue/join", "no session: /run/ around the queue", "no session: /call/ collection",
                 "no session: /call/train"):
        assert rows[name]["passed"], rows[name]


def test_the_suite_lists_visitors_files_while_the_server_deletes_some(tmp_path, monkeypatch):
    """A visitor's folder deleted while the suite walks the root is missing from the listing, not an error."""
    import shutil

    from benchmarks import abuse_requests

    (tmp_path / "collections" / "gone").mkdir(parents=True)
    (tmp_path / "collections" / "gone" / "drawings.json.gz").write_bytes(b"x")
    (tmp_path / "trainings").mkdir()
    (tmp_path / "trainings" / "model.safetensors").write_bytes(b"y")
    real_scandir = os.scandir

    def server_deletes_first(path="."):
        if str(path).endswith("gone"):
            shutil.rmtree(path)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", server_deletes_first)
    assert list(abuse_requests.files_on_disk(tmp_path)) == ["trainings/model.safetensors"]
