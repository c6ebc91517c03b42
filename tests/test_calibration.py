"""Confidence that means something: temperature, the sure threshold and the calibration figures."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mnist_demo.mnist import OTHER_CLASS
from mnist_demo.models import build_model
from mnist_demo.training.calibration import (Calibration, fit_temperature, lower_other, other_offset, reliability,
                                             sure_threshold)


def test_the_fitted_temperature_undoes_a_known_overconfidence():
    rng = np.random.default_rng(0)
    true_logits = torch.tensor(rng.normal(0, 2.5, (4000, 10)))
    labels = torch.distributions.Categorical(logits=true_logits).sample()
    # A model twice as confident as the truth: its logits are doubled. T = 2 brings it back.
    assert fit_temperature(2 * true_logits, labels) == pytest.approx(2.0, rel=0.1)
    assert fit_temperature(true_logits, labels) == pytest.approx(1.0, rel=0.1)


def test_the_sure_threshold_is_the_least_that_keeps_sure_readings_right_often_enough():
    top = np.array([0.99] * 1000 + [0.7] * 100 + [0.55] * 100)
    right = np.array([True] * 999 + [False] + [True] * 95 + [False] * 5 + [True] * 50 + [False] * 50)
    # At 0.55 and up: 1144/1200 right (95.3%); at 0.7 and up: 1094/1100 (99.5%); at 0.99: 99.9%.
    assert sure_threshold(top, right, target=0.95) == 0.5
    assert sure_threshold(top, right, target=0.99) == 0.56
    assert sure_threshold(top, right, target=0.998) == 0.71


def test_with_writer_weights_one_prolific_writer_does_not_set_the_sure_threshold_alone():
    top = np.full(1000, 0.99)
    top[:3] = 0.7  # writer A (900 drawings) has three hard digits, read wrong at 0.7
    right = np.ones(1000, bool)
    right[:3] = False
    writers = np.array([0] * 900 + [1] * 100)
    alike = np.where(writers == 0, 1 / 1800, 1 / 200)
    assert sure_threshold(top, right) == 0.71  # 997 of 1,000 right is under 99.8%: A's three must go
    assert sure_threshold(top, right, weights=alike) == 0.5  # A's 99.67% and B's 100% average 99.83%
    # And the other way: one wrong reading of the writer of few drawings now weighs as much as nine of A's.
    top, right = np.full(1000, 0.99), np.ones(1000, bool)
    top[-1], right[-1] = 0.7, False
    assert sure_threshold(top, right) == 0.5
    assert sure_threshold(top, right, weights=alike) == 0.71


def test_a_calibrated_set_has_a_small_ece_and_an_overconfident_one_a_large_one():
    rng = np.random.default_rng(1)
    confidence = rng.uniform(0.5, 1.0, 20000)
    right = rng.uniform(0, 1, 20000) < confidence
    calibrated = reliability(confidence, right)
    overconfident = reliability(np.minimum(confidence + 0.2, 1.0), right)
    assert calibrated.ece < 0.01 and overconfident.ece > 0.1
    assert sum(b["n"] for b in calibrated.bins) == 20000
    assert all(b["lo"] <= b["confidence"] <= b["hi"] for b in calibrated.bins)


def test_a_calibration_round_trips_through_the_weights_files_json():
    c = Calibration(1.7, 0.83, 2000, "pen digits of calibration writers")
    assert Calibration.from_dict(c.to_dict()) == c


def _digits_read_as_other(leads: list[float], n: int = 2000) -> torch.Tensor:
    """Raw outputs of `n` digits: each digit's own output 5, "not a digit" 0, except the first few, where
    "not a digit" leads by `leads`."""
    logits = torch.zeros(n, OTHER_CLASS + 1)
    logits[:, 3] = 5.0
    for i, lead in enumerate(leads):
        logits[i, OTHER_CLASS] = 5.0 + lead
    return logits


def _read_as_other(logits: torch.Tensor) -> int:
    return int((logits.argmax(1) == OTHER_CLASS).sum())


def test_not_a_digit_is_lowered_just_enough_to_leave_the_allowed_share_of_digits_on_it():
    logits = _digits_read_as_other([2.0, 1.23, 0.37, 0.1])
    offset = other_offset(logits, target=0.001)  # 2 of 2,000 may stay
    assert offset == pytest.approx(0.4)  # the third largest lead, in steps of 0.05
    lowered = logits.clone()
    lowered[:, OTHER_CLASS] -= offset
    assert _read_as_other(lowered) == 2
    lowered[:, OTHER_CLASS] += 0.05  # a step less would leave three
    assert _read_as_other(lowered) == 3


def test_a_model_that_reads_few_enough_digits_as_not_a_digit_is_left_as_it_is():
    assert other_offset(_digits_read_as_other([1.0]), target=0.001) == 0.0
    assert other_offset(_digits_read_as_other([]), target=0.0) == 0.0
    assert other_offset(torch.zeros(0, OTHER_CLASS + 1)) == 0.0


def test_lowering_not_a_digit_changes_that_output_alone_in_the_weights():
    torch.manual_seed(0)
    model = build_model("drawnet", classes=OTHER_CLASS + 1).eval()
    x = torch.randn(8, 1, 28, 28)
    before = model(x)
    lower_other(model, 0.75)
    after = model(x)
    assert torch.allclose(after[:, OTHER_CLASS], before[:, OTHER_CLASS] - 0.75, atol=1e-5)
    assert torch.allclose(after[:, :OTHER_CLASS], before[:, :OTHER_CLASS])


def test_only_a_model_with_a_not_a_digit_output_can_have_it_lowered():
    with pytest.raises(ValueError, match="no 'not a digit' output"):
        lower_other(build_model("drawnet", classes=10), 0.5)


def test_after_training_not_a_digit_is_lowered_as_fitted_on_held_out_digits_or_as_the_recipe_says(monkeypatch):
    import mnist_demo.training.calibration as calibration
    from mnist_demo.training.data import Split

    monkeypatch.setattr(calibration, "calibrate", lambda model, seed: Calibration(1.0, 0.9, 0, "stub"))
    torch.manual_seed(0)
    x = torch.randn(4, 1, 28, 28)

    def lowered_by(info_and_model):
        info, model, before = info_and_model
        with torch.no_grad():
            return float((before - model(x))[:, OTHER_CLASS].mean()), info

    def fit(validation, recipe_offset, classes=OTHER_CLASS + 1):
        model = build_model("drawnet", classes=classes).eval()
        before = model(x)
        notes: list[str] = []
        return calibration.fit_confidence(model, 1, validation, notes, recipe_offset), model, before

    by, info = lowered_by(fit(None, 0.7))  # no digits held out: the recipe's offset
    assert by == pytest.approx(0.7, abs=1e-5) and info["other_offset"]["fitted_on"] == "the recipe (other_offset)"
    # Digits held out: fitted on them, whatever the recipe says (an untrained model reads many as "not a digit").
    digits = Split(torch.randint(0, 256, (200, 28, 28), dtype=torch.uint8), torch.randint(0, 10, (200,)))
    by, info = lowered_by(fit(digits, 0.7))
    assert info["other_offset"]["digits"] == 200 and by == pytest.approx(info["other_offset"]["offset"], abs=1e-5)
    _, info = lowered_by(fit(None, 0.0))
    assert "other_offset" not in info and info["calibration"]["fitted_on"] == "stub"
    model = build_model("drawnet", classes=10).eval()
    assert "other_offset" not in calibration.fit_confidence(model, 1, digits, [], 0.7)  # nothing to lower


def test_a_fine_tune_of_lowered_weights_is_not_lowered_again_and_keeps_the_record(monkeypatch):
    import mnist_demo.training.calibration as calibration

    monkeypatch.setattr(calibration, "calibrate", lambda model, seed: Calibration(1.0, 0.9, 0, "stub"))
    model = build_model("drawnet", classes=OTHER_CLASS + 1).eval()
    before = [p.clone() for p in model.parameters()]
    record = {"offset": 0.7, "fitted_on": "the recipe (other_offset)"}
    info = calibration.fit_confidence(model, 1, None, [], recipe_offset=0.7, carried=record)
    assert info["other_offset"] == record
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_a_weighted_temperature_fits_the_drawings_that_weigh():
    rng = np.random.default_rng(1)
    true_logits = torch.tensor(rng.normal(0, 2.5, (4000, 10)))
    labels = torch.distributions.Categorical(logits=true_logits).sample()
    # The first half is read twice as confidently as the truth, the second as it is.
    logits = torch.cat([2 * true_logits[:2000], true_logits[2000:]])
    first = torch.cat([torch.full((2000,), 1 / 2000.0), torch.zeros(2000)]).double()
    assert fit_temperature(logits, labels, first) == pytest.approx(2.0, rel=0.1)
    assert fit_temperature(logits, labels, first.flip(0)) == pytest.approx(1.0, rel=0.1)


def test_a_lowered_copy_keeps_the_original_records_its_offset_and_is_calibrated_and_measured_anew(tmp_path,
                                                                                                  monkeypatch):
    import mnist_demo.training.calibration as calibration
    from mnist_demo.checkpoint import load_weights, make_info, read_info, save_weights
    from mnist_demo.training.data import Split
    from mnist_demo.training.evaluation import evaluate

    monkeypatch.setattr(calibration, "calibrate", lambda model, seed: Calibration(0.6, 0.9, 5, "stub"))
    torch.manual_seed(0)
    model = build_model("drawnet", classes=OTHER_CLASS + 1).eval()
    original = save_weights(tmp_path / "v2.safetensors", model, make_info(
        "drawnet", {"classes": OTHER_CLASS + 1}, seed=1, test_accuracy=0.5, metrics={"mnist_test": {"value": 0.5}},
        calibration={"temperature": 1.0}))
    before = original.read_bytes()
    test = Split(torch.randint(0, 256, (50, 28, 28), dtype=torch.uint8), torch.randint(0, 10, (50,)))
    out = tmp_path / "v3.safetensors"
    info = calibration.lower_file(original, 0.7, "a twin run's held-out digits", out, test)
    assert original.read_bytes() == before  # the original is only read
    assert read_info(out) == info
    assert info["other_offset"] == {"offset": 0.7, "fitted_on": "a twin run's held-out digits",
                                    "lowered_from": "v2.safetensors"}
    assert calibration.recorded_offset(info) == 0.7 and calibration.recorded_offset(read_info(original)) == 0.0
    assert info["calibration"]["fitted_on"] == "stub" and info["metrics"] == {}  # the figures were the original's
    lowered = load_weights(out).model
    x = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(lowered(x)[:, OTHER_CLASS], model(x)[:, OTHER_CLASS] - 0.7)
        torch.testing.assert_close(lowered(x)[:, :OTHER_CLASS], model(x)[:, :OTHER_CLASS])
    assert info["test_accuracy"] == evaluate(lowered, test).accuracy and info["test_samples"] == 50
    with pytest.raises(ValueError, match="lowered already"):
        calibration.lower_file(out, 0.2, "again", tmp_path / "v4.safetensors", test)
    with pytest.raises(ValueError, match="more than 0"):
        calibration.lower_file(original, 0.0, "nowhere", tmp_path / "v4.safetensors", test)
    assert not (tmp_path / "v4.safetensors").exists()
