"""Fitting a model to a visitor's drawings through the one engine (mnist_demo/personal/finetune.py)."""

from __future__ import annotations

import hashlib
import inspect

import numpy as np
import pytest
import torch

from mnist_demo.models.checkpoint import PICTURE, LoadedModel, load_weights, make_info, save_weights
from mnist_demo.models.registry import build_model, get_spec
from mnist_demo.personal import assess as measuring
from mnist_demo.personal.assess import accuracy, assess, folds
from mnist_demo.personal.collection import Collection, CollectionError
from mnist_demo.personal.finetune import FitSettings, finetune, fit
from mnist_demo.training.data import Split
from mnist_demo.training.engine import EpochResult, Progress, TrainingDone

# A fit in a second or two: a few hundred MNIST digits, no pen digits to render, one epoch.
TINY = FitSettings(mnist=300, pen=0, epochs=1, test_digits=200, batch_size=64, share=0.3)

SEVEN = {"strokes": [[[250, 200], [550, 200], [400, 620]]]}


def drawings(n_per_digit: int = 2, seed: int = 0) -> Collection:
    """Simple made-up strokes for a few digits, each a little different."""
    rng = np.random.default_rng(seed)
    shapes = {
        1: lambda j: [[[400 + j, 150], [405, 400], [410 - j, 650]]],
        7: lambda j: [[[250, 200 + j], [550, 200], [400 + j, 620]]],
        0: lambda j: [[[400 + (180 + j) * np.sin(t), 400 - 260 * np.cos(t)] for t in np.linspace(0, 6.3, 40)]],
    }
    c = Collection()
    for digit, shape in shapes.items():
        for _ in range(n_per_digit):
            c.add({"strokes": shape(float(rng.integers(-40, 40)))}, digit)
    return c


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def base_file(tmp_path_factory):
    """A fastnet file as the Train tab would save one (random weights will do: the fit must change them)."""
    torch.manual_seed(0)
    model = build_model("fastnet").eval()
    info = make_info("fastnet", {}, recipe=get_spec("fastnet").recipe.to_dict(), test_accuracy=0.1,
                     history=[], metrics={"mnist_test": {"value": 0.1}})
    return save_weights(tmp_path_factory.mktemp("base") / "base.safetensors", model, info)


def test_repeats_weigh_the_drawings_up():
    s = FitSettings(mnist=6000, pen=1500, share=0.2, max_repeats=100)
    assert s.repeats(0) == 0
    assert s.repeats(125) == 15  # 125 * 15 = 1875 of 9375 samples: 20%
    assert s.repeats(3) == 100  # capped: a drawing is not shown 625 times an epoch
    assert s.repeats(100_000) == 1


def test_folds_are_stratified_and_cover_everything():
    labels = [0, 0, 0, 1, 1, 1, 7, 7, 7, 7]
    groups = folds(labels, 3, seed=1)
    assert sorted(i for g in groups for i in g) == list(range(10))
    for g in groups:
        assert {labels[i] for i in g} >= {0, 1}  # each fold holds every digit with at least 3 drawings
    assert folds(labels, 3, seed=1) == groups  # seeded
    assert len(folds([3, 4], 5)) == 2  # never an empty fold


def test_accuracy_takes_the_top_of_all_outputs_read_as_pictures_are():
    class Fixed(torch.nn.Module):
        def __init__(self, out):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))
            self.out = out

        def forward(self, x):
            return self.out[: len(x)]

    eleven = torch.zeros(3, 11)
    eleven[0, 7] = eleven[1, 10] = eleven[2, 1] = 5  # the second says "not a digit", with a 7 next
    eleven[1, 7] = 3
    split = Split(torch.zeros(3, 28, 28, dtype=torch.uint8), torch.tensor([7, 7, 1]))
    assert accuracy(LoadedModel(Fixed(eleven), {"model": "fixed"}), split) == pytest.approx(2 / 3)
    # Read with "not a digit" lowered, as its calibration says pictures are read: the second is a 7 too.
    lowered = {"model": "fixed", "calibrations": {PICTURE: {"other_offset": 6.0}}}
    assert accuracy(LoadedModel(Fixed(eleven), lowered), split) == pytest.approx(1.0)


