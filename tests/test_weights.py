"""Weights describe themselves: the shipped entry carries its model, inputs, recipe and measured figures."""

from __future__ import annotations

import json

import pytest
import torch

from mnist_demo.app.settings import AppSettings
from mnist_demo.checkpoint import CheckpointError, load_weights, make_info, read_info, save_weights
from mnist_demo.mnist import MEAN, PREPROCESSING_VERSION, STD
from mnist_demo.models import build_model
from mnist_demo.training.evaluation import evaluate
from mnist_demo.weights import DRAWN_HELD_OUT, MNIST_TEST, Measurement, Weights, WeightsEntry, record


def test_the_shipped_entry_describes_its_model_inputs_recipe_and_figures():
    entry = Weights.DEFAULT
    assert entry is Weights.DRAWNET_V1 and entry.file.is_file()
    info = entry.info()
    assert info["model"] == "drawnet" and info["model_args"] == {"width": 24, "dropout": 0.1}
    assert info["normalization"] == {"mean": MEAN, "std": STD}
    assert entry.preprocessing_version == PREPROCESSING_VERSION
    assert entry.recipe.epochs == 18 and entry.recipe.pen_digits
    metrics = entry.metrics
    assert set(metrics) >= {MNIST_TEST, DRAWN_HELD_OUT}
    assert metrics[MNIST_TEST].value >= 0.996 and metrics[MNIST_TEST].samples == 10_000
    assert metrics[DRAWN_HELD_OUT].value >= 0.98 and "pad's JSON" in metrics[DRAWN_HELD_OUT].what
    for m in metrics.values():
        assert m.command.startswith("python -m mnist_demo evaluate") and "--record" in m.command


def test_the_recorded_mnist_figure_is_what_the_model_scores_now(mnist):
    loaded = Weights.DEFAULT.load()
    assert evaluate(loaded.model, mnist[1]).accuracy == Weights.DEFAULT.metrics[MNIST_TEST].value


def test_the_app_finds_the_shipped_weights_from_any_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MNIST_DEMO_WEIGHTS", raising=False)
    assert AppSettings.from_env({}).weights == Weights.DEFAULT.file and AppSettings().weights.is_file()


def test_an_entry_refuses_a_file_that_holds_another_model(tmp_path):
    path = save_weights(tmp_path / "lenet.safetensors", build_model("lenet5"), make_info("lenet5"))
    with pytest.raises(ValueError, match="holds 'lenet5', not 'drawnet'"):
        WeightsEntry(path, "drawnet").info()


def _tiny(tmp_path, **changes):
    info = {**make_info("mlp-100"), **changes}
    return save_weights(tmp_path / "tiny.safetensors", build_model("mlp-100"), info)


def test_loading_checks_the_normalisation_and_says_what_differs(tmp_path):
    path = _tiny(tmp_path, normalization={"mean": 0.5, "std": 0.5})
    with pytest.raises(CheckpointError, match=r"mean 0\.5 and std 0\.5; this version normalises with mean 0\.1307"):
        load_weights(path)


def test_loading_checks_the_preprocessing_version_and_says_what_differs(tmp_path):
    path = _tiny(tmp_path, preprocessing_version=PREPROCESSING_VERSION + 1)
    with pytest.raises(CheckpointError, match=f"preprocessing version {PREPROCESSING_VERSION + 1}; .* as version "
                                              f"{PREPROCESSING_VERSION}: retrain it"):
        load_weights(path)
    older = read_info(path)
    del older["preprocessing_version"]  # files from before the version was recorded: the first one
    path = save_weights(tmp_path / "old.safetensors", build_model("mlp-100"), older)
    assert load_weights(path).name == "mlp-100"


def test_record_writes_a_figure_and_keeps_every_tensor(tmp_path):
    path = _tiny(tmp_path)
    before = load_weights(path).model.state_dict()
    record(path, MNIST_TEST, Measurement(0.5, 10, "test digits", "python -m mnist_demo evaluate --record"))
    assert json.loads(json.dumps(read_info(path)["metrics"]))[MNIST_TEST]["value"] == 0.5
    after = load_weights(path).model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert WeightsEntry(path, "mlp-100").metrics[MNIST_TEST] == Measurement(
        0.5, 10, "test digits", "python -m mnist_demo evaluate --record")
