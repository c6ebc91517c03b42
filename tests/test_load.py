"""Many visitors at once, small and bounded: the load benchmark's load against a real server process.

The full benchmark (20 visitors for 60 s, with and without a training) is
`python -m benchmarks.load`, over tests.support.load; here 6 visitors draw for 14 s while a training runs
on a server with MNIST cut to 2,000 training digits, so its epochs end (and
stream their plots) while the visitors draw. The latency bound is generous:
CI machines are busy; the benchmark shows the real numbers (docs/load.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.load.scenario import run_scenario
from tests.support.load.stats import percentile
from tests.support.load.visitors import DIGIT_LABELS, check_answer, digits_to_draw, pad_json
from tests.support.servers import REPO, TEST_LIMIT, TRAIN_LIMIT, repo_on_path

# A window long enough for each visitor to finish its digit on a slow, shared 2-core machine: with 8 s
# this test failed on 2026-12-01's machine at commit 334da31 too, and later left 3 of 6 a whole digit.
VISITORS, SECONDS = 6, 14
P99_BOUND_MS = 3000


@pytest.fixture(scope="module")
def digits():
    return digits_to_draw(per_label=1)


@pytest.mark.slow
def test_six_visitors_draw_while_a_training_runs_and_every_drawing_is_answered(digits, shipped_weights):
    small = {"MNIST_DEMO_TRAIN_LIMIT": str(TRAIN_LIMIT), "MNIST_DEMO_TEST_LIMIT": str(TEST_LIMIT)}
    # drawnet for 50 epochs: on these 2,000 digits the quick default would be done before the visitors are.
    r = run_scenario("training", VISITORS, SECONDS, 2, digits, (0.0, 0.15), shipped_weights, small, {},
                     log=lambda line: None, train_model="drawnet", train_epochs=50)

    # Every call answered, with an answer: a label (a digit or "Not sure" for a whole digit), a status line,
    # and the preview of the drawing it was sent for.
    assert r["errors"] == 0, r["error_kinds"]
    assert r["predictions"] >= 5 * VISITORS, r  # each visitor got well past its first few calls
    assert r["whole_digits"] >= VISITORS, r
    # Load does not change answers: each whole digit is read as the same server read it with nothing else on.
    assert r["changed"] == 0, r
    assert r["p99_ms"] < P99_BOUND_MS, r

    # The training ran the whole time, and went on while the visitors drew.
    t = r["training"]
    assert t["running_throughout"], t
    assert t["batches_during_window"] > 0, t

    # The server was measured, and is gone.
    assert r["peak_rss_mb"] > 100 and r["vmhwm_mb"] >= r["peak_rss_mb"] * 0.9, r
    assert not Path(f"/proc/{r['server']['pid']}").exists(), "the server process outlived the run"
    json.dumps(r)  # what the benchmark writes to its JSON file


# ---------------------------------------------------------------- the pieces, without a server

def test_a_visitor_draws_growing_prefixes_and_then_the_whole_digit(digits):
    for d in digits:
        steps = d["steps"]
        points = [sum(len(s["points"]) for s in step) for step in steps]
        assert points == sorted(points) and len(set(points)) == len(points)  # each one longer
        assert len(steps) >= 2
        assert d["label"] in DIGIT_LABELS
    whole = digits[0]["steps"][-1]
    value = json.loads(pad_json(digits[0]["size"], whole, 7))
    assert value["version"] == 7 and value["strokes"] == whole


def test_answers_are_checked_for_what_the_drawing_needs():
    preview = "<img class='preview' data-version='3' src='data:image/png;base64,xx'>"
    digit = {"label": "4", "confidences": [{"label": "4", "confidence": 0.9}]}
    assert check_answer((digit, "Looks like a 4 (90% sure).", preview), 3, True) == (None, "4")
    assert check_answer(({"label": "Not sure"}, "Not sure: could be 4 or 9.", preview), 3, True)[0] is None
    # A digit being drawn may be "not a digit yet"; a whole digit may not.
    assert check_answer(({"label": "Not a digit yet"}, "Draw more", preview), 3, False)[0] is None
    assert "whole digit" in check_answer(({"label": "Not a digit yet"}, "Draw more", preview), 3, True)[0]
    assert "no label" in check_answer((None, "Could not read the drawing", preview), 3, False)[0]
    assert "drawing 4" in check_answer((digit, "Looks like a 4", preview), 4, True)[0]
    assert "empty status" in check_answer((digit, "", preview), 3, True)[0]
    assert "three outputs" in check_answer("oops", 3, True)[0]


@pytest.mark.parametrize("argv", [["--visitors", "65"], ["--visitors", "0"], ["--seconds", "301"],
                                  ["--host", "192.168.1.5"], ["--host", "0.0.0.0"], ["--scenarios", "stampede"]])
def test_the_load_script_refuses_to_run_unbounded_or_off_this_machine(argv):
    # The benchmark as it is run (it starts nothing before checking its arguments); at most 64 visitors, 300 s.
    done = subprocess.run([sys.executable, "-m", "benchmarks.load", *argv, "--out", "-"], cwd=REPO,
                          env=repo_on_path(), capture_output=True, text=True, timeout=120)
    assert done.returncode not in (0, None), done.stdout
    assert "error:" in done.stderr and "Traceback" not in done.stderr, done.stderr  # refused, not crashed


def test_percentiles_match_numpy():
    np = pytest.importorskip("numpy")
    values = [5.0, 1.0, 9.0, 3.0, 7.0, 2.0, 8.0]
    for q in (0, 50, 90, 99, 100):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))
