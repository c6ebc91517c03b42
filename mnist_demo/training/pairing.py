"""Fit how a stroke reader's answer joins an image model's (`reading.strokes.Pairing`).

Both read the same drawings of the calibration writers (in neither's training
nor the held-out measurements) and made-up non-digits: the image model the
28x28 preprocessing makes of the pad's ink, the stroke reader the pen's path.
The stroke reader's weight is the one of least log loss after its temperature
is fitted (each from a short list: a choice on those writers, never on the
held-out ones); then the sure threshold, as for one model
(`calibration.sure_threshold_of`).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mnist_demo.checkpoint import LoadedModel, model_digest
from mnist_demo.mnist import OTHER_CLASS
from mnist_demo.reading.strokes import Pairing, combine, path_features
from mnist_demo.training.calibration import fit_temperature, logits_of, sure_threshold_of
from mnist_demo.training.data import Split

WEIGHTS = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0)
# Placements of each calibration digit. The sure threshold rests on the few hard digits read wrong with
# some confidence, so it moves with where they happened to be placed: with 6 placements the same two
# models' threshold came out anywhere from 0.80 to 0.90 over four seeds, with 12 at 0.79-0.80 (24: no
# steadier, and a fit to a visitor's hand reads every drawing here, so each placement costs it time).
RENDERS = 12
NON_DIGITS = 1200  # made-up non-digits, a tenth of the set as before


def pairing_data(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(uint8 images, float paths, labels) of the same drawings: the calibration writers' digits as drawn,
    `RENDERS` placements each, and made-up non-digits of the training families (OTHER_CLASS). Kept on
    disk (`drawn_cache`): a fit to a visitor's hand pairs its model in about a second."""
    from mnist_demo.training.drawn_cache import IMAGES, STROKES, cached
    from mnist_demo.training.drawn_data import pen_files

    made: dict[str, Split] = {}

    def render(kind: str) -> Split:
        if not made:
            images, paths, labels = _render_pairing_data(seed)
            made.update(pictures=Split(images, labels), paths=Split(paths, labels))
        return made[kind]

    params = {"seed": seed, "renders": RENDERS, "non_digits": NON_DIGITS}
    pictures = cached("pairing-pictures", params, lambda: render("pictures"), pen_files(), item=IMAGES)
    paths = cached("pairing-paths", params, lambda: render("paths"), pen_files(), item=STROKES)
    if not torch.equal(pictures.labels, paths.labels):  # one of the two files was made anew: make both
        made.clear()
        pictures, paths = render("pictures"), render("paths")
    return pictures.images, paths.images, pictures.labels


def _render_pairing_data(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    from mnist_demo.handwriting.non_digits import training_non_digits
    from mnist_demo.pen_digits import COLLECTIONS, placed_as_drawn, training_image

    rng = np.random.default_rng(seed + 7919)
    digits = [d for c in COLLECTIONS.values() for d in c.digits(c.calibration_writers)]
    drawings = [(sketch, d.label) for d, sketch in placed_as_drawn(digits, RENDERS, rng)]
    drawings += [(sketch, OTHER_CLASS) for sketch in training_non_digits(NON_DIGITS, rng, digits)]
    images, paths, labels = [], [], []
    for sketch, label in drawings:
        image = training_image(sketch)
        if image is not None:  # what preprocessing cannot read is never read by either
            images.append(image)
            paths.append(path_features([s.points for s in sketch.strokes]))
            labels.append(label)
    return torch.from_numpy(np.stack(images)), torch.from_numpy(np.stack(paths)), torch.tensor(labels)


def fit_pairing(image_model: nn.Module, stroke_model: nn.Module, seed: int = 0) -> Pairing:
    """The pairing of these two models, fitted on the calibration writers (see the module docstring)."""
    images, paths, labels = pairing_data(seed)
    return pairing_of_outputs(logits_of(image_model, images), logits_of(stroke_model, paths), labels,
                              model_digest(image_model), model_digest(stroke_model))


def pairing_of_outputs(a: torch.Tensor, b: torch.Tensor, labels: torch.Tensor, image_digest: str,
                       strokes_digest: str) -> Pairing:
    """The pairing fitted on the image model's outputs `a` and the stroke reader's `b` on `pairing_data`."""
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"the image model answers with {a.shape[1]} outputs and the stroke reader with "
                         f"{b.shape[1]}: they cannot read together")
    fits = []
    for weight in WEIGHTS:
        z = combine(a, b, weight)
        t = fit_temperature(z, labels)
        fits.append((float(torch.nn.functional.cross_entropy(z / t, labels)), weight, t))
    _, weight, temperature = min(fits)
    p = torch.softmax(combine(a, b, weight) / temperature, 1).numpy()
    return Pairing(image_digest, weight, temperature, sure_threshold_of(p, labels.numpy()), len(labels),
                   "pen digits of the calibration writers and made-up non-digits", strokes_digest)


