"""Confidence that means something: temperature, the sure threshold and the calibration figures."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mnist_demo.base.mnist import OTHER_CLASS
from mnist_demo.models.checkpoint import PICTURE
from mnist_demo.models.registry import build_model
from mnist_demo.reading.calibration import Calibration, keep_the_pictures_doubt
from mnist_demo.training.calibration import (
    Lowering,
    fit_calibration,
    fit_temperature,
    least_within_one_error,
    other_offset,
    reliability,
    sure_threshold,
)
from mnist_demo.training.data import Split


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
    c = Calibration(1.7, 0.83, 2.0, 0.7, 2000, "pen digits of calibration writers")
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


def test_reading_mnist_with_not_a_digit_lowered_reads_fewer_digits_as_not_a_digit():
    from mnist_demo.training.evaluation import evaluate

    torch.manual_seed(0)
    model = build_model("drawnet", classes=OTHER_CLASS + 1).eval()
    with torch.no_grad():
        model[-1].bias[OTHER_CLASS] += 3.0  # an untrained model that says "not a digit" to most
    digits = Split(torch.randint(0, 256, (100, 28, 28), dtype=torch.uint8), torch.randint(0, 10, (100,)))
    as_trained, lowered = evaluate(model, digits), evaluate(model, digits, other_offset=6.0)
    assert sum(lowered.other) < sum(as_trained.other) and lowered.loss == as_trained.loss


def _calibrate_trained(monkeypatch, validation, given, classes=OTHER_CLASS + 1):
    """`calibrate_trained` of an untrained drawnet, its calibration drawings left out (a stub calibration
    that keeps the lowering it is asked for); (its picture calibration, notes, whether the weights changed)."""
    from mnist_demo.training import calibration_data

    monkeypatch.setattr(calibration_data, "calibrate", lambda model, seed, strokes=None, lowering=Lowering(): {
        PICTURE: Calibration(sure_from=0.9, other_offset=lowering.offset, fitted_on="stub",
                             other_offset_from=lowering.source)})
    model = build_model("drawnet", classes=classes).eval()
    before = [p.clone() for p in model.parameters()]
    notes: list[str] = []
    info = calibration_data.calibrate_trained(model, 1, validation, given, notes)
    picture = Calibration.from_dict(info["calibrations"][PICTURE])
    return picture, notes, not all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_after_training_not_a_digit_is_lowered_as_fitted_on_held_out_digits_or_as_given(monkeypatch):
    from mnist_demo.training.calibration_data import given_lowering

    recipe = given_lowering(0.7, None, "")
    picture, notes, changed = _calibrate_trained(monkeypatch, None, recipe)  # no digits held out: as given
    assert picture.other_offset == 0.7 and "as the recipe says" in notes[0]
    assert picture.other_offset_from == "as the recipe says"
    assert not changed  # lowered where pictures are read, never in the weights
    # Digits held out: fitted on them, whatever the recipe says (an untrained model reads many as "not a digit").
    torch.manual_seed(0)
    digits = Split(torch.randint(0, 256, (200, 28, 28), dtype=torch.uint8), torch.randint(0, 10, (200,)))
    picture, notes, _ = _calibrate_trained(monkeypatch, digits, recipe)
    assert "200 held-out MNIST digits" in notes[0] and picture.other_offset != 0.7
    assert picture.other_offset_from.startswith("fitted") and "200 held-out MNIST digits" in picture.other_offset_from
    picture, _, _ = _calibrate_trained(monkeypatch, None, given_lowering(0.0, None, ""))
    assert picture.other_offset == 0.0 and picture.other_offset_from == ""
    picture, _, _ = _calibrate_trained(monkeypatch, digits, recipe, classes=10)  # nothing to lower
    assert picture.other_offset == 0.0


def test_a_fine_tune_says_its_lowering_of_not_a_digit_was_kept_from_the_model_it_started_from():
    from mnist_demo.models.checkpoint import LoadedModel
    from mnist_demo.training.calibration_data import given_lowering

    fitted = Calibration(other_offset=0.7, other_offset_from="fitted on 6000 held-out MNIST digits")
    start = LoadedModel(build_model("drawnet"), {"calibrations": {PICTURE: fitted.to_dict()}})
    kept = given_lowering(0.0, start, "v3")
    assert kept.offset == 0.7 and kept.source == "kept from v3, which this model started from " \
                                                 "(fitted on 6000 held-out MNIST digits)"
    # A recipe's own offset wins; when it is the start's, both are said.
    assert given_lowering(0.7, start, "v3").source == f"as the recipe says (the same as the one {kept.source})"
    assert given_lowering(0.5, start, "v3") == Lowering(0.5, "as the recipe says")
    # A start never lowered gives nothing to keep.
    assert given_lowering(0.0, LoadedModel(build_model("drawnet"), {}), "v3") == Lowering()


def test_a_model_without_not_a_digit_is_calibrated_on_the_digits_alone():
    torch.manual_seed(0)
    labels = torch.cat([torch.randint(0, 10, (300,)), torch.full((100,), OTHER_CLASS)])
    logits = torch.randn(400, 10)
    logits[torch.arange(300), labels[:300]] += 4.0
    calibration = fit_calibration(logits, labels, torch.zeros(400, dtype=torch.int64))
    assert calibration.drawings == 300 and calibration.stroke_weight == 0.0 and calibration.temperature > 0


def test_a_weighted_temperature_fits_the_drawings_that_weigh():
    rng = np.random.default_rng(1)
    true_logits = torch.tensor(rng.normal(0, 2.5, (4000, 10)))
    labels = torch.distributions.Categorical(logits=true_logits).sample()
    # The first half is read twice as confidently as the truth, the second as it is.
    logits = torch.cat([2 * true_logits[:2000], true_logits[2000:]])
    first = torch.cat([torch.full((2000,), 1 / 2000.0), torch.zeros(2000)]).double()
    assert fit_temperature(logits, labels, first) == pytest.approx(2.0, rel=0.1)
    assert fit_temperature(logits, labels, first.flip(0)) == pytest.approx(1.0, rel=0.1)


def test_the_pair_keeps_the_pictures_doubt_that_a_drawing_is_a_digit_and_ranks_the_digits_its_own_way():
    pair = np.array([[0.01, 0.97, 0.01, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.01],   # the path lowered the doubt
                     [0.05, 0.55, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.40]])  # the path raised it
    picture = np.array([[0.0, 0.30, 0.50, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.20],
                        [0.0, 0.90, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.10]])
    kept = keep_the_pictures_doubt(pair, picture)
    assert kept[:, OTHER_CLASS] == pytest.approx([0.20, 0.40])
    assert kept.sum(1) == pytest.approx([1.0, 1.0])
    assert kept[0, :OTHER_CLASS].argmax() == 1 and kept[0, 1] / kept[0, 0] == pytest.approx(97)  # the pair's ranking
    assert kept[1] == pytest.approx(pair[1])
    ten = pair[:, :OTHER_CLASS] / pair[:, :OTHER_CLASS].sum(1, keepdims=True)  # a model without "not a digit"
    assert keep_the_pictures_doubt(ten, ten[::-1]) is ten


def _losses(per_writer: dict[float, list[float]]) -> tuple[dict[float, torch.Tensor], torch.Tensor]:
    """Log losses of 3 drawings a writer, each writer's mean as given for each stroke weight."""
    writers = torch.arange(len(next(iter(per_writer.values())))).repeat_interleave(3)
    return {w: torch.tensor(means, dtype=torch.float64).repeat_interleave(3) for w, means in per_writer.items()}, writers


