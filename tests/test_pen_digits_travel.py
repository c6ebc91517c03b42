"""The pen digits travel with the app: a fresh clone with no ../shared beside it trains drawnet's
recipe with them, and where they are missing, asking for them is a clear error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mnist_demo.models.checkpoint import read_info

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    where = tmp_path_factory.mktemp("elsewhere") / "mnist_demo"  # nothing named shared beside it
    subprocess.run(["git", "clone", "-q", str(REPO), str(where)], check=True)
    assert not (where.parent / "shared").exists()
    return where


def _train(clone: Path, mnist_dir: Path, out: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DRAWN_DIGITS_PATH", "MNIST_DATA_DIR")}
    env["PYTHONPATH"] = str(clone)  # the clone's package, not the checkout's
    return subprocess.run(
        [sys.executable, "-m", "mnist_demo", "train", "--model", "drawnet", "--data-dir", str(mnist_dir.resolve()),
         "--train-limit", "300", "--test-limit", "200", "--epochs", "1", "--pen-renders", "1", "--non-digits", "40",
         "--threads", "1", "--out", out],
        cwd=clone, env=env, capture_output=True, text=True, timeout=600)


def test_a_clone_without_shared_trains_drawnet_with_the_shipped_pen_digits(clone, mnist_dir):
    run = _train(clone, mnist_dir, "runs/pen.safetensors")
    assert run.returncode == 0, run.stderr[-2000:]
    notes = read_info(clone / "runs" / "pen.safetensors")["notes"]
    assert any("rendered pen digits (pendigits writers 1-17; uji writers W01-W26)" in n for n in notes), notes
    assert any("not one digit" in n for n in notes)
    assert "not used" not in run.stdout + run.stderr
    info = read_info(clone / "runs" / "pen.safetensors")
    picture = info["calibrations"]["picture"]
    assert picture["temperature"] > 0 and 0.5 <= picture["sure_from"] <= 0.95


def test_without_the_pen_digits_a_recipe_that_needs_them_is_a_clear_error(clone, mnist_dir):
    for path in (clone / "mnist_demo" / "data" / "pen_digits").glob("*.jsonl.gz"):
        path.unlink()
    run = _train(clone, mnist_dir, "runs/none.safetensors")
    assert run.returncode == 2
    assert "error: pen digits not found at" in run.stderr and "pendigits_train.jsonl.gz" in run.stderr
    assert not (clone / "runs" / "none.safetensors").exists()
