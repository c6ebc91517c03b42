"""The Reader reads drawings, says when it is unsure, batches, and serves many threads at once."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from torch import nn

from mnist_demo.base.status import Doubt, Problem, Status
from mnist_demo.handwriting import pen_digits as strokes
from mnist_demo.handwriting.pen_digits import HELD_OUT_WRITERS, PadPlacement, load_pen_digits
from mnist_demo.models.checkpoint import PICTURE, CheckpointError, LoadedModel, load_models
from mnist_demo.reading.calibration import Calibration
from mnist_demo.reading.reader import Prediction, Reader, euler_number
from mnist_demo.reading.sketch import Sketch
from tests.support.sketchpads import sketchpad_drawing as render_drawing

SEVEN = [[(60, 0), (180, -5), (300, -10), (330, 0), (280, 100), (230, 200), (190, 300), (170, 400)]]  # y down


class Fixed(nn.Module):
    """A model that always answers the same logits (or log-probabilities)."""

    def __init__(self, logits: list[float]) -> None:
        super().__init__()
        self.register_buffer("logits", torch.tensor(logits, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(x.shape[0], len(self.logits))


def fixed(logits: list[float], name: str = "fixed") -> LoadedModel:
    return LoadedModel(Fixed(logits).eval(), {"model": name, "test_accuracy": 0.5})


def sure_of(digit: int) -> LoadedModel:
    logits = [0.0] * 10
    logits[digit] = 20.0
    return fixed(logits, f"always-{digit}")


@pytest.fixture(scope="module")
def trained(shipped_weights) -> Reader:
    return Reader.load(shipped_weights, "cpu")


@pytest.fixture(scope="module")
def held_out_drawings() -> list[tuple[int, Sketch]]:
    """Three digits of each class by held-out writers on the pad, with thin to thick pens, small to large."""
    if not strokes.default_path().is_file():
        pytest.skip(f"pen digits not at {strokes.default_path()}")
    digits = [d for d in load_pen_digits() if d.writer in HELD_OUT_WRITERS]
    chosen = [d for label in range(10) for d in [x for x in digits if x.label == label][:3]]
    looks = [(8, 650), (12, 200), (22, 400), (22, 550), (40, 300)]
    drawings = []
    for i, digit in enumerate(chosen):
        radius, height = looks[i % len(looks)]
        centre = (300.0 + 40 * (i % 5), 380.0 + 30 * (i % 3))
        drawings.append((digit.label, PadPlacement(height, centre, radius).sketch(digit.strokes)))
    return drawings


# ---------------------------------------------------------------- reading drawings


def test_held_out_writers_drawings_are_read_right(trained, held_out_drawings):
    predictions = trained.read_batch([d for _, d in held_out_drawings])
    right = sum(p.digit == label for p, (label, _) in zip(predictions, held_out_drawings))
    assert right >= 0.85 * len(held_out_drawings), [(label, p.top[:2]) for p, (label, _) in
                                                     zip(predictions, held_out_drawings) if p.digit != label]


def test_top_k_is_sorted_probabilities_summing_to_at_most_one(trained):
    for k in (1, 3, 10):
        p = trained.read(render_drawing(SEVEN), k=k)
        assert p.status in ("ok", "unsure") and len(p.top) == k
        probs = [q for _, q in p.top]
        assert probs == sorted(probs, reverse=True)
        assert all(0.0 <= q <= 1.0 for q in probs) and sum(probs) <= 1.0 + 1e-6
        assert len({d for d, _ in p.top}) == k
    # All ten digits and "not a digit" (the shipped model's 11th output) make one.
    seven = trained.read(render_drawing(SEVEN), k=10)
    assert sum(q for _, q in seven.top) + seven.other == pytest.approx(1.0, abs=1e-5)


def test_label_dict_is_what_gradio_label_takes(trained):
    p = trained.read(render_drawing(SEVEN), k=3)
    labels = p.label_dict()
    assert list(labels) == [str(d) for d, _ in p.top]
    assert all(isinstance(v, float) for v in labels.values())
    assert p.image.shape == (28, 28) and p.image.dtype == np.uint8 and p.image.any()


def test_a_blank_canvas_is_empty_with_no_guesses(trained):
    blank = {"background": np.full((800, 800, 4), 255, np.uint8), "layers": [np.zeros((800, 800, 4), np.uint8)],
             "composite": np.full((800, 800, 4), 255, np.uint8)}
    for value in (blank, None):
        p = trained.read(value)
        assert (p.status, p.top, p.problem, p.label_dict()) == (Status.EMPTY, [], Problem.NOTHING_DRAWN, {})
        assert p.message == Problem.NOTHING_DRAWN.message
        assert p.digit is None


def test_a_dot_and_a_painted_canvas_get_no_guess_and_say_why(trained):
    assert trained.read(render_drawing([[(0.0, 0.0)]])).problem is Problem.DOT
    painted = render_drawing(SEVEN)
    painted["layers"][0][...] = (0, 0, 0, 255)
    p = trained.read(painted)
    assert (p.status, p.top, p.problem, p.message) == (Status.EMPTY, [], Problem.MOSTLY_INK, Problem.MOSTLY_INK.message)


def _scribble(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return render_drawing([[tuple(xy) for xy in rng.uniform(0, 500, (60, 2))]], brush_radius=25, height=650)


def _specks(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return render_drawing([[tuple(xy)] for xy in rng.uniform(0, 500, (40, 2))], brush_radius=6, height=700)


@pytest.mark.parametrize("make", [_scribble, _specks], ids=["scribble", "specks"])
def test_scribbles_and_specks_are_unsure_even_to_an_overconfident_model(trained, make):
    for seed in range(3):
        value = make(seed)
        p = trained.read(value)
        assert p.status == "unsure" and len(p.top) == 3
        # The out-of-distribution rule does not depend on the model: one that is always sure still hears it.
        overconfident = Reader(sure_of(8), device="cpu").read(value)
        assert (overconfident.status, overconfident.message) == ("unsure", Doubt.NOT_A_DIGIT.message)


def test_a_model_torn_between_two_digits_is_unsure_and_names_both():
    logits = [0.0] * 10
    logits[4], logits[9] = 5.0, 4.9
    p = Reader(fixed(logits), device="cpu").read(render_drawing(SEVEN))
    assert p.status == "unsure"
    assert p.message == "Not sure: could be 4 or 9"
    assert [d for d, _ in p.top[:2]] == [4, 9]


def test_a_clear_winner_below_the_threshold_is_unsure_and_above_it_ok():
    logits = np.log(np.array([0.45, 0.05] + [0.5 / 8] * 8))
    low = Reader(fixed(list(logits)), device="cpu").read(render_drawing(SEVEN))
    assert (low.status, low.digit) == ("unsure", 0)
    assert Reader(sure_of(0), device="cpu").read(render_drawing(SEVEN)).status == "ok"


def test_log_probabilities_and_logits_give_the_same_probabilities():
    logits = torch.randn(10).tolist()
    log_probs = torch.log_softmax(torch.tensor(logits), 0).tolist()
    a = Reader(fixed(logits), device="cpu").read(render_drawing(SEVEN), k=10)
    b = Reader(fixed(log_probs), device="cpu").read(render_drawing(SEVEN), k=10)
    assert [d for d, _ in a.top] == [d for d, _ in b.top]
    np.testing.assert_allclose([q for _, q in a.top], [q for _, q in b.top], atol=1e-6)


def test_euler_number_counts_pieces_minus_holes():
    ring = np.zeros((12, 12), bool)
    ring[2:9, 2:9] = True
    ring[4:7, 4:7] = False
    dots = np.zeros((12, 12), bool)
    dots[::4, ::4] = True
    assert (euler_number(ring), euler_number(dots), euler_number(np.zeros((5, 5), bool))) == (0, 9, 0)


# ---------------------------------------------------------------- batches


def test_a_batch_gives_what_one_at_a_time_gives(trained, held_out_drawings):
    values = [d for _, d in held_out_drawings[:8]] + [None, _specks(0)]
    batch = trained.read_batch(values, k=4)
    for value, b in zip(values, batch):
        single = trained.read(value, k=4)
        assert (b.status, b.message, [d for d, _ in b.top]) == (single.status, single.message,
                                                                 [d for d, _ in single.top])
        np.testing.assert_allclose([q for _, q in b.top], [q for _, q in single.top], atol=1e-5)
        assert np.array_equal(b.image, single.image)


def test_a_batch_is_one_forward_pass():
    calls = []
    model = Fixed([0.0] * 10)
    model.register_forward_hook(lambda m, inputs, out: calls.append(inputs[0].shape[0]))
    Reader(LoadedModel(model, {"model": "fixed"}), device="cpu").read_batch(
        [render_drawing(SEVEN), None, render_drawing(SEVEN, theme="dark")])
    assert calls == [2]  # the empty canvas is not sent to the model


# ---------------------------------------------------------------- the model behind it


def test_loaded_from_a_file_or_built_from_its_models_alike(shipped_weights):
    from_file = Reader.load(shipped_weights, "cpu")
    models = load_models(shipped_weights)
    built = Reader(models[PICTURE], models.get("strokes"), torch.device("cpu"))
    assert from_file.model_name == built.model_name == from_file.info["model"]
    assert from_file.device == torch.device("cpu")
    accuracy = from_file.test_accuracy  # the shipped model's MNIST test accuracy, from its weights file
    assert isinstance(accuracy, float) and 0.99 <= accuracy <= 1.0
    for value in (render_drawing(SEVEN), _pad(SEVEN)):
        assert from_file.read(value).top == built.read(value).top


def test_a_reader_saved_and_loaded_again_reads_alike(shipped_weights, tmp_path):
    shipped = Reader.load(shipped_weights, "cpu")
    alone = Reader(shipped.picture, device="cpu")  # the picture model's own file, no stroke reader
    for reader, name in ((shipped, "bundle"), (alone, "picture")):
        again = Reader.load(reader.save(tmp_path / f"{name}.safetensors"), "cpu")
        assert (again.strokes is None) == (reader.strokes is None)
        assert (again.picture_calibration, again.pair_calibration) == (reader.picture_calibration,
                                                                      reader.pair_calibration)
        assert again.read(_pad(SEVEN)).top == reader.read(_pad(SEVEN)).top


def test_a_stroke_reader_without_a_pair_calibration_is_refused(shipped_weights):
    shipped = Reader.load(shipped_weights, "cpu")
    uncalibrated = LoadedModel(shipped.picture.model, {**shipped.info, "calibrations": {}})
    with pytest.raises(CheckpointError, match="pair"):
        Reader(uncalibrated, shipped.strokes, "cpu")
    assert shipped.with_picture(uncalibrated).strokes is None  # read alone: nothing to join by


def test_many_threads_read_with_one_reader_at_once_and_agree():
    shared = Reader(sure_of(3), device="cpu")
    drawing = render_drawing(SEVEN)
    errors: list[BaseException] = []
    seen: list[list[int]] = [[] for _ in range(4)]

    def reader(i: int) -> None:
        try:
            for _ in range(20):
                p: Prediction = shared.read(drawing)
                seen[i].append(p.digit)
        except BaseException as exc:  # noqa: BLE001 - the test reports whatever a reader hit
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert [len(s) for s in seen] == [20] * 4 and {d for s in seen for d in s} == {3}


# ---------------------------------------------------------------- what is not one digit


def _pad(strokes: list, height: float = 400.0, center: tuple[float, float] = (400.0, 400.0)) -> Sketch:
    return PadPlacement(height, center).sketch(strokes)


def test_a_model_that_says_not_a_digit_gets_not_sure_with_its_digit_guesses_kept():
    logits = [0.0] * 11
    logits[7], logits[10] = 3.0, 6.0  # "other" leads
    p = Reader(fixed(logits), device="cpu").read(_pad(SEVEN))
    assert (p.status, p.doubt, p.message) == (Status.UNSURE, Doubt.NOT_ONE_DIGIT, Doubt.NOT_ONE_DIGIT.message)
    assert p.digit == 7 and all(d < 10 for d, _ in p.top) and p.other > 0.9


def test_a_digit_cut_by_the_pads_edge_is_not_sure_even_to_a_sure_model():
    inside = Reader(sure_of(7), device="cpu").read(_pad(SEVEN))
    cut = Reader(sure_of(7), device="cpu").read(_pad(SEVEN, height=500, center=(400.0, 720.0)))
    assert inside.status is Status.OK
    assert (cut.status, cut.doubt) == (Status.UNSURE, Doubt.OFF_THE_PAD) and "off the pad" in cut.message


def test_a_dash_is_too_wide_for_a_digit():
    p = Reader(sure_of(1), device="cpu").read(_pad([[(0.0, 0.0), (300.0, 4.0)]], height=500))
    assert (p.status, p.doubt) == (Status.UNSURE, Doubt.TOO_WIDE)


def test_calibration_in_the_weights_file_sets_the_temperature_and_the_sure_threshold():
    logits = [0.0] * 10
    logits[7] = 3.0
    plain = Reader(fixed(logits), device="cpu").read(_pad(SEVEN))
    loaded = fixed(logits)
    loaded.info["calibrations"] = {"picture": {"temperature": 2.0, "sure_from": 0.9}}
    calibrated = Reader(loaded, device="cpu").read(_pad(SEVEN))
    assert plain.status is Status.OK and plain.top[0][1] == pytest.approx(np.exp(3) / (np.exp(3) + 9), abs=1e-6)
    # At temperature 2 the same logits say 7 less surely, and below the file's 0.9 that is "not sure".
    assert calibrated.top[0][1] == pytest.approx(np.exp(1.5) / (np.exp(1.5) + 9), abs=1e-6)
    assert (calibrated.status, calibrated.doubt) == (Status.UNSURE, Doubt.AMBIGUOUS)


# ---------------------------------------------------------------- the path cannot make a symbol a digit


PEN_SEVEN = PadPlacement(300, (300.0, 380.0), 12).sketch(SEVEN)  # the pad's drawing, path and all


def paired_reader(picture_logits: list[float], stroke_logits: list[float]) -> Reader:
    """A pair of fixed models, read with a product of their probabilities and sure from 0.95."""
    calibrations = {"picture": Calibration(sure_from=0.95).to_dict(),
                    "pair": Calibration(stroke_weight=1.0, sure_from=0.95).to_dict()}
    picture = LoadedModel(Fixed(picture_logits).eval(), {"model": "fixed", "calibrations": calibrations})
    return Reader(picture, fixed(stroke_logits, "fixed-strokes"), "cpu")


def test_a_path_sure_of_a_digit_does_not_make_a_picture_that_may_not_be_a_digit_sure():
    """The picture leans to 1 but gives "not a digit" 9%; the stroke reader is sure of a 1 (a ^ drawn like
    a 1 with its flag, say). The path may sharpen the digits, never the drawing's being one."""
    picture = [0.0, 2.0] + [0.0] * 8 + [0.5]
    one = [0.0, 20.0] + [0.0] * 9
    alone = Reader(paired_reader(picture, one).picture, None, "cpu").read(PEN_SEVEN)
    read = paired_reader(picture, one).read(PEN_SEVEN)
    assert alone.status is Status.UNSURE and 0.08 < alone.other < 0.1
    assert read.status is Status.UNSURE and read.digit == 1 and read.other == pytest.approx(alone.other)
    assert read.top[0][1] > alone.top[0][1]  # sharper among the digits all the same
    clear = paired_reader([0.0, 6.0] + [0.0] * 9, one).read(PEN_SEVEN)
    assert clear.status is Status.OK and clear.digit == 1  # a picture sure it is a digit: the path has its say