def test_the_path_gets_the_least_weight_the_writers_cannot_tell_from_the_best():
    # 1.5 is best on average, but only thanks to one writer: the others cannot tell 0.5 from it.
    losses, writers = _losses({0.5: [0.10, 0.10, 0.10, 0.10], 1.5: [0.09, 0.10, 0.11, 0.02], 3.0: [0.2] * 4})
    assert least_within_one_error(losses, writers) == 0.5


def test_a_weight_better_for_every_writer_is_kept():
    losses, writers = _losses({0.5: [0.10, 0.12, 0.11, 0.10], 1.5: [0.05, 0.06, 0.06, 0.05], 3.0: [0.2] * 4})
    assert least_within_one_error(losses, writers) == 1.5


def test_the_least_weight_within_one_error_is_taken_not_the_first_smaller_one():
    # 0.5 is clearly worse for every writer; 1.0 is within one error of the best, 2.0.
    losses, writers = _losses({0.5: [0.30, 0.31, 0.30, 0.32], 1.0: [0.10, 0.11, 0.10, 0.08],
                               2.0: [0.09, 0.10, 0.10, 0.09]})
    assert least_within_one_error(losses, writers) == 1.0


def test_with_one_writer_the_least_loss_chooses():
    losses, writers = _losses({0.5: [0.11], 1.5: [0.10]})
    assert least_within_one_error(losses, writers) == 1.5
