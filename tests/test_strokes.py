"""The stroke reader: the pen's path as its input, read beside a picture model, their answers joined."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from mnist_demo.base.status import Status
from mnist_demo.base.strokes import FEATURES, POINTS, path_features, strokes_tensor
from mnist_demo.handwriting.pen_digits import PENDIGITS, centred, random_placement
from mnist_demo.models.checkpoint import STROKES, CheckpointError, LoadedModel, load_weights, save_weights
from mnist_demo.models.registry import Inputs, StrokeNet, build_model, image_models, inputs_of, output_count
from mnist_demo.reading.calibration import Calibration
from mnist_demo.reading.reader import Reader
from mnist_demo.reading.sketch import parse_sketch
from mnist_demo.reading.weights import Weights
from mnist_demo.training.calibration import fit_calibration, sure_threshold_of, writer_weights

ONE_WITH_FLAG = [[(120, 200), (200, 60), (200, 400)]]  # up to the top, then down (y down)
SEVEN = [[(80, 60), (300, 60), (160, 400)]]  # along the top, then down to the left
# A 0 from the top, anticlockwise on the page, and a slash through it, as programmers write a zero.
ZERO = [[(200 - 90 * np.sin(t), 240 - 160 * np.cos(t)) for t in np.linspace(0, 2 * np.pi, 40)]]
SLASH = [[(270, 110), (130, 380)]]


# ---------------------------------------------------------------- the path as input


def test_a_path_becomes_points_evenly_spaced_along_it_whatever_its_size_and_place():
    f = path_features(SEVEN)
    assert f.shape == (POINTS, FEATURES) and f.dtype == np.float32
    moved = [[(3 * x + 500, 3 * y - 40) for x, y in s] for s in SEVEN]
    np.testing.assert_allclose(path_features(moved), f, atol=1e-5)
    line = path_features([[(0, 0), (10, 5), (300, 150), (310, 155), (400, 200)]])  # sampled unevenly
    steps = np.hypot(*np.diff(line[:, :2], axis=0).T)
    assert steps.std() < 1e-3 * steps.mean()  # evenly spaced, whatever the pad's sampling
    assert np.abs(f[:, :2]).max() <= 0.5 + 1e-6  # the longer side of the box is 1


def test_the_direction_and_the_jump_between_strokes_are_kept():
    assert not np.allclose(path_features(ONE_WITH_FLAG), path_features([s[::-1] for s in ONE_WITH_FLAG]))
    one_stroke = path_features(SEVEN)
    assert (one_stroke[:, 4] == 1).all()
    four = [[(100, 60), (60, 250), (300, 250)], [(220, 120), (220, 420)]]
    pen = path_features(four)[:, 4]
    assert 0 < (pen == 0).sum() < POINTS // 2 and pen[0] == 1 and pen[-1] == 1


def test_a_dot_is_a_path_and_nothing_at_all_is_an_error():
    assert np.isfinite(path_features([[(5, 5)]])).all()
    with pytest.raises(ValueError, match="no strokes"):
        path_features([[], []])
    assert strokes_tensor([SEVEN, ONE_WITH_FLAG]).shape == (2, POINTS, FEATURES)


# ---------------------------------------------------------------- the model and its registry entry


def test_the_stroke_reader_is_in_the_registry_but_not_among_the_models_the_train_tab_offers():
    model = build_model("strokenet")
    assert isinstance(model, StrokeNet) and inputs_of(model) is Inputs.STROKES and output_count(model) == 11
    assert model.eval()(strokes_tensor([SEVEN])).shape == (1, 11)
    assert "strokenet" not in image_models() and "drawnet" in image_models()


def test_joining_two_readings_multiplies_their_probabilities():
    a, b = torch.randn(4, 11), torch.randn(4, 11)
    expected = torch.log_softmax(a.double(), 1) + 2.0 * torch.log_softmax(b.double(), 1)
    torch.testing.assert_close(Calibration(stroke_weight=2.0).scores(a, b), expected)
    # A stroke reader of weight 0 changes nothing.
    assert (Calibration(stroke_weight=0.0).scores(a, b).argmax(1) == a.argmax(1)).all()
    c = Calibration(0.8, 0.9, 1.5, 0.7, 10, "somewhere")
    assert Calibration.from_dict(c.to_dict()) == c


def test_not_a_digit_is_lowered_for_the_picture_model_only():
    a, b = torch.randn(5, 11), torch.randn(5, 11)
    lowered = a.clone()
    lowered[:, 10] -= 0.7
    torch.testing.assert_close(Calibration(other_offset=0.7).scores(a), torch.log_softmax(lowered.double(), 1))
    torch.testing.assert_close(Calibration(stroke_weight=1.0, other_offset=0.7).scores(a, b),
                               torch.log_softmax(lowered.double(), 1) + torch.log_softmax(b.double(), 1))
    ten = torch.randn(5, 10)  # a model without "not a digit" has nothing to lower
    torch.testing.assert_close(Calibration(other_offset=0.7).scores(ten), torch.log_softmax(ten.double(), 1))


def test_the_shipped_reader_reads_pictures_with_not_a_digit_lowered_and_the_pads_drawings_as_trained(paired):
    assert paired.picture_calibration.other_offset > 0 and paired.pair_calibration.other_offset == 0


# ---------------------------------------------------------------- reading beside the shipped model


@pytest.fixture(scope="module")
def paired() -> Reader:
    return Weights.DEFAULT.load("cpu")


@pytest.fixture(scope="module")
def alone(paired) -> Reader:
    return Reader(paired.picture, device="cpu")


def test_the_shipped_reader_reads_the_pads_drawings_with_its_stroke_reader(paired, alone):
    assert paired.strokes is not None and paired.strokes.name == "strokenet" and paired.pair_calibration is not None
    assert alone.strokes is None and alone.pair_calibration is None
    sketch = centred().sketch(SEVEN)
    both, picture = paired.read(sketch), alone.read(sketch)
    assert both.status is Status.OK and both.digit == 7
    assert not np.allclose(both.probabilities, picture.probabilities)  # the path changed the answer's odds


def test_a_picture_has_no_path_and_is_read_by_the_picture_model_alone(paired, alone):
    image = np.asarray(centred().sketch(SEVEN).ink(), np.uint8)
    np.testing.assert_allclose(paired.read(image).probabilities, alone.read(image).probabilities)


def test_reading_with_the_path_is_at_least_as_right_on_held_out_writers(paired, alone):
    digits = PENDIGITS.digits(PENDIGITS.held_out_writers)[::10]
    rng = np.random.default_rng(3)
    sketches = [parse_sketch(random_placement(rng, d.strokes).sketch(d.strokes).to_json()) for d in digits]
    right = {name: sum(p.digit == d.label for p, d in zip(reader.read_batch(sketches), digits))
             for name, reader in (("both", paired), ("picture", alone))}
    assert right["both"] >= right["picture"] and right["both"] >= 0.97 * len(digits), right


def test_a_file_of_a_stroke_reader_alone_is_no_reader(paired, tmp_path):
    path = save_weights(tmp_path / "strokes.safetensors", paired.strokes.model, paired.strokes.info)
    with pytest.raises(CheckpointError, match="reads beside a picture model"):
        Reader.load(path)


def test_the_shipped_file_describes_its_stroke_reader_and_their_pair_calibration(paired):
    info = Weights.DEFAULT.model_info(STROKES)
    assert info["model"] == "strokenet" and info["recipe"]["pen_digits"]
    pair = paired.pair_calibration
    assert pair.stroke_weight > 0 and pair.temperature > 0 and 0.5 <= pair.sure_from <= 0.95 and pair.drawings > 0


# ---------------------------------------------------------------- trained by the one engine


@pytest.mark.slow
def test_the_engine_trains_a_stroke_reader_on_pen_paths_and_pair_makes_it_a_reader(tmp_path):
    from dataclasses import replace

    from mnist_demo.models.registry import get_spec
    from mnist_demo.training.calibration_data import pair
    from mnist_demo.training.engine import EpochResult, TrainConfig, TrainingDone, train
    from mnist_demo.training.stroke_data import stroke_test_split

    recipe = replace(get_spec("strokenet").recipe, epochs=1, pen_renders=1, non_digits=300)
    events = list(train(TrainConfig(model="strokenet", recipe=recipe, probe_seconds=None)))
    epoch = next(e for e in events if isinstance(e, EpochResult))
    done = events[-1]
    assert isinstance(done, TrainingDone) and done.loaded is not None
    # Tested on the calibration writers' paths, not on MNIST, and it learned something in one short epoch.
    assert epoch.test_accuracy > 0.8
    assert len(stroke_test_split(1)) == done.loaded.info["test_samples"]
    assert any("not MNIST" in note for note in done.notes)
    strokes = done.save(tmp_path / "strokes.safetensors")
    calibration = pair(Weights.DEFAULT.file, strokes, tmp_path / "reader.safetensors")
    reader = Reader.load(tmp_path / "reader.safetensors", "cpu")
    assert reader.pair_calibration == calibration and reader.strokes is not None
    assert reader.read(centred().sketch(SEVEN)).digit == 7
    # The training's file can resume (its optimizer's state); a reader's cannot, and says nothing of one.
    from mnist_demo.models.checkpoint import read_info
    assert "optimizer_state" in read_info(strokes)
    assert all("optimizer_state" not in info for info in read_info(tmp_path / "reader.safetensors")["models"].values())


def test_a_stroke_reader_made_for_other_path_features_is_refused(paired, tmp_path):
    from mnist_demo.base.strokes import STROKE_FEATURES_VERSION
    from mnist_demo.models.checkpoint import update_info

    copy = save_weights(tmp_path / "strokes.safetensors", paired.strokes.model, paired.strokes.info)
    update_info(copy, {"stroke_features_version": STROKE_FEATURES_VERSION + 1})
    with pytest.raises(CheckpointError, match="pen paths made as version"):
        load_weights(copy)


def test_a_digit_drawn_backwards_or_in_another_stroke_order_is_still_read_right(paired):
    seven_backwards = [s[::-1] for s in SEVEN]
    four = [[(100, 60), (60, 250), (300, 250)], [(220, 120), (220, 420)]]
    for strokes, digit in ((seven_backwards, 7), (four, 4), (four[::-1], 4)):
        prediction = paired.read(centred().sketch(strokes))
        assert prediction.digit == digit, (digit, prediction.top)


def test_a_zero_with_or_without_a_slash_through_it_is_read_as_a_sure_zero(paired):
    for strokes in (ZERO, ZERO + SLASH, SLASH + ZERO):
        prediction = paired.read(centred().sketch(strokes))
        assert prediction.status is Status.OK and prediction.digit == 0, prediction.message


@pytest.mark.slow
def test_pair_makes_one_reader_of_a_new_picture_model_and_the_shipped_stroke_reader(paired, tmp_path, capsys):
    from mnist_demo.cli import main

    # "A new drawnet": the shipped one with one weight changed.
    changed = LoadedModel(copy.deepcopy(paired.picture.model), paired.info)
    with torch.no_grad():
        next(changed.model.parameters()).view(-1)[0] += 0.01
    picture = save_weights(tmp_path / "drawnet-new.safetensors", changed.model, changed.info)
    before = Weights.DEFAULT.file.read_bytes()
    out = tmp_path / "reader-new.safetensors"
    assert main(["pair", "--picture", str(picture), "--strokes", str(Weights.DEFAULT.file), "--out", str(out)]) == 0
    assert "stroke weight" in capsys.readouterr().out
    assert Weights.DEFAULT.file.read_bytes() == before  # the shipped file only read
    reader = Reader.load(out, "cpu")
    assert reader.strokes is not None and reader.picture_calibration == paired.picture_calibration
    assert reader.read(centred().sketch(SEVEN)).digit == 7
    # An existing --out is not replaced without --overwrite; a picture model is no stroke reader.
    assert main(["pair", "--picture", str(picture), "--strokes", str(Weights.DEFAULT.file), "--out", str(out)]) == 2
    assert main(["pair", "--picture", str(picture), "--strokes", str(picture), "--out", str(tmp_path / "x")]) == 2
    assert "holds no stroke reader" in capsys.readouterr().err


def test_pen_paths_can_be_drawn_from_any_writers_as_a_fold_of_the_training_writers_is():
    from mnist_demo.handwriting.pen_digits import COLLECTIONS
    from mnist_demo.training.stroke_data import placed_paths, training_paths

    fold = lambda c: c.train_writers[:1]  # noqa: E731  the first training writer of each collection
    digits = {name: c.digits(fold(c)) for name, c in COLLECTIONS.items()}
    placed = placed_paths(0, 2, fold)
    assert len(placed) == 2 * sum(len(d) for d in digits.values())
    assert placed.labels.tolist()[::2] == [d.label for ds in digits.values() for d in ds]
    trained = training_paths(0, 1, 10, fold)  # each digit once (times its collection's weight), 10 non-digits
    assert len(trained) == sum(len(d) * COLLECTIONS[name].weight for name, d in digits.items()) + 10
    assert trained.images.shape[1:] == (POINTS, FEATURES) and (trained.labels == 10).sum() == 10


def test_every_calibration_writer_has_the_same_say_in_how_the_two_readers_are_joined():
    rng = np.random.default_rng(0)

    def readings(labels: torch.Tensor, signal: float, misled: float = 0.0) -> torch.Tensor:
        """Noisy logits leaning to each drawing's label by `signal`, or to another digit `misled` of the time."""
        n = len(labels)
        out = torch.tensor(rng.normal(0, 1.0, (n, 11)))
        leans_to = labels.clone()
        wrong = torch.tensor(rng.random(n) < misled)
        leans_to[wrong] = (labels[wrong] + 1 + torch.tensor(rng.integers(0, 9, int(wrong.sum())))) % 10
        out[torch.arange(n), leans_to] += signal
        return out

    # A prolific writer whose pictures are hard to read and whose paths are plain, and a writer of a
    # twelfth as many digits, plain in pictures, whose paths mislead the stroke reader 30% of the time.
    prolific, sparse = torch.tensor(rng.integers(0, 10, 1200)), torch.tensor(rng.integers(0, 10, 100))
    image = torch.cat([readings(prolific, 1.5), readings(sparse, 4.0)])
    strokes = torch.cat([readings(prolific, 4.0), readings(sparse, 4.0, misled=0.3)])
    labels, writers = torch.cat([prolific, sparse]), torch.tensor([0] * 1200 + [1] * 100)
    balance = writer_weights(writers)
    assert balance.sum().item() == pytest.approx(1.0)
    assert balance[writers == 1].sum().item() == pytest.approx(balance[writers == 0].sum().item())
    pooled = fit_calibration(image, labels, torch.zeros_like(writers), strokes)
    balanced = fit_calibration(image, labels, writers, strokes)
    # Counted drawing by drawing, the prolific writer chooses; writer by writer, the stroke reader weighs
    # less, as it misleads the other writer.
    assert balanced.stroke_weight < pooled.stroke_weight


