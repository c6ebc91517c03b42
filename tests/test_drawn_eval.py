"""Measuring on pen digits drawn on the pad: the full path against the naive resize, on the same drawings."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mnist_demo.handwriting import pen_digits as strokes
from mnist_demo.handwriting.pen_digits import load_pen_digits
from mnist_demo.models.checkpoint import LoadedModel
from mnist_demo.reading.reader import Reader
from mnist_demo.training.drawn_eval import BRUSH_BUCKETS, DrawnReport, brush_bucket, evaluate_drawn


@pytest.fixture(scope="module", autouse=True)
def _needs_pen_digits() -> None:
    if not strokes.default_path().is_file():
        pytest.skip(f"pen digits not at {strokes.default_path()}")


class Always(nn.Module):
    def __init__(self, digit: int) -> None:
        super().__init__()
        self.digit = digit

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(x.shape[0], 10)
        out[:, self.digit] = 10.0
        return out


def test_a_small_run_reports_right_unsure_and_wrong_and_every_breakdown(shipped_weights):
    report = evaluate_drawn(Reader.load(shipped_weights, "cpu"), limit=40, seed=1)
    assert isinstance(report, DrawnReport) and report.n == 40 and report.collection == "pendigits"
    assert 0.0 <= report.accuracy <= 1.0 and 0.0 <= report.naive_accuracy <= 1.0
    # The point of preprocessing: squashing the whole canvas reads far fewer drawings.
    assert report.accuracy > report.naive_accuracy
    total = report.total
    assert total.correct + total.unsure + total.wrong_sure == 40  # every reading is exactly one of the three
    assert total.correct <= total.top_correct
    for buckets in (report.by_brush, report.by_size, report.by_hand, report.by_writer):
        assert sum(b.n for b in buckets.values()) == 40
        assert sum(b.correct for b in buckets.values()) == round(report.accuracy * 40)
        assert sum(b.unsure for b in buckets.values()) == report.unsure
        assert sum(b.naive_correct for b in buckets.values()) == round(report.naive_accuracy * 40)
    assert set(report.by_hand) <= {"stylus", "mouse", "finger"}
    assert set(report.writers) <= set(range(21, 31)) and set(report.by_writer) == set(report.writers)
    assert sum(report.confusion.values()) == 40 - total.top_correct
    assert len(report.readings) == 40
    worst, bucket = report.worst_writer()
    assert bucket.accuracy == min(b.accuracy for b in report.by_writer.values())
    text = report.format()
    assert "right" in text and "not sure" in text and "naive" in text and "pen: " in text
    assert f"worst writer: {worst}" in text and f"{100 * report.accuracy:.2f}%" in text


def test_each_collection_is_measured_on_its_own_held_out_writers(shipped_weights):
    report = evaluate_drawn(Reader.load(shipped_weights, "cpu"), strokes.UJI, limit=20)
    assert report.collection == "uji" and set(report.writers) <= set(strokes.UJI.held_out_writers)


def test_it_reads_what_the_pads_json_carries(shipped_weights, monkeypatch):
    # The evaluation must go through the pad's JSON, as /predict does: count the drawings parsed.
    import mnist_demo.training.drawn_eval as drawn_eval

    parsed = []
    real = drawn_eval.parse_sketch
    monkeypatch.setattr(drawn_eval, "parse_sketch", lambda text: parsed.append(text) or real(text))
    report = evaluate_drawn(Reader.load(shipped_weights, "cpu"), limit=12)
    assert report.n == len(parsed) == 12 and all(text.startswith('{"size":800') for text in parsed)


def test_the_naive_baseline_is_measured_on_the_same_drawings():
    # A model that always says 1: both paths score exactly the share of 1s among the drawings,
    # which they can only do if they read the same drawings.
    report = evaluate_drawn(Reader(LoadedModel(Always(1), {"model": "always-1"}), device="cpu"), limit=60)
    labels = [d.label for d in load_pen_digits() if d.writer in range(21, 31)][:60]
    assert report.total.top_accuracy == report.naive_accuracy == labels.count(1) / 60
    assert report.n == 60 and report.empty == 0


def test_writers_and_renders_per_digit_choose_the_drawings():
    always_0 = Reader(LoadedModel(Always(0), {"model": "always-0"}), device="cpu")
    report = evaluate_drawn(always_0, writers=[23], renders_per_digit=2,
                            limit=10)
    assert report.writers == (23,) and report.n == 10
    first_five = [d.label for d in load_pen_digits() if d.writer == 23][:5]
    assert report.total.top_accuracy == sum(2 for label in first_five if label == 0) / 10


def test_the_same_seed_gives_the_same_report(shipped_weights):
    reader = Reader.load(shipped_weights, "cpu")
    a, b = (evaluate_drawn(reader, limit=20, seed=7) for _ in range(2))
    assert (a.accuracy, a.naive_accuracy, a.unsure) == (b.accuracy, b.naive_accuracy, b.unsure)
    assert {k: v.n for k, v in a.by_brush.items()} == {k: v.n for k, v in b.by_brush.items()}


def test_pen_buckets_cover_the_pads_widths_and_single_out_its_default():
    names = [name for _, _, name in BRUSH_BUCKETS]
    assert [brush_bucket(r) for r in (8, 14, 15, 21, 22, 23, 40)] == [
        names[0], names[0], names[1], names[1], names[2], names[3], names[3]]


@pytest.mark.slow
def test_more_placements_measure_each_held_out_digit_more_times_and_none_is_refused():
    from mnist_demo.handwriting.pen_digits import UJI
    from mnist_demo.training.reading_eval import RENDERS, evaluate_readings

    reader = Reader(LoadedModel(Always(7), {"model": "always-7"}), device="cpu")
    once = evaluate_readings(reader, collections=(UJI,), non_digits_per_family=1)
    thrice = evaluate_readings(reader, collections=(UJI,), non_digits_per_family=1, placements=3)
    digits = len(UJI.digits(UJI.held_out_writers))
    assert once.drawn["uji"].n == RENDERS["uji"] * digits and thrice.drawn["uji"].n == 3 * once.drawn["uji"].n
    # The same digits, each read as a 7 by this model however it is placed: the same share right.
    assert thrice.drawn["uji"].total.top_accuracy == pytest.approx(once.drawn["uji"].total.top_accuracy)
    with pytest.raises(ValueError, match="placements"):
        evaluate_readings(reader, collections=(UJI,), non_digits_per_family=1, placements=0)
