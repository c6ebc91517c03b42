"""Fit how a stroke reader's answer joins an image model's (`reading.strokes.Pairing`).

Both read the same drawings of the calibration writers (in neither's training
nor the held-out measurements) and made-up non-digits: the image model the
28x28 preprocessing makes of the pad's ink, the stroke reader the pen's path.
The stroke reader's weight is the one of least log loss after its temperature
is fitted (each from a short list: a choice on those writers, never on the
held-out ones); then the sure threshold, as for one model
(`calibration.sure_threshold_of`).

The log loss, and the share of sure readings that are right, count every
calibration writer alike, and the made-up non-digits as one more
(`writer_weights`): pendigits' writers wrote twelve times as many digits as
UJI's, so a plain mean let three writers of one tablet choose the weight for
every hand and device, and the few hard digits of one of them, placed twelve
times each, set how sure a reading must be. Each calibration writer left out
of the fit in turn and read with the others' pairing, the balanced threshold
read more of them right with strokenets v3 and v4 on both placement seeds
(v4: 99.50% and 99.43% became 99.67% and 99.61% of 9,960), their sure
readings still right 99.74-99.78% of the time (`benchmarks/calibration_writers.py`).
The pair has to read a new person on a new device; on the held-out writers,
with strokenet v2, the balanced weight and temperature read UJI's other
tablet better (99.3-99.4% right became 99.6-99.9% over 3,200 drawings) and
pendigits the same.

An image model whose "not a digit" output was lowered for pictures read alone
(MNIST's digits, `calibration.lower_file`) is joined with that output as
trained (`Pairing.image_offset`): the calibration writers' drawings want it
higher, not lower. A bias of the pair's own, fitted with the weight and
temperature, came out at +2 to +3 and read each calibration writer left out
of the fit worse (mean log loss 0.0065 against 0.0060), so there is none.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mnist_demo.checkpoint import LoadedModel, model_digest
from mnist_demo.mnist import OTHER_CLASS
from mnist_demo.reading.strokes import Pairing, combine, path_features
from mnist_demo.training.calibration import fit_temperature, log_loss, logits_of, recorded_offset, sure_threshold_of
from mnist_demo.training.data import Split

WEIGHTS = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0)
# Placements of each calibration digit. The sure threshold rests on the few hard digits read wrong with
# some confidence, so it moves with where they happened to be placed: with 6 placements the same two
# models' threshold came out anywhere from 0.80 to 0.90 over four seeds, with 12 at 0.79-0.80 (24: no
# steadier, and a fit to a visitor's hand reads every drawing here, so each placement costs it time).
RENDERS = 12
NON_DIGITS = 1200  # made-up non-digits, a tenth of the set as before
FITTED_ON = "pen digits of the calibration writers, each writer counting alike, and made-up non-digits"


NOT_A_WRITER = -1  # the made-up non-digits' entry in `PairingData.writers`: they count as one writer more
WRITERS = (torch.int64, ())  # a cached set of one writer number per drawing (`drawn_cache`)


@dataclass(frozen=True)
class PairingData:
    """The same drawings read both ways, and who drew each."""

    images: torch.Tensor  # uint8 (N, 28, 28): what the image model reads
    paths: torch.Tensor  # float (N, POINTS, FEATURES): what the stroke reader reads
    labels: torch.Tensor  # int64 (N,): the digit, or OTHER_CLASS for a made-up non-digit
    writers: torch.Tensor  # int64 (N,): the calibration writer's number (in turn, over the collections), or NOT_A_WRITER


def writer_weights(writers: torch.Tensor) -> torch.Tensor:
    """float64 (N,) weights summing to 1 that give every writer's drawings (and the non-digits) the same say."""
    _, group, count = torch.unique(writers, return_inverse=True, return_counts=True)
    return 1.0 / (count[group].double() * len(count))


def pairing_data(seed: int = 0) -> PairingData:
    """The calibration writers' digits as drawn, `RENDERS` placements each, and made-up non-digits of the
    training families (OTHER_CLASS), as pictures and as paths. Kept on disk (`drawn_cache`): a fit to a
    visitor's hand pairs its model in about a second."""
    from mnist_demo.training.drawn_cache import IMAGES, STROKES, cached
    from mnist_demo.training.drawn_data import pen_files

    made: dict[str, Split] = {}

    def render(kind: str) -> Split:
        if not made:
            data = _render_pairing_data(seed)
            made.update(pictures=Split(data.images, data.labels), paths=Split(data.paths, data.labels),
                        writers=Split(data.writers, data.labels))
        return made[kind]

    params = {"seed": seed, "renders": RENDERS, "non_digits": NON_DIGITS}
    sets = {kind: cached(f"pairing-{kind}", params, lambda kind=kind: render(kind), pen_files(), item=item)
            for kind, item in (("pictures", IMAGES), ("paths", STROKES), ("writers", WRITERS))}
    if any(not torch.equal(s.labels, sets["pictures"].labels) for s in sets.values()):
        made.clear()  # one of the files was made anew: make them all
        sets = {kind: render(kind) for kind in sets}
    return PairingData(sets["pictures"].images, sets["paths"].images, sets["pictures"].labels,
                       sets["writers"].images)


