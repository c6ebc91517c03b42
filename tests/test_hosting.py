"""ZeroGPU: training in a `spaces.GPU` worker process, with a duration that fits; nothing changes elsewhere.

What ZeroGPU does that can be done here: `spaces.GPU` returns the function as it is
off ZeroGPU and wraps it there (spaces/zero/decorator.py); the wrapped function runs in
a forked process and its arguments and what it yields are pickled across
(spaces/zero/wrappers.py). These tests do the same with a forked process and a queue.
"""

from __future__ import annotations

import multiprocessing

import pytest

from mnist_demo.app.hosting import MAX_GPU_SECONDS, gpu_seconds, gpu_training, on_zerogpu
from mnist_demo.base.recipe import Recipe
from mnist_demo.training.engine import EpochResult, Progress, TrainConfig, TrainingDone
from mnist_demo.training.remote import train_elsewhere
from mnist_demo.training.standby import StopFile


def test_zerogpu_is_recognised_as_the_spaces_package_recognises_it():
    assert on_zerogpu({"SPACES_ZERO_GPU": "true"}) and on_zerogpu({"SPACES_ZERO_GPU": "1"})
    assert not on_zerogpu({}) and not on_zerogpu({"SPACES_ZERO_GPU": "false"})
    assert gpu_training({}) is None  # a laptop or CPU hardware: train in this process


def test_off_zerogpu_the_real_decorator_leaves_the_training_as_it_is():
    spaces = pytest.importorskip("spaces")
    assert spaces.GPU(train_elsewhere, duration=gpu_seconds) is train_elsewhere


def test_on_zerogpu_the_training_generator_is_wrapped_with_its_duration(monkeypatch):
    pytest.importorskip("spaces")
    from spaces.zero import decorator

    monkeypatch.setattr(decorator.Config, "zero_gpu", True)
    wrapped = gpu_training({"SPACES_ZERO_GPU": "true"})
    assert wrapped is not train_elsewhere and hasattr(wrapped, "zerogpu")
    assert wrapped.__wrapped__ is train_elsewhere


def test_the_duration_fits_the_epochs_asked_for_and_stays_within_what_zerogpu_grants():
    def seconds(**changes) -> int:
        return gpu_seconds(TrainConfig(model="lenet5", recipe=Recipe(batch_size=128, **changes)))

    assert seconds(epochs=1) < seconds(epochs=2) < seconds(epochs=4)
    assert seconds(epochs=1, pen_digits=True) > seconds(epochs=1)
    assert seconds(epochs=1, pen_digits=True, uploads=5000) > seconds(epochs=1, pen_digits=True)
    assert seconds(epochs=1) <= 60  # one epoch fits ZeroGPU's default duration
    assert seconds(epochs=200) == MAX_GPU_SECONDS
    small = gpu_seconds(TrainConfig(model="lenet5", recipe=Recipe(epochs=1)), None, "", 2000, 1000)
    assert small < seconds(epochs=1)


def _child(queue, received, stop_path: str, data_dir: str) -> None:
    config = TrainConfig(model="mlp-100", recipe=Recipe(optimizer="adam", lr=0.002, batch_size=50, epochs=3),
                         device="cpu", progress_every=5, probe_seconds=0.0, probe_size=200)
    for event in train_elsewhere(config, data_dir, stop_path, train_limit=3000, test_limit=500):
        queue.put(event)  # pickled across, as the ZeroGPU worker's queue does with each event
    queue.put(None)
    received.wait(timeout=60)  # a tensor crosses as a handle to this process's memory: stay until taken


def test_a_training_in_a_forked_worker_streams_picklable_events_and_stops_on_the_stop_file(tmp_path, mnist_dir):
    import torch

    # As in the app, this process has used torch's CPU threads before the fork (a forked child then hangs
    # on its first parallel op unless it leaves the inherited pool alone).
    conv = torch.nn.Conv2d(1, 16, 3)
    conv(torch.randn(512, 1, 28, 28)).sum().backward()
    stop = StopFile(tmp_path / "stop")
    ctx = multiprocessing.get_context("fork")
    queue, received = ctx.Queue(), ctx.Event()
    child = ctx.Process(target=_child, args=(queue, received, str(stop.path), str(mnist_dir)))
    child.start()
    events = []
    try:
        while (item := queue.get(timeout=120)) is not None:
            events.append(item)
            if isinstance(events[-1], EpochResult):
                stop.set()  # the visitor presses Stop after the first epoch
    finally:
        received.set()
        child.join(timeout=60)
    assert child.exitcode == 0
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress and all(p.model is None for p in progress)
    assert any(p.filters is not None and p.filters.shape[1:] == (28, 28) for p in progress)
    done = events[-1]
    assert isinstance(done, TrainingDone) and done.stopped and done.optimizer is None
    assert [e.epoch for e in events if isinstance(e, EpochResult)] == [1]
    assert next(done.loaded.model.parameters()).device.type == "cpu"
    assert done.loaded.test_accuracy > 0.8