def test_the_shipped_pair_never_reads_a_held_out_symbol_as_less_doubtful_than_its_picture(trained):
    from mnist_demo.base.strokes import strokes_tensor
    from mnist_demo.reading.preprocess import preprocess
    from mnist_demo.training.transfer import SYMBOL, held_out_non_digits

    symbols = [s for name, group in held_out_non_digits(seed=3, per_family=1, symbols=200).items()
               if name.startswith(SYMBOL) for s in group]
    alone = Reader(trained.picture, None, "cpu")
    pairs, pictures = trained.read_batch(symbols), alone.read_batch(symbols)
    read = [i for i, p in enumerate(pairs) if p.probabilities is not None]
    assert len(read) > 150
    for i in read:
        assert pairs[i].other >= pictures[i].other - 1e-9
        if pictures[i].other > 1 - trained.pair_calibration.sure_from:
            assert pairs[i].status is Status.UNSURE
    # Not vacuous: the path alone would have made some of them surer digits than their picture.
    raw = torch.cat([preprocess(symbols[i]).tensor for i in read])
    paths = strokes_tensor([[s.points for s in symbols[i].strokes] for i in read])
    unkept = trained.pair_calibration.probabilities(trained.outputs(raw), trained.outputs(paths, trained.strokes))
    lowered = [row for row, i in enumerate(read) if unkept[row, -1] < pictures[i].other - 0.05]
    assert len(lowered) >= 3
