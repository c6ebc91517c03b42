"""The stroke reader: the pen's path as its input, read beside the shipped image model, paired for it only."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mnist_demo.checkpoint import CheckpointError, LoadedModel, load_weights, model_digest
from mnist_demo.models import Inputs, StrokeNet, build_model, image_models, inputs_of, output_count
from mnist_demo.pen_digits import PENDIGITS, centred, random_placement
from mnist_demo.reading.predictor import Predictor
from mnist_demo.reading.sketch import parse_sketch
from mnist_demo.reading.status import Status
from mnist_demo.reading.strokes import FEATURES, POINTS, Pairing, combine, path_features, strokes_tensor
from mnist_demo.weights import Weights

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
    torch.testing.assert_close(combine(a, b, 2.0), expected)
    # A stroke reader of weight 0 changes nothing.
    assert (combine(a, b, 0.0).argmax(1) == a.argmax(1)).all()
    p = Pairing("abc", 1.5, 0.8, 0.9, 10, "somewhere", "def", 0.7)
    assert Pairing.from_dict(p.to_dict()) == p


def test_the_pair_reads_a_lowered_not_a_digit_as_it_was_trained():
    from mnist_demo.training.pairing import pairing_of_outputs

    torch.manual_seed(0)
    a, b = torch.randn(300, 11), torch.randn(300, 11)
    labels = torch.randint(0, 11, (300,))
    lowered = a.clone()
    lowered[:, 10] -= 0.7
    torch.testing.assert_close(combine(lowered, b, 2.0, image_offset=0.7), combine(a, b, 2.0))
    assert not torch.allclose(combine(lowered, b, 2.0), combine(a, b, 2.0))
    writers = torch.arange(300) % 3
    as_trained = pairing_of_outputs(a, b, labels, writers, "a", "b")
    read_back = pairing_of_outputs(lowered, b, labels, writers, "a", "b", image_offset=0.7)
    assert read_back.image_offset == 0.7 and as_trained.image_offset == 0.0
    assert (read_back.weight, read_back.min_top) == (as_trained.weight, as_trained.min_top)
    assert read_back.temperature == pytest.approx(as_trained.temperature, rel=1e-6)


def test_the_shipped_pair_reads_the_shipped_models_not_a_digit_as_trained():
    from mnist_demo.training.calibration import recorded_offset

    assert Pairing.from_dict(Weights.STROKES.info()["pairing"]).image_offset == recorded_offset(Weights.DEFAULT.info())


# ---------------------------------------------------------------- reading beside the shipped model


@pytest.fixture(scope="module")
def paired() -> Predictor:
    return Predictor(Weights.DEFAULT.file, "cpu")


@pytest.fixture(scope="module")
def alone() -> Predictor:
    return Predictor(Weights.DEFAULT.file, "cpu", strokes=None)


def test_the_shipped_model_reads_the_pads_drawings_with_the_shipped_stroke_reader(paired, alone):
    assert paired.strokes is not None and paired.strokes.name == "strokenet" and paired.pairing is not None
    assert paired.pairing.image_digest == model_digest(paired.loaded.model)
    assert alone.strokes is None
    sketch = centred().sketch(SEVEN)
    both, picture = paired.predict(sketch), alone.predict(sketch)
    assert both.status is Status.OK and both.digit == 7
    assert not np.allclose(both.probabilities, picture.probabilities)  # the path changed the answer's odds


def test_a_picture_has_no_path_and_is_read_by_the_image_model_alone(paired, alone):
    image = np.asarray(centred().sketch(SEVEN).ink(), np.uint8)
    np.testing.assert_allclose(paired.predict(image).probabilities, alone.predict(image).probabilities)


def test_reading_with_the_path_is_at_least_as_right_on_held_out_writers(paired, alone):
    digits = PENDIGITS.digits(PENDIGITS.held_out_writers)[::10]
    rng = np.random.default_rng(3)
    sketches = [parse_sketch(random_placement(rng, d.strokes).sketch(d.strokes).to_json()) for d in digits]
    right = {name: sum(p.digit == d.label for p, d in zip(predictor.predict_batch(sketches), digits))
             for name, predictor in (("both", paired), ("picture", alone))}
    assert right["both"] >= right["picture"] and right["both"] >= 0.97 * len(digits), right


def test_a_stroke_reader_paired_with_other_weights_is_refused_and_other_models_read_alone():
    older = Weights.DRAWNET_V1.load()  # another drawnet: the pairing was not fitted for it
    assert Predictor(older, "cpu").strokes is None
    with pytest.raises(CheckpointError, match="paired with other weights"):
        Predictor(older, "cpu", strokes=Weights.STROKES.file)
    with pytest.raises(CheckpointError, match="no stroke reader"):
        Predictor(Weights.DEFAULT.file, "cpu", strokes=Weights.DEFAULT.file)


def test_the_stroke_readers_file_describes_itself_and_its_pairing():
    loaded = load_weights(Weights.STROKES.file)
    info = loaded.info
    assert info["model"] == "strokenet" and info["paired_with"] == Weights.DEFAULT.file.name
    pairing = Pairing.from_dict(info["pairing"])
    assert pairing.weight > 0 and pairing.temperature > 0 and 0.5 <= pairing.min_top <= 0.95
    assert info["recipe"]["pen_digits"] and not any("MNIST" == n for n in info.get("notes", []))


def test_a_model_with_no_stroke_reader_loaded_is_never_paired():
    loaded = LoadedModel(build_model("drawnet").eval(), {"model": "drawnet"})  # untrained: another digest
    assert Predictor(loaded, "cpu").strokes is None


# ---------------------------------------------------------------- trained by the one engine


@pytest.mark.slow
def test_the_engine_trains_a_stroke_reader_on_pen_paths_and_pairs_it_with_the_shipped_model(tmp_path):
    from dataclasses import replace

    from mnist_demo.models import get_spec
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
    path = done.save(tmp_path / "strokes.safetensors")
    loaded = load_weights(path)
    assert Pairing.from_dict(loaded.info["pairing"]).image_digest == model_digest(Weights.DEFAULT.load().model)
    # ...so the shipped model reads with it when asked to.
    predictor = Predictor(Weights.DEFAULT.file, "cpu", strokes=path)
    assert predictor.predict(centred().sketch(SEVEN)).digit == 7


def test_a_stroke_reader_made_for_other_path_features_is_refused(tmp_path):
    import shutil

    from mnist_demo.checkpoint import update_info
    from mnist_demo.reading.strokes import STROKE_FEATURES_VERSION

    copy = tmp_path / "strokes.safetensors"
    shutil.copy(Weights.STROKES.file, copy)
    update_info(copy, {"stroke_features_version": STROKE_FEATURES_VERSION + 1})
    with pytest.raises(CheckpointError, match="pen paths made as version"):
        load_weights(copy)


def test_a_digit_drawn_backwards_or_in_another_stroke_order_is_still_read_right(paired):
    seven_backwards = [s[::-1] for s in SEVEN]
    four = [[(100, 60), (60, 250), (300, 250)], [(220, 120), (220, 420)]]
    for strokes, digit in ((seven_backwards, 7), (four, 4), (four[::-1], 4)):
        prediction = paired.predict(centred().sketch(strokes))
        assert prediction.digit == digit, (digit, prediction.top)


def test_a_zero_with_or_without_a_slash_through_it_is_read_as_a_sure_zero(paired):
    for strokes in (ZERO, ZERO + SLASH, SLASH + ZERO):
        prediction = paired.predict(centred().sketch(strokes))
        assert prediction.status is Status.OK and prediction.digit == 0, prediction.message


@pytest.mark.slow
def test_pair_joins_the_stroke_reader_to_a_new_picture_model_in_a_copy(tmp_path, capsys):
    from mnist_demo.checkpoint import read_info, save_weights
    from mnist_demo.cli import main

    # "A new drawnet": the shipped one with one weight changed, so its digest differs.
    changed = Weights.DEFAULT.load()
    with torch.no_grad():
        next(changed.model.parameters()).view(-1)[0] += 0.01
    image = save_weights(tmp_path / "drawnet-new.safetensors", changed.model, changed.info)
    assert Predictor(image, "cpu").strokes is None  # the shipped pairing does not fit it
    before = Weights.STROKES.file.read_bytes()
    out = tmp_path / "strokes-new.safetensors"
    assert main(["pair", "--image", str(image), "--out", str(out)]) == 0
    assert "paired with drawnet-new.safetensors" in capsys.readouterr().out
    assert Weights.STROKES.file.read_bytes() == before  # the shipped file only read
    info = read_info(out)
    assert info["paired_with"] == "drawnet-new.safetensors" and info["metrics"] == {}  # the old pair's figures
    predictor = Predictor(image, "cpu", strokes=out)
    assert predictor.pairing.image_digest == model_digest(changed.model)
    assert predictor.predict(centred().sketch(SEVEN)).digit == 7
    # An existing --out is not replaced without --overwrite; a picture model is no stroke reader.
    assert main(["pair", "--image", str(image), "--out", str(out)]) == 2
    assert main(["pair", "--strokes", str(image), "--image", str(image), "--out", str(tmp_path / "x")]) == 2
    assert "not a stroke reader" in capsys.readouterr().err


def test_pen_paths_can_be_drawn_from_any_writers_as_a_fold_of_the_training_writers_is():
    from mnist_demo.pen_digits import COLLECTIONS
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
    from mnist_demo.training.pairing import pairing_of_outputs, writer_weights

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
    pooled = pairing_of_outputs(image, strokes, labels, torch.zeros_like(writers), "a", "b")
    balanced = pairing_of_outputs(image, strokes, labels, writers, "a", "b")
    # Counted drawing by drawing, the prolific writer chooses; writer by writer, the stroke reader weighs
    # less, as it misleads the other writer.
    assert balanced.weight < pooled.weight


def test_half_the_stroke_readers_training_digits_are_bent_and_none_when_the_warp_is_off(monkeypatch):
    from mnist_demo.handwriting import variation
    from mnist_demo.pen_digits import COLLECTIONS
    from mnist_demo.training import stroke_data

    fold = lambda c: c.train_writers[:1]  # noqa: E731
    renders = 2 * sum(len(c.digits(fold(c))) * c.weight for c in COLLECTIONS.values())
    amounts: list[float] = []
    real = variation.warp_strokes
    monkeypatch.setattr(variation, "warp_strokes", lambda s, amount, rng: amounts.append(amount) or real(s, amount, rng))
    warped = stroke_data.training_paths(0, 2, 0, fold)
    assert 0.4 * renders < len(amounts) < 0.6 * renders and set(amounts) == {stroke_data.WARP}
    amounts.clear()
    monkeypatch.setattr(stroke_data, "P_WARP", 0.0)
    plain = stroke_data.training_paths(0, 2, 0, fold)
    assert not amounts and torch.equal(plain.labels, warped.labels) and not torch.equal(plain.images, warped.images)


def test_the_pairs_sure_threshold_counts_every_calibration_writer_alike():
    from mnist_demo.training.calibration import sure_threshold_of
    from mnist_demo.training.pairing import pairing_of_outputs, writer_weights

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
    pairing = pairing_of_outputs(image, strokes, labels, writers, "a", "b")
    p = torch.softmax(combine(image, strokes, pairing.weight) / pairing.temperature, 1).numpy()
    alike = sure_threshold_of(p, labels.numpy(), weights=writer_weights(writers).numpy())
    by_drawing = sure_threshold_of(p, labels.numpy())
    assert pairing.min_top == alike and alike < by_drawing
