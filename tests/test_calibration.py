"""Confidence that means something: temperature, the sure threshold and the calibration figures."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mnist_demo.training.calibration import (Calibration, fit_temperature, reliability, sure_threshold)


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