# ---------------------------------------------------------------- the app's trainer on ZeroGPU


def _settings(mnist_dir, **changes):
    from mnist_demo.reading.weights import Weights
    from tests.support.servers import app_settings

    return app_settings(Weights.DEFAULT.file, data_dir=mnist_dir, **changes)


def test_on_zerogpu_the_app_trains_through_the_gpu_function_and_stop_keeps_the_best_model(mnist_dir):
    from mnist_demo.app.trainer import Trainer, TrainingReport

    calls = []

    def gpu(config, **kwargs):  # what spaces.GPU hands back: train_elsewhere, run here in this process
        calls.append(kwargs)
        yield from train_elsewhere(config, **kwargs)

    trainer = Trainer(_settings(mnist_dir, train_limit=3000, test_limit=500), gpu=gpu)
    recipe = trainer.recipe_for("mlp-100", epochs=3, batch_size=50, optimizer="adam", lr=0.002)
    events = []
    for event in trainer.run("visitor-1", "mlp-100", recipe):
        events.append(event)
        if isinstance(event, EpochResult):
            assert trainer.stop("visitor-1")  # Stop, pressed after the first epoch, reaches the worker by file
    assert calls and calls[0]["train_limit"] == 3000 and calls[0]["stop_path"].endswith(".stop")
    report = events[-1]
    assert isinstance(report, TrainingReport) and report.stopped and len(report.history) == 1
    assert report.loaded is not None and report.weights_file.is_file() and report.evaluation is not None


def test_on_zerogpu_a_training_longer_than_a_gpu_call_is_refused_up_front(mnist_dir):
    from mnist_demo.app.trainer import Trainer, TrainingRefused

    trainer = Trainer(_settings(mnist_dir, max_epochs=500, train_limit=None), gpu=train_elsewhere)
    with pytest.raises(TrainingRefused, match=r"about \d+ s of GPU time.*at most 300 s.*fewer epochs"):
        trainer.check("drawnet", trainer.recipe_for("drawnet", epochs=100))
    trainer.check("fastnet", trainer.recipe_for("fastnet"))  # the quick default fits
    assert Trainer(_settings(mnist_dir)).gpu is None  # here, off ZeroGPU: trains in this process


# ---------------------------------------------------------------- a training process of its own (CPU hosting)


def test_a_training_in_a_process_of_its_own_streams_its_events_and_its_kept_model(tmp_path, mnist_dir):
    from mnist_demo.training.standby import Standby

    config = TrainConfig(model="mlp-100", recipe=Recipe(optimizer="adam", lr=0.002, batch_size=50, epochs=2),
                         device="cpu", probe_seconds=0.0, probe_size=200)
    events = list(Standby().run(train_elsewhere, config, str(mnist_dir), str(tmp_path / "stop"), train_limit=3000,
                                test_limit=500))
    assert [e.epoch for e in events if isinstance(e, EpochResult)] == [1, 2]
    assert any(isinstance(e, Progress) for e in events) and isinstance(events[-1], TrainingDone)
    assert events[-1].loaded.test_accuracy > 0.8 and not events[-1].stopped


def test_a_training_process_that_fails_says_why(tmp_path):
    from mnist_demo.training.standby import Standby, TrainingProcessFailed

    config = TrainConfig(model="mlp-100", recipe=Recipe(epochs=1), device="cpu")
    with pytest.raises(TrainingProcessFailed, match="DataUnavailable: MNIST is not in"):
        list(Standby().run(train_elsewhere, config, str(tmp_path / "no-mnist"), str(tmp_path / "stop")))


def test_the_app_trains_in_a_process_of_its_own_unless_told_otherwise(mnist_dir, monkeypatch):
    from mnist_demo.app.settings import AppSettings
    from mnist_demo.app.trainer import Trainer, TrainingReport

    assert not AppSettings().train_in_process and AppSettings.from_env({"MNIST_DEMO_TRAIN_IN_PROCESS": "1"}).train_in_process
    monkeypatch.setattr("mnist_demo.app.trainer.train", None)  # a training in this process would fail at once
    trainer = Trainer(_settings(mnist_dir, train_limit=3000, test_limit=500))
    recipe = trainer.recipe_for("mlp-100", epochs=1, batch_size=50, optimizer="adam", lr=0.002)
    report = list(trainer.run("visitor-2", "mlp-100", recipe))[-1]
    assert isinstance(report, TrainingReport) and report.loaded.test_accuracy > 0.8 and report.weights_file.is_file()