def test_no_drawings_no_fit(base_file):
    with pytest.raises(CollectionError, match="no drawings"):
        next(finetune(base_file, Collection(), TINY))
    with pytest.raises(CollectionError, match="at least 2"):
        assess(base_file, Collection(), TINY)


@pytest.mark.slow
def test_fit_changes_a_new_model_and_leaves_the_base_intact(base_file, mnist, tmp_path):
    before = sha(base_file)
    base = load_weights(base_file)
    base_state = {k: v.clone() for k, v in base.model.state_dict().items()}
    c = drawings()
    events = list(finetune(base_file, c, TINY, mnist=mnist))
    assert any(isinstance(e, Progress) for e in events) and any(isinstance(e, EpochResult) for e in events)
    done = events[-1]
    assert isinstance(done, TrainingDone) and done.loaded is not None
    fitted = done.loaded
    changed = [k for k, v in fitted.model.state_dict().items() if not torch.equal(v, base_state[k])]
    assert changed, "the fit changed no weight"
    assert sha(base_file) == before  # the input file, byte for byte
    assert all(torch.equal(v, base_state[k]) for k, v in load_weights(base_file).model.state_dict().items())
    info = fitted.info
    assert info["finetuned_from"]["drawings"] == len(c) and info["finetuned_from"]["file"] == "base.safetensors"
    assert "metrics" not in info  # the base's measured figures are not the fitted model's
    assert info["recipe"]["lr"] == TINY.lr and info["recipe"]["epochs"] == 1 and len(info["history"]) == 1
    assert any("drawings" in n for n in info["notes"])
    assert "fine-tune: started from the weights of base.safetensors" in info["notes"]
    assert not any("resumed from" in n for n in info["notes"])
    # Saved like any trained model, it loads and reads.
    path = done.save(tmp_path / "mine.safetensors")
    assert load_weights(path).name == "fastnet"


@pytest.mark.slow
def test_fit_from_a_loaded_reader_does_not_train_it_in_place(base_file, mnist):
    from mnist_demo.reading.reader import Reader

    base = Reader(load_weights(base_file), device="cpu")
    state = {k: v.clone() for k, v in base.picture.model.state_dict().items()}
    fitted = fit(base, drawings(), TINY, mnist=mnist)
    assert fitted.model is not base.picture.model
    assert all(torch.equal(v, state[k]) for k, v in base.picture.model.state_dict().items())
    assert fitted.info["finetuned_from"]["file"] is None


@pytest.mark.slow
@pytest.mark.parametrize("n_per_digit, k, max_cv, method, measured", [
    (2, 3, 30, "3-fold cross-validation", 6),  # few: every drawing is held out once
    (4, 3, 6, "25% held out", 3),  # many: one share held out
])
def test_assess_reads_only_drawings_kept_out_of_each_fit(base_file, mnist, monkeypatch, n_per_digit, k, max_cv,
                                                         method, measured):
    c = drawings(n_per_digit)
    all_images = c.tensors()[0]
    seen: list[set[int]] = []
    real_fit = measuring.fit

    def recording_fit(base, split, settings, **kwargs):
        # Which of the collection's drawings this fit trains on (the images are unique).
        seen.append({i for i, img in enumerate(all_images) if any(torch.equal(img, s) for s in split.images)})
        return real_fit(base, split, settings, **kwargs)

    measured_ids: list[set[int]] = []
    real_accuracy = measuring.accuracy

    def recording_accuracy(model, split):
        measured_ids.append({i for i, img in enumerate(all_images) if any(torch.equal(img, s) for s in split.images)})
        return real_accuracy(model, split)

    monkeypatch.setattr(measuring, "fit", recording_fit)
    monkeypatch.setattr(measuring, "accuracy", recording_accuracy)
    result = assess(base_file, c, TINY, k=k, max_cross_validated=max_cv, mnist=mnist)
    assert result.method == method and result.measured == measured and result.drawings == len(c)
    assert result.fits == len(seen)
    # Each fit's measured drawings (before and after: two calls per fit) are none of its training drawings.
    for f, trained in enumerate(seen):
        for tested in measured_ids[2 * f: 2 * f + 2]:
            assert tested and not (tested & trained)
    assert 0.0 <= result.before <= 1.0 and 0.0 <= result.after <= 1.0
    assert "before" in result.summary()


