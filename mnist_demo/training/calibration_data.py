"""The drawings calibrations are fitted on, and fitting a reader's calibrations on them.

The calibration writers of every pen collection (in neither training nor the
held-out measurements) drew digits; each is placed on the pad `RENDERS` times
as visitors draw, with made-up non-digits of the training families beside
them (`NON_DIGITS`). A picture model reads the 28x28 preprocessing makes of
each; a stroke reader reads its path. The set is kept on disk (`drawn_cache`):
a fit to a visitor's hand calibrates its model in about a second.

- `calibrate_trained`: after a picture model's training, its picture
  calibration ("not a digit" lowered by `other_offset` where held-out MNIST
  digits are read as "not a digit").
- `pair`: a picture model and a stroke reader made one reader, its pair
  calibration fitted (the `pair` command).
- `recalibrate`: a model fitted to a visitor's hand, both calibrations fitted
  anew as its base's were.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from mnist_demo.base.mnist import OTHER_CLASS
from mnist_demo.base.strokes import path_features
from mnist_demo.handwriting.non_digits import training_non_digits
from mnist_demo.handwriting.pen_digits import COLLECTIONS, Writer, placed_as_drawn, training_image, writer_ranges
from mnist_demo.models.checkpoint import PICTURE, STROKES, CheckpointError, LoadedModel, load_models
from mnist_demo.models.registry import output_count
from mnist_demo.reading.calibration import PAIR, Calibration, calibrations_of
from mnist_demo.reading.reader import Reader
from mnist_demo.training.calibration import MAX_OTHER_ON_DIGITS, Lowering, fit_calibration, logits_of, other_offset
from mnist_demo.training.data import Split
from mnist_demo.training.drawn_cache import IMAGES, cached
from mnist_demo.training.drawn_cache import STROKES as PATHS
from mnist_demo.training.drawn_data import pen_files

# Placements of each calibration digit. The sure threshold rests on the few hard digits read wrong with
# some confidence, so it moves with where they happened to be placed: with 6 placements the same two
# models' threshold came out anywhere from 0.80 to 0.90 over four seeds, with 12 at 0.79-0.80.
RENDERS = 12
NON_DIGITS = 1200
NOT_A_WRITER = -1  # the made-up non-digits' writer: they count as one writer more
WRITERS = (torch.int64, ())  # a cached set of one writer number per drawing


def fitted_on() -> str:
    return (f"pen digits of the calibration writers ({writer_ranges(lambda c: c.calibration_writers)}), each "
            "writer counting alike, and made-up non-digits")


@dataclass(frozen=True)
class CalibrationData:
    """The same drawings read both ways, and who drew each."""

    images: torch.Tensor  # uint8 (N, 28, 28): what a picture model reads
    paths: torch.Tensor  # float (N, POINTS, FEATURES): what a stroke reader reads
    labels: torch.Tensor  # int64 (N,): the digit, or OTHER_CLASS for a made-up non-digit
    writers: torch.Tensor  # int64 (N,): the calibration writer's number, or NOT_A_WRITER


def calibration_data(seed: int = 0) -> CalibrationData:
    """The calibration writers' digits as drawn and made-up non-digits (see the module docstring)."""
    made: dict[str, Split] = {}

    def render(kind: str) -> Split:
        if not made:
            data = _render(seed)
            made.update(pictures=Split(data.images, data.labels), paths=Split(data.paths, data.labels),
                        writers=Split(data.writers, data.labels))
        return made[kind]

    params = {"seed": seed, "renders": RENDERS, "non_digits": NON_DIGITS}
    sets = {kind: cached(f"calibration-{kind}", params, lambda kind=kind: render(kind), pen_files(), item=item)
            for kind, item in (("pictures", IMAGES), ("paths", PATHS), ("writers", WRITERS))}
    if any(not torch.equal(s.labels, sets["pictures"].labels) for s in sets.values()):
        made.clear()  # one of the files was made anew: make them all
        sets = {kind: render(kind) for kind in sets}
    return CalibrationData(sets["pictures"].images, sets["paths"].images, sets["pictures"].labels,
                           sets["writers"].images)


def writer_numbers() -> dict[str, dict[Writer, int]]:
    """Each collection's calibration writers by their number in `CalibrationData.writers` (pendigits' writers
    are ints, UJI's "W27": the data number them all in turn)."""
    writers = [(c.name, w) for c in COLLECTIONS.values() for w in c.calibration_writers]
    numbers: dict[str, dict[Writer, int]] = {c: {} for c in COLLECTIONS}
    for i, (collection, w) in enumerate(writers):
        numbers[collection][w] = i
    return numbers


def _render(seed: int) -> CalibrationData:
    rng = np.random.default_rng(seed + 7919)
    digits = [d for c in COLLECTIONS.values() for d in c.digits(c.calibration_writers)]
    number = {w: i for by_writer in writer_numbers().values() for w, i in by_writer.items()}
    drawings = [(sketch, d.label, number[d.writer]) for d, sketch in placed_as_drawn(digits, RENDERS, rng)]
    drawings += [(sketch, OTHER_CLASS, NOT_A_WRITER) for sketch in training_non_digits(NON_DIGITS, rng, digits)]
    images, paths, labels, writers = [], [], [], []
    for sketch, label, writer in drawings:
        image = training_image(sketch)
        if image is not None:  # what preprocessing cannot read is never read by either
            images.append(image)
            paths.append(path_features([s.points for s in sketch.strokes]))
            labels.append(label)
            writers.append(writer)
    return CalibrationData(torch.from_numpy(np.stack(images)), torch.from_numpy(np.stack(paths)),
                           torch.tensor(labels), torch.tensor(writers))


