"""Digits drawn in a paint program and uploaded as small pictures: how they are drawn and trained on."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mnist_demo.base.mnist import OTHER_CLASS
from mnist_demo.base.recipe import Recipe
from mnist_demo.handwriting.pen_digits import PENDIGITS
from mnist_demo.handwriting.uploads import digital_drawing, upload_training_images
from mnist_demo.reading.preprocess import preprocess
from mnist_demo.training.budget import training_samples

SEVEN = [[(0.0, 0.0), (10.0, 0.0), (4.0, 14.0)]]


@pytest.fixture(scope="module")
def training_digits():
    return PENDIGITS.digits(PENDIGITS.train_writers)[:200]


def test_a_digital_drawing_is_dark_ink_on_a_small_canvas_that_the_upload_path_reads():
    image = digital_drawing(SEVEN, np.random.default_rng(0), size=28)
    assert image.shape == (28, 28) and image.dtype == np.uint8
    assert image.min() < 64 and np.median(image) > 200
    assert preprocess(image).ok


def test_a_digital_drawing_spans_the_share_of_the_canvas_asked_for():
    image = digital_drawing(SEVEN, np.random.default_rng(1), size=60, heights=(0.5, 0.5), pens=(1.0, 1.0))
    rows = np.flatnonzero((image < 128).any(1))
    assert 27 <= rows[-1] - rows[0] + 1 <= 33  # 14 units tall drawn 30 px tall, give or take the pen


def test_light_ink_on_dark_paper_and_an_unsmoothed_pen_are_drawn_as_asked():
    image = digital_drawing(SEVEN, np.random.default_rng(2), size=32, ink=250, paper=10,
                            resample=Image.Resampling.NEAREST)
    assert set(np.unique(image)) <= {10, 250} and np.median(image) == 10


def test_training_uploads_are_mnist_like_pictures_of_digits_and_a_fifth_not_digits(training_digits):
    images, labels = upload_training_images(100, seed=3, digits=training_digits)
    assert images.shape[1:] == (28, 28) and 95 <= len(images) <= 100
    others = int((labels == OTHER_CLASS).sum())
    assert 15 <= others <= 20 and set(labels[labels != OTHER_CLASS].tolist()) <= set(range(10))
    assert images.float().mean() > 10  # ink, not blank images


def test_training_uploads_are_the_same_for_the_same_seed_and_differ_for_another(training_digits):
    a, _ = upload_training_images(20, seed=4, digits=training_digits)
    b, _ = upload_training_images(20, seed=4, digits=training_digits)
    c, _ = upload_training_images(20, seed=5, digits=training_digits)
    assert a.equal(b) and not a.equal(c)


def test_a_recipe_counts_its_uploads_in_an_epoch():
    plain = Recipe(pen_digits=False)
    assert training_samples(Recipe(pen_digits=False, uploads=15_000)) == training_samples(plain) + 15_000