def _render_pairing_data(seed: int) -> PairingData:
    from mnist_demo.handwriting.non_digits import training_non_digits
    from mnist_demo.pen_digits import COLLECTIONS, placed_as_drawn, training_image

    rng = np.random.default_rng(seed + 7919)
    digits = [d for c in COLLECTIONS.values() for d in c.digits(c.calibration_writers)]
    number = {w: i for i, w in enumerate(dict.fromkeys(d.writer for d in digits))}  # pendigits' are ints, UJI's "W27"
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
    return PairingData(torch.from_numpy(np.stack(images)), torch.from_numpy(np.stack(paths)), torch.tensor(labels),
                       torch.tensor(writers))


def fit_pairing(image: LoadedModel, stroke_model: nn.Module, seed: int = 0) -> Pairing:
    """The pairing of these two models, fitted on the calibration writers (see the module docstring); the
    image model's "not a digit" is read as trained, its lowering taken from its info (`recorded_offset`)."""
    data = pairing_data(seed)
    return pairing_of_outputs(logits_of(image.model, data.images), logits_of(stroke_model, data.paths), data.labels,
                              data.writers, model_digest(image.model), model_digest(stroke_model),
                              recorded_offset(image.info))


def pairing_of_outputs(a: torch.Tensor, b: torch.Tensor, labels: torch.Tensor, writers: torch.Tensor,
                       image_digest: str, strokes_digest: str, image_offset: float = 0.0) -> Pairing:
    """The pairing fitted on the image model's outputs `a` and the stroke reader's `b` on `pairing_data`: the
    weight and temperature of least log loss, then the sure threshold, with every writer counting alike
    (`writer_weights`). The image model's "not a digit" is read as trained (`image_offset`
    added back, `Pairing.image_offset`)."""
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"the image model answers with {a.shape[1]} outputs and the stroke reader with "
                         f"{b.shape[1]}: they cannot read together")
    balance = writer_weights(writers)
    fits = []
    for weight in WEIGHTS:
        z = combine(a, b, weight, image_offset)
        t = fit_temperature(z, labels, balance)
        fits.append((log_loss(z / t, labels, balance), weight, t))
    _, weight, temperature = min(fits)
    p = torch.softmax(combine(a, b, weight, image_offset) / temperature, 1).numpy()
    min_top = sure_threshold_of(p, labels.numpy(), weights=balance.numpy())
    return Pairing(image_digest, weight, temperature, min_top, len(labels), FITTED_ON, strokes_digest, image_offset)


def pair_with_shipped(stroke_model: nn.Module, seed: int, notes: list[str]) -> dict:
    """Weights-file info of a stroke reader just trained: its pairing with the Draw tab's shipped image model."""
    from mnist_demo.weights import Weights

    image: LoadedModel = Weights.DEFAULT.load()
    pairing = fit_pairing(image, stroke_model, seed)
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
    data = pairing_data(seed)
    outputs = logits_of(fitted.model, data.images)  # read once, for both
    if "calibration" in base.info:
        calibration = calibration_of(outputs, data.labels)
        fitted.info["calibration"] = calibration.to_dict()
        notes.append(f"fine-tune: calibrated anew on the calibration writers (temperature "
                     f"{calibration.temperature:.2f}, sure from {calibration.min_top:.2f})")
    if strokes is not None:
        offset = recorded_offset(fitted.info if "other_offset" in fitted.info else base.info)  # a fit keeps its base's
        pairing = pairing_of_outputs(outputs, logits_of(strokes.model, data.paths), data.labels, data.writers,
                                     model_digest(fitted.model), model_digest(strokes.model), offset)
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
    pairing = fit_pairing(picture, reader.model, seed)
    if Path(out).resolve() != Path(strokes).resolve():
        shutil.copyfile(strokes, out)
    update_info(out, {"pairing": pairing.to_dict(), "paired_with": Path(image).name, "metrics": {}})
    return pairing