@pytest.mark.slow
def test_a_model_with_a_not_a_digit_output_fits_too(tmp_path, mnist):
    if "classes" not in inspect.signature(get_spec("drawnet").build).parameters:
        pytest.skip("drawnet has no 'classes' argument in this version")
    torch.manual_seed(0)
    model = build_model("drawnet", width=8, classes=11).eval()
    info = make_info("drawnet", {"width": 8, "classes": 11}, recipe=get_spec("drawnet").recipe.to_dict())
    path = save_weights(tmp_path / "eleven.safetensors", model, info)
    fitted = fit(path, drawings(1), TINY, mnist=mnist, probe_seconds=None)
    assert fitted.model(torch.zeros(1, 1, 28, 28)).shape[1] == 11


@pytest.mark.slow
def test_command_line_fits_a_saved_collection(base_file, mnist_dir, tmp_path, capsys):
    from mnist_demo.cli import main
    from mnist_demo.personal.collection_file import save

    mine = save(drawings(), tmp_path / "mine.json.gz")
    out = tmp_path / "fitted.safetensors"
    before = sha(base_file)
    tiny = ["--mnist", "300", "--pen", "0", "--epochs", "1"]
    assert main(["finetune", "--collection", str(mine), "--weights", str(base_file), "--out", str(out),
                 "--data-dir", str(mnist_dir), "--assess", "--folds", "2", *tiny]) == 0
    printed = capsys.readouterr().out
    assert "6 drawings (0: 2, 1: 2, 7: 2)" in printed and "before" in printed and "after" in printed
    assert load_weights(out).info["finetuned_from"]["drawings"] == 6
    assert sha(base_file) == before
    # It never overwrites: not the output without --overwrite, never the base.
    with pytest.raises(SystemExit, match="exists"):
        main(["finetune", "--collection", str(mine), "--weights", str(base_file), "--out", str(out), *tiny])
    with pytest.raises(SystemExit, match="never overwrites"):
        main(["finetune", "--collection", str(mine), "--weights", str(base_file), "--out", str(base_file),
              "--overwrite", *tiny])
    bad = tmp_path / "bad.json.gz"
    bad.write_bytes(b"not a collection")
    assert main(["finetune", "--collection", str(bad), "--weights", str(base_file), "--out",
                 str(tmp_path / "x.safetensors")]) == 2
    assert "not JSON" in capsys.readouterr().err


@pytest.mark.slow
def test_finetune_elsewhere_sends_portable_events_and_stops_on_its_file(base_file, mnist_dir, tmp_path):
    from mnist_demo.personal.finetune import as_split, finetune_elsewhere

    split = as_split(drawings())
    events = list(finetune_elsewhere(str(base_file), split, TINY, str(mnist_dir), str(tmp_path / "stop")))
    assert all(e.model is None for e in events if isinstance(e, Progress))
    assert events[-1].optimizer is None and events[-1].loaded is not None
    (tmp_path / "stop").touch()  # a visitor's Stop before the first batch: nothing kept, nothing raised
    events = list(finetune_elsewhere(str(base_file), split, TINY, str(mnist_dir), str(tmp_path / "stop")))
    assert events[-1].stopped and events[-1].loaded is None
    with pytest.raises(RuntimeError, match="stopped before"):
        fit(base_file, split, TINY, data_dir=str(mnist_dir), stop=measuring_stop(tmp_path / "stop"))


def measuring_stop(path):
    from mnist_demo.training.standby import StopFile

    return StopFile(path)


def test_a_fit_without_the_pen_digits_says_where_they_belong_even_with_a_sample_cached(base_file, mnist, tmp_path,
                                                                                     monkeypatch):
    from mnist_demo.handwriting import pen_digits
    from mnist_demo.personal import finetune as fitting

    settings = FitSettings(mnist=200, pen=50, test_digits=100)
    fitting._pen_sample.cache_clear()
    fitting._pen_sample(settings.pen, settings.seed)  # rendered and kept on disk
    fitting._pen_sample.cache_clear()
    monkeypatch.setenv(pen_digits.PATH_ENV, str(tmp_path / "gone.jsonl"))
    try:
        with pytest.raises(pen_digits.PenDigitsUnavailable, match="gone.jsonl"):
            fit(base_file, drawings(), settings, mnist=mnist)
    finally:
        fitting._pen_sample.cache_clear()


