"""Shared fixtures: MNIST from $MNIST_DATA_DIR (CI and this repo's machines: ../shared/mnist); browser tests are slow.

Helpers the tests share live in tests.support (servers, drawings, browser, load, ...), not here.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest
import torch

from tests.support.servers import REPO

SHARED_MNIST = REPO.parent / "shared" / "mnist"

# Tests never download: point at the shared copy unless the caller chose a folder.
if not os.environ.get("MNIST_DATA_DIR") and SHARED_MNIST.is_dir():
    os.environ["MNIST_DATA_DIR"] = str(SHARED_MNIST)

# Rendered training drawings are cached on disk (training/drawn_cache.py): the tests, and the servers and
# clones they start, share a fresh folder of their own, never the user's.
if not os.environ.get("MNIST_DEMO_CACHE"):
    _cache = tempfile.mkdtemp(prefix="mnist_demo-test-cache-")
    os.environ["MNIST_DEMO_CACHE"] = _cache
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)

torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    from mnist_demo.training.data import default_data_dir

    return default_data_dir()  # $MNIST_DATA_DIR, else data/ (downloaded there on a machine with internet)


@pytest.fixture(scope="session")
def mnist(mnist_dir):
    from mnist_demo.training.data import load_mnist

    return load_mnist(mnist_dir)


@pytest.fixture(scope="session")
def shipped_weights() -> Path:
    from mnist_demo.reading.weights import Weights

    path = Path(os.environ.get("MNIST_DEMO_WEIGHTS") or Weights.DEFAULT.file)
    assert path.is_file(), f"shipped weights missing: {path}"
    return path


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects: `-m "not slow"` leaves every browser test out
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test marked `browser` counts as `slow` too (the markers are declared in pyproject.toml)."""
    for item in items:
        if item.get_closest_marker("browser") and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)
