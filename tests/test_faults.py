"""Faults: a training that fails, a process killed mid-way, weights that are missing or damaged.

Nothing a user made is lost (a file is written to a temporary name, then
renamed), and the app still starts and says what is wrong.
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from mnist_demo.app.handlers import WebApp
from mnist_demo.models.checkpoint import load_weights, save_weights
from mnist_demo.reading.reader import Reader
from mnist_demo.training.engine import Progress
from tests.support.drawings import held_out_digits, pad_value
from tests.support.servers import REPO, app_settings, repo_on_path
from tests.support.waiting import wait_until


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def kill_when_it_prints(cmd: list[str], text: str, timeout: float = 120) -> None:
    """Run `cmd` (in the repository, output piped) and SIGKILL it once a line of its output holds `text`."""
    proc = subprocess.Popen(cmd, cwd=REPO, env=repo_on_path(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)  # universal newlines: each of tqdm's "\r" updates is a line
    lines: list[str] = []

    def read() -> None:  # in a thread, so that a child that prints nothing cannot block the wait
        for line in proc.stdout:
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()

    def printed() -> bool:
        ended = not reader.is_alive()  # before the lines: once ended, every line is in
        if any(text in line for line in lines):
            return True
        assert not ended, f"the child ended (exit {proc.wait(timeout=30)}) before printing {text!r}: {lines[-3:]}"
        return False

    try:
        wait_until(printed, timeout, message=lambda: f"the child did not print {text!r}: {lines[-3:]}")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()


@pytest.fixture
def saved_model(tmp_path, shipped_weights) -> Path:
    """A model a user saved earlier: the shipped picture model, in a file of its own."""
    picture = Reader.load(shipped_weights).picture
    return save_weights(tmp_path / "mine.safetensors", picture.model, picture.info)


def test_a_training_that_raises_mid_epoch_says_so_and_frees_the_server(shipped_weights, monkeypatch):
    shipped = sha256(shipped_weights)

    def failing(config, **_):
        yield Progress(epoch=1, batch=1, batches=10, loss=2.3)
        raise RuntimeError("out of memory (simulated)")

    monkeypatch.setattr("mnist_demo.app.trainer.train", failing)
    app = WebApp(app_settings(shipped_weights, train_in_process=True))  # where the patch reaches
    statuses = [out.status for out in app.train(model="mlp-50", epochs=1) if out.status is not None]
    assert "Training failed: RuntimeError: out of memory (simulated)" in statuses[-1]
    assert not app.trainer.busy  # the next visitor can train
    assert sha256(shipped_weights) == shipped
    # Drawing goes on as before.
    _, status, _ = app.predict(pad_value(held_out_digits((3,))[0]), 3)
    assert "sure" in status


@pytest.mark.slow
def test_a_training_process_killed_mid_epoch_leaves_the_saved_model_intact(saved_model, mnist_dir):
    before = sha256(saved_model)
    kill_when_it_prints(
        [sys.executable, "-m", "mnist_demo", "train", "--model", "drawnet", "--epochs", "3", "--no-pen-digits",
         "--train-limit", "20000", "--test-limit", "500", "--data-dir", str(mnist_dir), "--out", str(saved_model),
         "--overwrite"],
        "epoch 1")  # tqdm's bar: the training is under way
    assert sha256(saved_model) == before
    assert load_weights(saved_model).name == "drawnet"
    assert not [p for p in saved_model.parent.iterdir() if p.name.endswith(".tmp")]


def test_a_process_killed_while_it_writes_weights_leaves_the_old_file(saved_model):
    """The worst moment: the new file is half written when the process dies."""
    before = sha256(saved_model)
    script = textwrap.dedent(f"""
        import sys, time
        import mnist_demo.models.checkpoint as checkpoint
        from mnist_demo.models.registry import build_model

        real_save = checkpoint.save_file
        def slow_save(tensors, path, metadata=None):
            real_save(tensors, path, metadata=metadata)
            with open(path, "r+b") as f:  # as if the disk had taken only half of it so far
                f.truncate(f.seek(0, 2) // 2)
            print("WRITING", flush=True)
            time.sleep(60)
        checkpoint.save_file = slow_save
        checkpoint.save_weights({str(saved_model)!r}, build_model("mlp-50"), {{"model": "mlp-50"}})
    """)
    kill_when_it_prints([sys.executable, "-c", script], "WRITING")
    assert sha256(saved_model) == before
    assert load_weights(saved_model).name == "drawnet"


@pytest.mark.slow
def test_a_server_that_ends_while_it_draws_ahead_and_warms_up_exits_cleanly(shipped_weights, tmp_path):
    """Drawing ahead ran torch in a daemon thread: a server ended 20 s into it aborted ("terminate called
    without an active exception", exit 134), and so could the test run that had started it."""
    script = textwrap.dedent(f"""
        import multiprocessing, time
        from mnist_demo.app.trainer import Trainer
        from mnist_demo.personal.finetune import FitSettings
        from tests.support.servers import app_settings

        trainer = Trainer(app_settings({str(shipped_weights)!r}))
        trainer.warm_up()
        trainer.draw_ahead({str(shipped_weights)!r}, FitSettings())
        time.sleep(20)  # into the drawing's rendering, torch at work
        print("DRAWING", *[p.pid for p in multiprocessing.active_children() if p.name == "mnist_demo-draw-ahead"])
    """)
    env = {**repo_on_path(), "MNIST_DEMO_CACHE": str(tmp_path / "cache")}  # nothing drawn yet: it all is drawn
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    said = done.stdout + done.stderr
    assert done.returncode == 0 and "terminate called" not in said, said[-2000:]
    pids = [int(p) for p in next(line for line in done.stdout.splitlines() if line.startswith("DRAWING")).split()[1:]]
    assert len(pids) == 1

    def gone() -> bool:
        try:
            os.kill(pids[0], 0)
        except ProcessLookupError:
            return True
        return Path(f"/proc/{pids[0]}/stat").read_text().split(")")[-1].split()[0] == "Z"  # ended, not yet reaped

    wait_until(gone, 30, message="the drawing-ahead process outlived its server")


@pytest.mark.parametrize("damage", ["missing", "empty", "truncated", "not safetensors"])
def test_bad_weights_at_start_are_logged_and_the_app_starts_and_says_what_is_wrong(tmp_path, shipped_weights,
                                                                                   caplog, damage):
    weights = tmp_path / "drawnet-v2.safetensors"
    if damage == "empty":
        weights.write_bytes(b"")
    elif damage == "truncated":
        weights.write_bytes(shipped_weights.read_bytes()[:5000])
    elif damage == "not safetensors":
        weights.write_bytes(b"\x80\x04\x95 a pickle, or anything else")
    with caplog.at_level(logging.ERROR, logger="mnist_demo"):
        app = WebApp(app_settings(weights))
    assert any(str(weights) in r.getMessage() for r in caplog.records), caplog.text
    assert "No model to read drawings with" in app.describe() and str(weights) in app.describe()
    label, status, _ = app.predict(pad_value(held_out_digits((3,))[0]), 3)
    assert label is None and "No model" in status
    assert "Pick a model" in app.training_intro()  # the Train tab still works