def test_a_fit_of_the_shipped_reader_is_calibrated_anew_and_reads_the_pads_paths_too(mnist):
    from mnist_demo.reading.calibration import PAIR, calibrations_of
    from mnist_demo.reading.reader import Reader
    from mnist_demo.reading.sketch import parse_sketch
    from mnist_demo.reading.weights import Weights

    shipped = Weights.DEFAULT.load("cpu")
    fitted = fit(shipped, drawings(), TINY, mnist=mnist, probe_seconds=None)
    calibrations = calibrations_of(fitted.info)
    assert set(calibrations) == {PICTURE, PAIR} and any("calibrated anew" in n for n in fitted.info["notes"])
    pair = calibrations[PAIR]
    assert pair.stroke_weight > 0 and 0.5 <= pair.sure_from <= 0.95 and "calibration writers" in pair.fitted_on
    # Its own calibrations, fitted on the calibration writers, not its base's carried over; pictures are read
    # with "not a digit" lowered as its base's are, the pad's drawings with it as trained.
    assert calibrations[PICTURE] != shipped.picture_calibration
    assert calibrations[PICTURE].other_offset == shipped.picture_calibration.other_offset > 0
    assert calibrations[PICTURE].other_offset_from.startswith("kept from the reader, which this model started from")
    assert pair.other_offset == 0
    reader = shipped.with_picture(fitted)
    assert reader.strokes is shipped.strokes and reader.pair_calibration == pair
    assert reader.read(parse_sketch(SEVEN)).digit == 7
    assert Reader(fitted, device="cpu").strokes is None  # alone, it reads the picture


def test_a_fit_of_a_model_read_alone_reads_the_picture_alone(base_file, mnist):
    from mnist_demo.reading.calibration import PAIR, calibrations_of
    from mnist_demo.reading.reader import Reader

    base = Reader.load(base_file, "cpu")
    fitted = fit(base, drawings(), TINY, mnist=mnist, probe_seconds=None)
    assert PAIR not in calibrations_of(fitted.info) and base.with_picture(fitted).strokes is None


@pytest.mark.slow
def test_after_drawing_ahead_the_first_fit_draws_nothing_itself(mnist, tmp_path, monkeypatch):
    from mnist_demo.personal import finetune as fitting
    from mnist_demo.personal.finetune import draw_ahead
    from mnist_demo.reading.weights import Weights
    from mnist_demo.training import calibration_data, drawn_data
    from mnist_demo.training.drawn_cache import CACHE_ENV

    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))  # an empty cache: a fresh server
    monkeypatch.setattr(calibration_data, "RENDERS", 1)  # the calibration drawings, fewer of them: the same path
    monkeypatch.setattr(calibration_data, "NON_DIGITS", 40)
    settings = FitSettings(mnist=300, pen=60, non_digits=40, epochs=1, test_digits=200, batch_size=64)

    def forget() -> None:  # what a new process (the app's fit) would start with
        fitting._pen_sample.cache_clear(), drawn_data._non_digit_split.cache_clear()

    forget()
    draw_ahead(Weights.DEFAULT.file, settings)
    forget()

    def drawn_again(*args, **kwargs):
        raise AssertionError("the fit drew its data itself")
    monkeypatch.setattr(fitting, "pen_training_images", drawn_again)
    monkeypatch.setattr(drawn_data, "pen_training_images", drawn_again)
    monkeypatch.setattr(drawn_data, "non_digit_training_images", drawn_again)
    monkeypatch.setattr(calibration_data, "_render", drawn_again)
    try:
        fitted = fit(Weights.DEFAULT.file, drawings(), settings, mnist=mnist, probe_seconds=None)
    finally:
        forget()
    assert "pair" in fitted.info["calibrations"]
    assert any("non-digits" in n or "not one digit" in n for n in fitted.info["notes"])
