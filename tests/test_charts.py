"""The Train tab's live views stay small and say what they show."""

from __future__ import annotations

import numpy as np
import torch

from mnist_demo.app.charts import MAX_POINTS, LiveCurves, Series, confusion_html, filters_html
from mnist_demo.training.engine import EpochResult, Progress


def progress(epoch: int, batch: int, probe: float | None = None) -> Progress:
    return Progress(epoch, batch, 100, loss=1.0 / (epoch * 100 + batch), accuracy=0.5 + batch / 250,
                    seconds=float(batch), probe_accuracy=probe)


def test_the_curves_grow_with_each_report_and_the_epochs_test():
    curves = LiveCurves()
    curves.add_progress(progress(1, 10))
    curves.add_progress(progress(1, 50, probe=0.9))
    curves.add_epoch(EpochResult(1, 2, 0.3, 0.2, 0.97, [0.97] * 10, 5.0, 0.01))
    acc = curves.accuracy()
    assert list(acc.columns) == ["epoch", "value", "series"]
    by_series = acc.groupby("series")["value"].apply(list).to_dict()
    assert by_series[Series.TRAIN_ACCURACY.value] == [54.0, 70.0]
    assert by_series[Series.PROBE_ACCURACY.value] == [90.0]
    assert by_series[Series.TEST_ACCURACY.value] == [97.0]
    assert acc[acc.series == Series.TRAIN_ACCURACY.value]["epoch"].tolist() == [0.1, 0.5]
    assert set(curves.loss().series) == {Series.TRAIN_LOSS.value, Series.TEST_LOSS.value}


def test_a_twenty_epoch_training_sends_no_more_points_than_the_bound():
    curves = LiveCurves()
    for epoch in range(1, 21):
        for batch in range(1, 101):
            curves.add_progress(progress(epoch, batch, probe=0.9 if batch % 6 == 0 else None))
        curves.add_epoch(EpochResult(epoch, 20, 0.3, 0.2, 0.97, [0.97] * 10, 5.0, 0.01))
    acc = curves.accuracy()
    assert acc.groupby("series").size().max() <= MAX_POINTS
    train = acc[acc.series == Series.TRAIN_ACCURACY.value]["epoch"].tolist()
    assert train == sorted(train) and train[0] < 1 and train[-1] == 20.0  # the whole run, in order
    assert len(acc[acc.series == Series.TEST_ACCURACY.value]) == 20
    assert len(acc.to_json()) < 40_000  # what goes to the page stays small


def test_the_confusion_heatmap_colours_the_diagonal_and_the_errors():
    confusion = torch.eye(10, dtype=torch.long) * 95
    confusion[4, 9] = 5
    page = confusion_html(confusion)
    assert page.count("<tr>") == 11 and "title='true 4, read as 9: 5'" in page
    assert "rgba(220,38,38,0.85)" in page  # the worst error, full red
    assert "rgba(34,139,34" in page
    assert "appears here" in confusion_html(None)


def test_filters_are_drawn_as_one_small_image():
    filters = np.random.default_rng(0).uniform(-1, 1, (24, 5, 5)).astype(np.float32)
    page = filters_html(filters)
    assert page.startswith("<img class='filters' src='data:image/png;base64,") and "24 first-layer filters (5x5)" in page
    assert len(page) < 20_000
    assert "appear here" in filters_html(None)


def test_a_curve_without_points_yet_is_in_the_frame_with_no_value():
    # The plot fixes its legend from the first frame it gets, so every curve must be in it.
    curves = LiveCurves()
    curves.add_progress(progress(1, 10))
    acc = curves.accuracy()
    assert set(acc.series) == {s.value for s in (Series.TRAIN_ACCURACY, Series.PROBE_ACCURACY, Series.TEST_ACCURACY)}
    assert acc[acc.series == Series.PROBE_ACCURACY.value]["value"].isna().all()
    assert acc[acc.series == Series.TRAIN_ACCURACY.value]["value"].notna().all()