def pair_with_shipped(stroke_model: nn.Module, seed: int, notes: list[str]) -> dict:
    """Weights-file info of a stroke reader just trained: its pairing with the Draw tab's shipped image model."""
    from mnist_demo.weights import Weights

    image: LoadedModel = Weights.DEFAULT.load()
    pairing = fit_pairing(image.model, stroke_model, seed)
    notes.append(f"paired with {Weights.DEFAULT.file.name} (stroke weight {pairing.weight}, temperature "
                 f"{pairing.temperature:.2f}, sure from {pairing.min_top:.2f})")
    return {"pairing": pairing.to_dict(), "paired_with": Weights.DEFAULT.file.name}


def refit_confidence(fitted: LoadedModel, base: LoadedModel, seed: int, notes: list[str]) -> None:
    """A model fitted to a visitor's hand, its confidence fitted anew on the calibration writers, as its base's
    was (the drawings cached: about a second or two): its calibration, when the base had one, and its pairing
    with the stroke reader the base read beside, if any, so it reads the pad's paths too (its own weight: the
    more the fitted model reads right, the less the stroke reader counts). Both go into the fitted model's info."""
    from mnist_demo.reading.predictor import shipped_stroke_reader
    from mnist_demo.training.calibration import calibration_of

    strokes = shipped_stroke_reader(base)
    if "calibration" not in base.info and strokes is None:
        return
    images, paths, labels = pairing_data(seed)
    outputs = logits_of(fitted.model, images)  # read once, for both
    if "calibration" in base.info:
        calibration = calibration_of(outputs, labels)
        fitted.info["calibration"] = calibration.to_dict()
        notes.append(f"fine-tune: calibrated anew on the calibration writers (temperature "
                     f"{calibration.temperature:.2f}, sure from {calibration.min_top:.2f})")
    if strokes is not None:
        pairing = pairing_of_outputs(outputs, logits_of(strokes.model, paths), labels, model_digest(fitted.model),
                                     model_digest(strokes.model))
        fitted.info["pairing"] = pairing.to_dict()
        notes.append(f"fine-tune: paired with the shipped {strokes.name} (stroke weight {pairing.weight}, "
                     f"sure from {pairing.min_top:.2f})")


def pair_files(strokes: str | os.PathLike, image: str | os.PathLike, out: str | os.PathLike, seed: int = 1) -> Pairing:
    """Pair the stroke reader in `strokes` with the picture model in `image` (a new drawnet, say) and write
    the stroke reader with that pairing to `out`, its tensors as they were. The figures its file recorded
    measured the old pair, so they are dropped; `strokes` is only read unless it is `out`."""
    from mnist_demo.checkpoint import CheckpointError, load_weights, update_info
    from mnist_demo.models import Inputs, inputs_of

    reader, picture = load_weights(strokes), load_weights(image)
    if inputs_of(reader.model) is not Inputs.STROKES:
        raise CheckpointError(f"{strokes} holds a {reader.name}, not a stroke reader")
    if inputs_of(picture.model) is not Inputs.IMAGE:
        raise CheckpointError(f"{image} holds a {picture.name}, which does not read pictures")
    pairing = fit_pairing(picture.model, reader.model, seed)
    if Path(out).resolve() != Path(strokes).resolve():
        shutil.copyfile(strokes, out)
    update_info(out, {"pairing": pairing.to_dict(), "paired_with": Path(image).name, "metrics": {}})
    return pairing