def calibrate(picture: nn.Module, seed: int, strokes: nn.Module | None = None, lowering: Lowering = Lowering()
              ) -> dict[str, Calibration]:
    """A picture model's calibrations on `calibration_data`: alone, and beside `strokes` when given; its
    "not a digit" lowered as `lowering` says when read alone."""
    data = calibration_data(seed)
    outputs = logits_of(picture, data.images)  # read once, for both
    found = {PICTURE: fit_calibration(outputs, data.labels, data.writers, None, lowering, fitted_on())}
    if strokes is not None:
        found[PAIR] = fit_calibration(outputs, data.labels, data.writers, logits_of(strokes, data.paths),
                                      fitted_on=fitted_on(), sure_from_at_least=found[PICTURE].sure_from)
    return found


def as_info(calibrations: dict[str, Calibration]) -> dict[str, Any]:
    """Calibrations as a picture model's info keeps them."""
    return {"calibrations": {kind: c.to_dict() for kind, c in calibrations.items()}}


def given_lowering(recipe_offset: float, start: LoadedModel | None, start_name: str) -> Lowering:
    """The lowering of "not a digit" a training run is given: the recipe's `other_offset`, else that of the
    model it started from (`start`, named `start_name`), else none. Its source says which, and where the
    start's came from."""
    before = calibrations_of(start.info).get(PICTURE, Calibration()) if start is not None else Calibration()
    inherited = f"kept from {start_name}, which this model started from" + (
        f" ({before.other_offset_from})" if before.other_offset_from else "")
    if recipe_offset:
        same = f" (the same as the one {inherited})" if before.other_offset == recipe_offset else ""
        return Lowering(recipe_offset, f"as the recipe says{same}")
    return Lowering(before.other_offset, inherited) if before.other_offset else Lowering()


def calibrate_trained(model: nn.Module, seed: int, validation: Split | None, given: Lowering,
                      notes: list[str]) -> dict[str, Any]:
    """Info of a picture model just trained with the pen digits: its picture calibration, "not a digit"
    lowered (with an "other" class) by what the MNIST digits held out of training need (`other_offset`), when
    there are any, else as `given` (`given_lowering`)."""
    lowering = Lowering()
    if output_count(model) > OTHER_CLASS:
        if validation is not None and len(validation):
            digits = validation.images[validation.labels < OTHER_CLASS]
            rule = f"at most {MAX_OTHER_ON_DIGITS:.2%} of {len(digits)} held-out MNIST digits read as 'not a digit'"
            lowering = Lowering(other_offset(logits_of(model, digits)), f"fitted: {rule}")
            notes.append(f"'not a digit' lowered by {lowering.offset:.2f} for pictures: {rule}")
        elif given.offset:
            lowering = given
            notes.append(f"'not a digit' lowered by {lowering.offset:.2f} for pictures, {given.source}")
    found = calibrate(model, seed, lowering=lowering)
    notes.append(f"calibrated on the calibration writers (temperature {found[PICTURE].temperature:.2f}, sure "
                 f"from {found[PICTURE].sure_from:.2f})")
    return as_info(found)


def recalibrate(fitted: LoadedModel, base: Reader, seed: int, notes: list[str]) -> None:
    """A model fitted to a visitor's hand from `base`'s picture model, its calibrations fitted anew as the base's
    were (the drawings are cached: a second or two), into its info: read alone (its base's lowering of "not a
    digit" kept), and beside the base's stroke reader, if any. Nothing when the base was never calibrated."""
    if PICTURE not in calibrations_of(base.info):
        return
    strokes = base.strokes.model if base.strokes is not None else None
    found = calibrate(fitted.model, seed, strokes, given_lowering(0.0, base.picture, "the reader"))
    fitted.info.update(as_info(found))
    notes.append("fine-tune: calibrated anew on the calibration writers" + (
        f", beside the {base.strokes.name} (stroke weight {found[PAIR].stroke_weight})" if PAIR in found else ""))


def pair(picture_file: str | os.PathLike, strokes_file: str | os.PathLike, out: str | os.PathLike,
         seed: int = 1) -> Calibration:
    """The picture model of `picture_file` and the stroke reader of `strokes_file` (each a model's file or a
    bundle) written to `out` as one reader, its pair calibration fitted; the picture calibration is kept.
    Figures measured on either file measured another reader, so none are carried."""
    picture = load_models(picture_file).get(PICTURE)
    strokes = load_models(strokes_file).get(STROKES)
    if picture is None:
        raise CheckpointError(f"{picture_file} holds no picture model")
    if strokes is None:
        raise CheckpointError(f"{strokes_file} holds no stroke reader")
    data = calibration_data(seed)
    alone = calibrations_of(picture.info).get(PICTURE, Calibration())
    calibration = fit_calibration(logits_of(picture.model, data.images), data.labels, data.writers,
                                  logits_of(strokes.model, data.paths), fitted_on=fitted_on(),
                                  sure_from_at_least=alone.sure_from)
    info = _without_run_state(picture.info)
    info["calibrations"] = {**info.get("calibrations", {}), PAIR: calibration.to_dict()}
    strokes_info = _without_run_state(strokes.info)
    Reader(LoadedModel(picture.model, info), LoadedModel(strokes.model, strokes_info)).save(out)
    return calibration


def _without_run_state(info: dict[str, Any]) -> dict[str, Any]:
    """A model's info as a reader carries it: no figures of another reader, no optimizer (a reader's file has
    no optimizer tensors to resume from)."""
    return {k: v for k, v in info.items() if k not in ("metrics", "optimizer_state")}
