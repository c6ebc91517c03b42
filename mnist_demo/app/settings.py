"""The web app's limits and paths, read from environment variables.

Public hosting (Hugging Face Spaces, a shared server) and tests tune the app
through these, without touching code:

MNIST_DEMO_WEIGHTS        weights the Draw tab answers with (default: the shipped `Weights.DEFAULT`)
MNIST_DEMO_ALLOW_TRAINING 0 turns the Train tab off, with a message (default 1)
MNIST_DEMO_MAX_EPOCHS     the most epochs one training may run (default 20)
MNIST_DEMO_MAX_BATCH_SIZE the largest training batch a visitor may ask for (default 1024)
MNIST_DEMO_MAX_STEPS      the most steps one training may take, epochs x ceil(training digits / batch size),
                          refused up front beyond it (default 20000: the default recipes but mlp-512's 20 epochs)
MNIST_DEMO_MAX_TRAIN_SECONDS  a training or a fit stops itself after this many seconds, keeping the best model
                          so far, so that nobody holds the one training slot for long (default 300)
MNIST_DEMO_MAX_QUEUE      events that may wait in the queue at once, trainings above all; one more is told the
                          queue is full (default 10)
MNIST_DEMO_TRAIN_LIMIT    train on the first N training digits only (default: all 60,000)
MNIST_DEMO_TEST_LIMIT     test on the first N test digits only (default: all 10,000)
MNIST_DEMO_TRAIN_THREADS  torch CPU threads for training (default: all cores but one)
MNIST_DEMO_DEVICE         cpu, cuda or mps for training (default: CUDA, then MPS, then CPU)
MNIST_DEMO_TRAIN_IN_PROCESS 1 trains in the web server's own process (default 0: a process of its own)
MNIST_DEMO_MAX_UPLOAD_MB  largest picture a visitor may upload, in MB (default 5)
MNIST_DEMO_FIT_MIN_DRAWINGS  drawings a visitor needs before "Fit to my hand" (default 10)
MNIST_DEMO_FIT_MNIST      MNIST digits in a fit (default: personal.finetune.FitSettings's 6000)
MNIST_DEMO_FIT_PEN        pen digits of other writers in a fit (default: FitSettings's 1500)
MNIST_DEMO_FIT_FOLDS      folds of the before/after measurement after a fit (default 3; 0: none)
MNIST_DATA_DIR            where MNIST is or will be downloaded to (default data/)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from mnist_demo.reading.images import MAX_UPLOAD_BYTES
from mnist_demo.reading.weights import Weights
from mnist_demo.training.data import default_data_dir

DEFAULT_WEIGHTS = Weights.DEFAULT.file  # found from the package, not from the working directory
# The variables of training and its limits, which the messages of a refused training name.
ALLOW_TRAINING_VAR = "MNIST_DEMO_ALLOW_TRAINING"
MAX_EPOCHS_VAR = "MNIST_DEMO_MAX_EPOCHS"
MAX_BATCH_SIZE_VAR = "MNIST_DEMO_MAX_BATCH_SIZE"
MAX_STEPS_VAR = "MNIST_DEMO_MAX_STEPS"
MAX_TRAIN_SECONDS_VAR = "MNIST_DEMO_MAX_TRAIN_SECONDS"
MAX_QUEUE_VAR = "MNIST_DEMO_MAX_QUEUE"


class SettingsError(ValueError):
    """An environment variable with a value the app cannot use; the message names it."""


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _int(env: Mapping[str, str], name: str, default: int | None, minimum: int = 1) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, not {value}")
    return value


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be 1 or 0 (true/false), not {raw!r}")


@dataclass(frozen=True)
class AppSettings:
    weights: Path = DEFAULT_WEIGHTS
    allow_training: bool = True
    # What one visitor's training may ask for and take (`app.limits`): each holds the one training slot.
    max_epochs: int = 20
    max_batch_size: int = 1024  # the engine takes a batch at once: a huge one is gigabytes for a larger model
    max_steps: int = 20_000
    max_train_seconds: int = 300
    max_queue: int = 10
    train_limit: int | None = None
    test_limit: int | None = None
    # One core stays free so drawing predictions stay quick while a training runs.
    train_threads: int = max(1, _cores() - 1)
    # A training in the server's process shares its interpreter lock with every reading: under load
    # it slowed to an eighth (benchmarks/load.py). In a process of its own it keeps its pace.
    train_in_process: bool = False
    device: str | None = None
    data_dir: Path | None = None  # None: $MNIST_DATA_DIR, else data/
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    # "Fit to my hand" (personal.finetune). None: FitSettings' own sizes, chosen for < 30 s on two cores.
    fit_min_drawings: int = 10
    fit_mnist: int | None = None
    fit_pen: int | None = None
    fit_folds: int = 3  # each fold is one more fit, after the visitor's own: the measurement costs folds x a fit

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "AppSettings":
        """Settings from the environment; a bad value raises SettingsError naming the variable."""
        env = os.environ if env is None else env
        return cls(
            weights=Path(env.get("MNIST_DEMO_WEIGHTS") or DEFAULT_WEIGHTS),
            allow_training=_flag(env, ALLOW_TRAINING_VAR, True),
            max_epochs=_int(env, MAX_EPOCHS_VAR, cls.max_epochs),
            max_batch_size=_int(env, MAX_BATCH_SIZE_VAR, cls.max_batch_size),
            max_steps=_int(env, MAX_STEPS_VAR, cls.max_steps),
            max_train_seconds=_int(env, MAX_TRAIN_SECONDS_VAR, cls.max_train_seconds),
            max_queue=_int(env, MAX_QUEUE_VAR, cls.max_queue),
            train_limit=_int(env, "MNIST_DEMO_TRAIN_LIMIT", None),
            test_limit=_int(env, "MNIST_DEMO_TEST_LIMIT", None),
            train_threads=_int(env, "MNIST_DEMO_TRAIN_THREADS", cls.train_threads),
            train_in_process=_flag(env, "MNIST_DEMO_TRAIN_IN_PROCESS", False),
            device=env.get("MNIST_DEMO_DEVICE") or None,
            data_dir=Path(env["MNIST_DATA_DIR"]) if env.get("MNIST_DATA_DIR") else None,
            max_upload_bytes=_int(env, "MNIST_DEMO_MAX_UPLOAD_MB", MAX_UPLOAD_BYTES // 2**20) * 2**20,
            fit_min_drawings=_int(env, "MNIST_DEMO_FIT_MIN_DRAWINGS", cls.fit_min_drawings),
            fit_mnist=_int(env, "MNIST_DEMO_FIT_MNIST", None),
            fit_pen=_int(env, "MNIST_DEMO_FIT_PEN", None, minimum=0),
            fit_folds=_int(env, "MNIST_DEMO_FIT_FOLDS", cls.fit_folds, minimum=0),
        )

    def resolved_data_dir(self) -> Path:
        return self.data_dir if self.data_dir is not None else default_data_dir()
