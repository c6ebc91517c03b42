"""How big a training is before it runs: the samples an epoch goes through and the steps (batches) of the
whole run, as the engine will count them. A server refuses a training whose steps exceed its budget
(`app.limits`), and ZeroGPU is asked for a duration that fits them (`app.hosting`)."""

from __future__ import annotations

import math

from mnist_demo.base.recipe import Recipe

MNIST_TRAIN_SAMPLES = 60_000
PEN_DIGITS = 5_000  # pen digits of the training writers, each rendered `pen_renders` times (about)


def pen_samples(recipe: Recipe) -> int:
    """The rendered pen digits the recipe adds (about)."""
    return PEN_DIGITS * recipe.pen_renders if recipe.pen_digits else 0


def training_samples(recipe: Recipe, train_limit: int | None = None) -> int:
    """The samples one epoch trains on: MNIST (cut to `train_limit`) less the validation split, with the
    pen digits, made-up non-digits and uploaded pictures the recipe adds."""
    mnist = min(train_limit or MNIST_TRAIN_SAMPLES, MNIST_TRAIN_SAMPLES)
    mnist -= int(mnist * recipe.val_split)
    return mnist + pen_samples(recipe) + recipe.non_digits + recipe.uploads


def steps_per_epoch(recipe: Recipe, train_limit: int | None = None) -> int:
    return math.ceil(training_samples(recipe, train_limit) / recipe.batch_size)


def estimated_steps(recipe: Recipe, train_limit: int | None = None) -> int:
    """Optimizer steps of the whole run: epochs x ceil(training samples / batch size)."""
    return recipe.epochs * steps_per_epoch(recipe, train_limit)