def test_half_the_stroke_readers_training_digits_are_bent_and_none_when_the_warp_is_off(monkeypatch):
    from mnist_demo.handwriting import variation
    from mnist_demo.handwriting.pen_digits import COLLECTIONS
    from mnist_demo.training import stroke_data

    fold = lambda c: c.train_writers[:1]  # noqa: E731
    renders = 2 * sum(len(c.digits(fold(c))) * c.weight for c in COLLECTIONS.values())
    amounts: list[float] = []
    real = variation.warp_strokes
    monkeypatch.setattr(stroke_data, "warp_strokes",
                        lambda s, amount, rng: amounts.append(amount) or real(s, amount, rng))
    warped = stroke_data.training_paths(0, 2, 0, fold)
    assert 0.4 * renders < len(amounts) < 0.6 * renders and set(amounts) == {stroke_data.WARP}
    amounts.clear()
    monkeypatch.setattr(stroke_data, "P_WARP", 0.0)
    plain = stroke_data.training_paths(0, 2, 0, fold)
    assert not amounts and torch.equal(plain.labels, warped.labels) and not torch.equal(plain.images, warped.images)


def test_the_pairs_sure_threshold_counts_every_calibration_writer_alike():
    rng = np.random.default_rng(5)
    # A prolific writer with a few digits both readers take, fairly sure, for the next digit; a writer of
    # few drawings, all plain.
    prolific, sparse = torch.tensor(rng.integers(0, 10, 1200)), torch.tensor(rng.integers(0, 10, 100))
    labels, writers = torch.cat([prolific, sparse]), torch.tensor([0] * 1200 + [1] * 100)
    leans_to = labels.clone()
    leans_to[:3] = (labels[:3] + 1) % 10
    image = torch.tensor(rng.normal(0, 0.3, (1300, 11)))
    strokes = torch.tensor(rng.normal(0, 0.3, (1300, 11)))
    image[torch.arange(1300), leans_to] += 5.0
    strokes[torch.arange(1300), leans_to] += 5.0
    image[torch.arange(3), labels[:3]] += 3.5  # the hard ones are a close call
    strokes[torch.arange(3), labels[:3]] += 3.5
    pair = fit_calibration(image, labels, writers, strokes)
    p = pair.probabilities(image, strokes)
    alike = sure_threshold_of(p, labels.numpy(), weights=writer_weights(writers).numpy())
    by_drawing = sure_threshold_of(p, labels.numpy())
    assert pair.sure_from == alike and alike < by_drawing
