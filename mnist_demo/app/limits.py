"""What this server lets one visitor's training ask for and take.

A training holds the server's one training slot while it runs, and every other
visitor's waits behind it. So before anything starts, a recipe is checked
against the ranges any run allows (`Recipe`'s own, the same from the command
line) and against this server's limits (`AppSettings`): its epochs, its batch
size, the steps it would take (epochs x ceil(training digits / batch size)),
and on ZeroGPU the GPU time it would need. A training that passes still stops
itself after `max_train_seconds`, keeping the best model so far (`Trainer`).
A refusal raises `TrainingRefused` with a message that names the field, its
range and the environment variable that sets the server's limit.
"""

from __future__ import annotations

from typing import Any, Mapping

from mnist_demo.app.hosting import MAX_GPU_SECONDS, estimated_gpu_seconds
from mnist_demo.app.settings import (
    ALLOW_TRAINING_VAR,
    MAX_BATCH_SIZE_VAR,
    MAX_EPOCHS_VAR,
    MAX_STEPS_VAR,
    MAX_TRAIN_SECONDS_VAR,
    AppSettings,
)
from mnist_demo.base.recipe import Range, Recipe
from mnist_demo.models.registry import REGISTRY, UnknownModel, get_spec, image_models
from mnist_demo.training.budget import estimated_steps, steps_per_epoch, training_samples
from mnist_demo.training.engine import TrainConfig


class TrainingRefused(RuntimeError):
    """A training that cannot start (busy, turned off, bad settings, no MNIST); the message says why."""


def server_ranges(settings: AppSettings) -> dict[str, tuple[Range, str]]:
    """The recipe fields this server allows less of than any run may ask for: (their range here, its variable)."""
    return {"epochs": (Range(1, settings.max_epochs, whole=True), MAX_EPOCHS_VAR),
            "batch_size": (Range(1, settings.max_batch_size, whole=True), MAX_BATCH_SIZE_VAR)}


def _beyond_server(settings: AppSettings, values: Mapping[str, Any]) -> list[str]:
    problems = []
    for name, (allowed, variable) in server_ranges(settings).items():
        if values.get(name) is not None:
            problem = allowed.problem(name, values[name], f" on this server ({variable})")
            problems += [problem] if problem else []
    return problems


def _refuse(problems: list[str]) -> None:
    if problems:
        raise TrainingRefused(f"Cannot train with these settings: {'; '.join(problems)}.")


def recipe_for(settings: AppSettings, model: str, **changes: Any) -> Recipe:
    """The model's registry recipe with `changes` (None: keep); raises TrainingRefused for unknown models and
    for values outside the recipe's ranges or this server's, naming each."""
    try:
        spec = get_spec(model)
    except UnknownModel as exc:
        raise TrainingRefused(str(exc)) from None
    _refuse(_beyond_server(settings, changes))  # this server's range first: it is the one that counts here
    try:
        return spec.recipe.with_changes(**changes)
    except (TypeError, ValueError) as exc:
        raise TrainingRefused(f"Cannot train with these settings: {exc}") from None


def check(settings: AppSettings, model: str, recipe: Recipe, on_gpu: bool = False) -> None:
    """Raise TrainingRefused if this server would not run this training (`on_gpu`: in a ZeroGPU call)."""
    if not settings.allow_training:
        raise TrainingRefused(f"Training is turned off on this server ({ALLOW_TRAINING_VAR}=0). "
                              "Run the app on your own machine to train: `python app.py`.")
    if model not in REGISTRY:
        raise TrainingRefused(str(UnknownModel(model)))
    if model not in image_models():  # the Draw tab reads with what the Train tab makes
        raise TrainingRefused(f"{model} reads the pen's path beside the shipped model, not drawings on its "
                              f"own: train it from the command line (`python -m mnist_demo train --model "
                              f"{model}`).")
    _refuse(_beyond_server(settings, recipe.to_dict()))
    if on_gpu:
        needed = estimated_gpu_seconds(TrainConfig(model=model, recipe=recipe), settings.train_limit)
        if needed > MAX_GPU_SECONDS:
            raise TrainingRefused(f"This training would need about {needed} s of GPU time, and a ZeroGPU "
                                  f"Space grants at most {MAX_GPU_SECONDS} s at a time: ask for fewer epochs.")
    steps = estimated_steps(recipe, settings.train_limit)
    if steps > settings.max_steps:
        raise TrainingRefused(
            f"This training would take {steps:,} steps ({recipe.epochs} epoch(s) x "
            f"{steps_per_epoch(recipe, settings.train_limit):,} batches of {recipe.batch_size} from "
            f"{training_samples(recipe, settings.train_limit):,} training digits), and this server allows at most "
            f"{settings.max_steps:,} ({MAX_STEPS_VAR}): ask for fewer epochs or a larger batch size.")


def within_limits(settings: AppSettings, recipe: Recipe) -> Recipe:
    """`recipe` with its epochs cut to what this server allows (the Train tab's form starts from it)."""
    fit = settings.max_steps // max(steps_per_epoch(recipe, settings.train_limit), 1)
    return recipe.with_changes(epochs=max(1, min(recipe.epochs, settings.max_epochs, fit)),
                               batch_size=min(recipe.batch_size, settings.max_batch_size))


def time_limit_text(settings: AppSettings) -> str:
    """This server's time limit of a training, for people: "5 min", "90 s"."""
    seconds = settings.max_train_seconds
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"


def stopped_at_time_limit(settings: AppSettings) -> str:
    """What a training stopped by the clock says."""
    return (f"Stopped at this server's time limit of {time_limit_text(settings)} ({MAX_TRAIN_SECONDS_VAR}); "
            f"the best model so far is kept.")
