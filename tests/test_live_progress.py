"""Training reports as it goes: the running loss and accuracy often, a fixed test part now and then.

The engine's clock is made to tick a fixed amount at each reading, so these
tests do not depend on how fast the machine is.
"""

from __future__ import annotations

import itertools

import pytest

import mnist_demo.training.engine as engine
from mnist_demo.base.recipe import Recipe
from mnist_demo.training.engine import EpochResult, Progress, TrainConfig, TrainingDone, train

TICK = 0.1  # fake seconds per reading of the engine's clock


@pytest.fixture
def ticking_clock(monkeypatch):
    counter = itertools.count()
    monkeypatch.setattr(engine.time, "perf_counter", lambda: next(counter) * TICK)


def run(mnist, **config) -> list:
    recipe = Recipe(optimizer="adam", lr=0.002, batch_size=50, epochs=2)
    train_data, test_data = mnist[0].subset(3000), mnist[1].subset(2000)
    cfg = TrainConfig(model="mlp-100", recipe=recipe, device="cpu", **config)
    return list(train(cfg, train_data=train_data, test_data=test_data))


def test_progress_comes_every_half_second_of_training_not_only_every_n_batches(mnist, ticking_clock):
    events = run(mnist, progress_every=10**9, progress_seconds=0.5, probe_seconds=None)
    progress = [e for e in events if isinstance(e, Progress)]
    # 60 batches an epoch; each batch reads the clock once, so a report at least every 5 batches.
    assert len([p for p in progress if p.epoch == 1]) >= 60 // 5
    gaps = [b.seconds - a.seconds for a, b in zip(progress, progress[1:])]
    assert max(gaps) <= 0.5 + 2 * TICK
    assert all(0.0 <= p.accuracy <= 1.0 and p.loss > 0 for p in progress)
    assert progress[-1].accuracy > 0.8  # an MLP on MNIST learns within an epoch or two
    assert [p.epochs_done for p in progress] == sorted(p.epochs_done for p in progress)


def test_a_fixed_part_of_the_test_set_is_probed_every_few_seconds(mnist, ticking_clock):
    events = run(mnist, progress_every=10**9, progress_seconds=0.5, probe_seconds=2.0, probe_size=500)
    probes = [e for e in events if isinstance(e, Progress) and e.probe_accuracy is not None]
    assert len(probes) >= 4
    gaps = [b.seconds - a.seconds for a, b in zip(probes, probes[1:])]
    assert min(gaps) >= 2.0 and max(gaps) <= 2.0 + 0.5 + 2 * TICK
    assert probes[-1].probe_accuracy > 0.8 and all(0.0 <= p.probe_accuracy <= 1.0 for p in probes)


def test_the_clock_counts_training_not_evaluations_and_runs_on_across_epochs(mnist, ticking_clock):
    events = run(mnist, progress_seconds=0.5, probe_seconds=1.0)
    results = [e for e in events if isinstance(e, EpochResult)]
    assert [r.epoch for r in results] == [1, 2]
    assert results[1].elapsed == pytest.approx(results[0].elapsed + results[1].seconds)
    assert all(r.train_accuracy is not None and 0.5 < r.train_accuracy <= 1.0 for r in results)
    last = [e for e in events if isinstance(e, Progress)][-1]
    assert last.seconds == pytest.approx(results[1].elapsed, abs=2 * TICK)
    assert isinstance(events[-1], TrainingDone)


def test_the_runs_first_report_comes_after_its_first_few_batches_so_a_plot_has_a_point_at_once(mnist, ticking_clock):
    # Reports otherwise rare (every 10**9 batches or 10**9 s): the first comes anyway, after 3 batches.
    events = run(mnist, progress_every=10**9, progress_seconds=1e9, probe_seconds=None)
    progress = [e for e in events if isinstance(e, Progress)]
    assert [(p.epoch, p.batch) for p in progress] == [(1, 3), (1, 60), (2, 60)]  # then each epoch's last batch
