"""Weights describe themselves: the shipped entry carries its model, inputs, recipe and measured figures."""

from __future__ import annotations

import json

import pytest
import torch

from mnist_demo.app.settings import AppSettings
from mnist_demo.base.mnist import MEAN, PREPROCESSING_VERSION, STD
from mnist_demo.models.checkpoint import (
    PICTURE,
    STROKES,
    CheckpointError,
    load_weights,
    make_info,
    read_info,
    save_weights,
)
from mnist_demo.models.registry import build_model
from mnist_demo.reading.calibration import PAIR, calibrations_of
from mnist_demo.reading.weights import Measurement, Metric, Weights, WeightsEntry, drawn_key, record
from mnist_demo.training.evaluation import evaluate


def test_the_shipped_entry_describes_its_models_inputs_recipe_calibrations_and_figures():
    entry = Weights.DEFAULT
    assert entry.file.is_file() and sorted(entry.info()["models"]) == [PICTURE, STROKES]
    info = entry.model_info(PICTURE)
    assert info["model"] == "drawnet" and info["model_args"] == {"width": 24, "dropout": 0.1, "classes": 11}
    assert info["normalization"] == {"mean": MEAN, "std": STD}
    assert info["preprocessing_version"] == PREPROCESSING_VERSION
    assert entry.recipe.pen_digits and entry.recipe.non_digits > 0
    calibrations = calibrations_of(info)
    assert set(calibrations) == {PICTURE, PAIR}
    for c in calibrations.values():
        assert c.temperature > 0 and 0.5 <= c.sure_from <= 0.95 and "calibration writers" in c.fitted_on
    # "Not a digit" lowered for pictures by an offset fitted on MNIST digits a twin run held out.
    assert calibrations[PICTURE].other_offset > 0 and "held out" in calibrations[PICTURE].other_offset_from
    assert entry.model_info(STROKES)["model"] == "strokenet"
    metrics = entry.metrics
    keys = {drawn_key("pendigits"), drawn_key("uji"), Metric.NON_DIGITS, Metric.SURE_ACCURACY, Metric.ECE}
    assert set(metrics) >= keys | {Metric.MNIST_TEST} | {f"picture:{k}" for k in keys}
    assert metrics[Metric.MNIST_TEST].value >= 0.996 and metrics[Metric.MNIST_TEST].samples == 10_000
    for name in ("pendigits", "uji"):  # the pair reads held-out writers better than the picture alone
        assert metrics[drawn_key(name)].value > metrics[f"picture:{drawn_key(name)}"].value >= 0.95
        assert "pad's JSON" in metrics[drawn_key(name)].what
    assert metrics[Metric.NON_DIGITS].value >= 0.9 and metrics[Metric.ECE].value < 0.02
    assert metrics[Metric.SURE_ACCURACY].value >= 0.997
    for m in metrics.values():
        assert m.command.startswith("python -m mnist_demo evaluate") and "--record" in m.command


def test_the_recorded_mnist_figure_is_what_the_reader_scores_now(mnist):
    reader = Weights.DEFAULT.load("cpu")
    result = evaluate(reader.picture.model, mnist[1], other_offset=reader.picture_calibration.other_offset)
    assert result.accuracy == Weights.DEFAULT.metrics[Metric.MNIST_TEST].value


def test_the_app_finds_the_shipped_weights_from_any_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MNIST_DEMO_WEIGHTS", raising=False)
    assert AppSettings.from_env({}).weights == Weights.DEFAULT.file and AppSettings().weights.is_file()


def test_an_entry_says_which_model_a_file_does_not_hold(tmp_path):
    path = save_weights(tmp_path / "lenet.safetensors", build_model("lenet5"), make_info("lenet5"))
    assert WeightsEntry(path).model_info(PICTURE)["model"] == "lenet5"
    with pytest.raises(CheckpointError, match="holds no strokes model"):
        WeightsEntry(path).model_info(STROKES)


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
    record(path, Metric.MNIST_TEST, Measurement(0.5, 10, "test digits", "python -m mnist_demo evaluate --record"))
    assert json.loads(json.dumps(read_info(path)["metrics"]))[Metric.MNIST_TEST]["value"] == 0.5
    after = load_weights(path).model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert WeightsEntry(path).metrics[Metric.MNIST_TEST] == Measurement(
        0.5, 10, "test digits", "python -m mnist_demo evaluate --record")
