"""The one training engine: it learns, reports per epoch, stops on request, keeps the best, resumes."""

import threading

import pytest
import torch

from mnist_demo.base.devices import pick_device
from mnist_demo.base.recipe import Recipe
from mnist_demo.training.augment import DrawnAugment
from mnist_demo.training.engine import EpochResult, Progress, TrainConfig, TrainingDone, train


def run(config, **kwargs):
    events = list(train(config, **kwargs))
    done = events[-1]
    assert isinstance(done, TrainingDone)
    return events, done


def epochs_of(events):
    return [e for e in events if isinstance(e, EpochResult)]


QUICK = Recipe(optimizer="adam", lr=1e-3, batch_size=100, epochs=3)


def test_the_engine_lowers_the_loss_on_a_small_subset(mnist):
    train_set, test_set = mnist
    events, done = run(TrainConfig(model="mlp-100", recipe=QUICK, train_limit=2000, test_limit=1000),
                       train_data=train_set, test_data=test_set)
    results = epochs_of(events)
    assert [r.epoch for r in results] == [1, 2, 3]
    assert results[-1].train_loss < results[0].train_loss
    assert results[-1].test_loss < results[0].test_loss
    assert len(results[0].per_class_accuracy) == 10 and results[0].seconds > 0


def test_progress_is_reported_within_each_epoch(mnist):
    events, _ = run(TrainConfig(model="mlp-50", recipe=QUICK.with_changes(epochs=1), train_limit=2000,
                                test_limit=500, progress_every=5, progress_seconds=1e9),  # by batch count only:
                           train_data=mnist[0], test_data=mnist[1])  # a busy machine must not add reports
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress[-1].batch == progress[-1].batches == 20
    assert [p.batch for p in progress] == [3, 5, 10, 15, 20]  # the run's first report after 3 batches


def test_a_short_training_reaches_a_real_accuracy_on_the_mnist_test_set(mnist):
    recipe = Recipe(optimizer="adam", lr=1e-3, batch_size=100, epochs=1)
    events, done = run(TrainConfig(model="mlp-100", recipe=recipe), train_data=mnist[0], test_data=mnist[1])
    assert len(mnist[1]) == 10_000
    assert done.loaded.test_accuracy > 0.93
    assert done.loaded.info["test_samples"] == 10_000


def test_the_same_seed_gives_the_same_run(mnist):
    config = TrainConfig(model="cnn-10-20", recipe=QUICK.with_changes(epochs=1), seed=7, train_limit=1000,
                         test_limit=500)
    a = epochs_of(run(config, train_data=mnist[0], test_data=mnist[1])[0])
    b = epochs_of(run(config, train_data=mnist[0], test_data=mnist[1])[0])
    assert a[0].train_loss == b[0].train_loss and a[0].test_accuracy == b[0].test_accuracy


def run_and_stop_at_first(event_type, config, mnist):
    """Train, asking to stop as soon as the first event of `event_type` arrives."""
    stop = threading.Event()
    events = []
    for event in train(config, train_data=mnist[0], test_data=mnist[1], stop=stop):
        events.append(event)
        if isinstance(event, event_type):
            stop.set()
    return events, events[-1]


def test_stop_before_the_first_epoch_ends_keeps_nothing(mnist):
    config = TrainConfig(model="mlp-50", recipe=QUICK, train_limit=2000, test_limit=500, progress_every=2)
    events, done = run_and_stop_at_first(Progress, config, mnist)
    assert done.stopped and done.loaded is None and not epochs_of(events)
    # It stopped within one batch of the request.
    assert sum(isinstance(e, Progress) for e in events) == 1


def test_stop_after_an_epoch_keeps_the_model_so_far(mnist):
    config = TrainConfig(model="mlp-50", recipe=QUICK.with_changes(epochs=5), train_limit=2000, test_limit=500)
    _, done = run_and_stop_at_first(EpochResult, config, mnist)
    assert done.stopped and len(done.history) == 1
    assert done.loaded.info["epochs"] == 1 and done.loaded.info["stopped"] is True
    assert done.loaded.test_accuracy == done.history[0].test_accuracy


def test_a_validation_split_keeps_the_checkpoint_with_the_best_validation_loss(mnist):
    # A learning rate this high makes the validation loss go up and down.
    recipe = Recipe(optimizer="sgd", lr=0.5, batch_size=50, epochs=4, val_split=0.2)
    events, done = run(TrainConfig(model="mlp-50", recipe=recipe, train_limit=1500, test_limit=500),
                       train_data=mnist[0], test_data=mnist[1])
    results = epochs_of(events)
    best = min(results, key=lambda r: r.val_loss)
    assert done.loaded.info["best_epoch"] == best.epoch
    # The kept epoch's test evaluation comes along, so nobody needs to run the test set again.
    assert done.evaluation.accuracy == best.test_accuracy
    assert int(done.evaluation.confusion.sum()) == 500
    assert done.loaded.info["train_samples"] == 1200  # 20% of 1500 held out
    assert done.loaded.test_accuracy == best.test_accuracy


def test_a_validation_split_can_keep_the_last_epoch_as_a_one_cycle_schedule_means_to(mnist):
    # As above, an epoch longer: its validation loss is least before the end, yet the last, 5, is kept.
    recipe = Recipe(optimizer="sgd", lr=0.5, batch_size=50, epochs=5, val_split=0.2, keep="last")
    events, done = run(TrainConfig(model="mlp-50", recipe=recipe, train_limit=1500, test_limit=500),
                       train_data=mnist[0], test_data=mnist[1])
    results = epochs_of(events)
    assert min(results, key=lambda r: r.val_loss).epoch < 5  # else this test would tell nothing
    assert done.loaded.info["best_epoch"] == 5 and all(r.kept for r in results)
    assert done.loaded.test_accuracy == results[-1].test_accuracy
    with pytest.raises(ValueError, match="keep must be one of best, last"):
        Recipe(keep="first")


def test_resuming_continues_where_the_checkpoint_left_off(mnist, tmp_path):
    recipe = Recipe(optimizer="sgd", lr=0.05, momentum=0.9, batch_size=100, epochs=2, schedule="step", gamma=0.5,
                    augment="drawn")
    config = TrainConfig(model="cnn-10-20", recipe=recipe, train_limit=1000, test_limit=500)
    _, straight = run(config, train_data=mnist[0], test_data=mnist[1])

    _, first = run(TrainConfig(**{**config.__dict__, "recipe": recipe.with_changes(epochs=1)}),
                   train_data=mnist[0], test_data=mnist[1])
    path = first.save(tmp_path / "epoch1.safetensors")
    events, resumed = run(TrainConfig(**{**config.__dict__, "resume": str(path)}),
                          train_data=mnist[0], test_data=mnist[1])
    assert [r.epoch for r in epochs_of(events)] == [2]
    assert len(resumed.history) == 2
    for a, b in zip(straight.loaded.model.state_dict().values(), resumed.loaded.model.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-5)


def test_resuming_from_weights_of_another_model_fails_clearly(mnist, tmp_path):
    from mnist_demo.models.checkpoint import CheckpointError
    _, done = run(TrainConfig(model="mlp-50", recipe=QUICK.with_changes(epochs=1), train_limit=500, test_limit=100),
                  train_data=mnist[0], test_data=mnist[1])
    path = done.save(tmp_path / "mlp.safetensors")
    with pytest.raises(CheckpointError, match="not 'lenet5'"):
        run(TrainConfig(model="lenet5", resume=str(path), train_limit=500, test_limit=100),
            train_data=mnist[0], test_data=mnist[1])


def test_a_run_started_from_given_weights_starts_where_they_are_with_its_own_recipe(mnist, tmp_path):
    import hashlib

    from mnist_demo.models.checkpoint import load_weights
    _, base = run(TrainConfig(model="mlp-50", recipe=QUICK.with_changes(epochs=2), train_limit=2000, test_limit=500),
                  train_data=mnist[0], test_data=mnist[1])
    path = base.save(tmp_path / "base.safetensors")
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    fine = Recipe(optimizer="sgd", lr=0.003, batch_size=100, epochs=1)
    # Probed before any step: a new run from these weights reads as well as they do, far above chance.
    events, done = run(TrainConfig(model="mlp-50", recipe=fine, train_limit=300, test_limit=500, init_from=path,
                                   progress_every=1, probe_seconds=0.0), train_data=mnist[0], test_data=mnist[1])
    first_probe = next(e.probe_accuracy for e in events if isinstance(e, Progress) and e.probe_accuracy is not None)
    assert first_probe > 0.8 and base.history[-1].test_accuracy > 0.8
    # A new run: its own history from epoch 1, the recipe's learning rate (not the base run's optimizer's).
    assert [r.epoch for r in epochs_of(events)] == [1] and len(done.history) == 1
    assert done.optimizer.param_groups[0]["lr"] == pytest.approx(0.003)
    assert "started from the weights of base.safetensors" in done.notes
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before  # the file is only read
    # A loaded model is copied, never trained in place.
    loaded = load_weights(path)
    state = {k: v.clone() for k, v in loaded.model.state_dict().items()}
    _, again = run(TrainConfig(model="mlp-50", recipe=fine, train_limit=300, test_limit=100, init_from=loaded),
                   train_data=mnist[0], test_data=mnist[1])
    assert all(torch.equal(v, state[k]) for k, v in loaded.model.state_dict().items())
    assert any(not torch.equal(v, state[k]) for k, v in again.loaded.model.state_dict().items())


def test_starting_from_weights_refuses_resume_and_another_model(mnist, tmp_path):
    from mnist_demo.models.checkpoint import LoadedModel, make_info
    from mnist_demo.models.registry import drawnet
    _, done = run(TrainConfig(model="mlp-50", recipe=QUICK.with_changes(epochs=1), train_limit=500, test_limit=100),
                  train_data=mnist[0], test_data=mnist[1])
    path = done.save(tmp_path / "mlp.safetensors")
    with pytest.raises(ValueError, match="give one"):
        run(TrainConfig(model="mlp-50", init_from=path, resume=str(path)), train_data=mnist[0], test_data=mnist[1])
    with pytest.raises(ValueError, match="init_from holds mlp-50, not a lenet5"):
        run(TrainConfig(model="lenet5", init_from=done.loaded, train_limit=500, test_limit=100),
            train_data=mnist[0], test_data=mnist[1])
    ten = LoadedModel(drawnet(classes=10), make_info("drawnet", {"classes": 10}))
    with pytest.raises(ValueError, match="other arguments"):
        run(TrainConfig(model="drawnet", model_args={"classes": 11}, init_from=ten, train_limit=500,
                        test_limit=100), train_data=mnist[0], test_data=mnist[1])


def test_a_run_from_given_weights_keeps_the_arguments_they_were_made_with(mnist):
    from mnist_demo.models.checkpoint import LoadedModel, make_info
    from mnist_demo.models.registry import drawnet, output_count
    ten = LoadedModel(drawnet(classes=10), make_info("drawnet", {"classes": 10}))
    _, done = run(TrainConfig(model="drawnet", recipe=QUICK.with_changes(epochs=1), init_from=ten, train_limit=200,
                              test_limit=100), train_data=mnist[0], test_data=mnist[1])
    assert output_count(done.loaded.model) == 10 and done.loaded.info["model_args"]["classes"] == 10


# Each message names the field and its range; the same from Python, the command line and the app.
ABSURD = [  # what an API client sent a public server, and more of the kind
    (dict(batch_size=10**9), "batch_size must be a whole number in [1, 65536], not 1000000000"),
    (dict(lr=1e9), "lr must be in (0, 10], not 1e+09"),
    (dict(momentum=50.0), "momentum must be in [0, 1), not 50"),
    (dict(weight_decay=-5.0), "weight_decay must be in [0, 1], not -5"),
    (dict(lr=float("nan")), "lr must be in (0, 10], not nan"),
    (dict(lr=float("inf")), "lr must be in (0, 10], not inf"),
]


@pytest.mark.parametrize("bad, reason", ABSURD + [
    (dict(optimizer="rmsprop"), "optimizer must be one of sgd, adam, adadelta, not 'rmsprop'"),
    (dict(lr=0), "lr must be in (0, 10], not 0"),
    (dict(epochs=0), "epochs must be a whole number in [1, 1000], not 0"),
    (dict(epochs=2.5), "epochs must be a whole number in [1, 1000], not 2.5"),
    (dict(val_split=1.0), "val_split must be in [0, 1), not 1"),
    (dict(schedule="cosine"), "schedule must be one of none, step, onecycle, not 'cosine'"),
    (dict(step_size=0), "step_size must be a whole number in [1, 1000], not 0"),
    (dict(gamma=1.5), "gamma must be in (0, 1], not 1.5"),
    (dict(label_smoothing=1.0), "label_smoothing must be in [0, 1), not 1"),
    (dict(test_batch_size=0), "test_batch_size must be a whole number in [1, 65536], not 0"),
    (dict(pen_renders=1000), "pen_renders must be a whole number in [1, 100], not 1000"),
    (dict(other_offset=-1.0), "other_offset must be in [0, 20], not -1"),
    (dict(lr="fast"), "lr must be in (0, 10], not 'fast'"),
])
def test_a_bad_recipe_is_refused_with_its_reason(bad, reason):
    with pytest.raises(ValueError) as refused:
        Recipe(**bad)
    assert str(refused.value) == reason
    with pytest.raises(ValueError) as refused:  # the same when a good recipe is changed
        QUICK.with_changes(**bad)
    assert str(refused.value) == reason


def test_every_recipe_problem_is_named_at_once():
    with pytest.raises(ValueError) as refused:
        Recipe(lr=-1, epochs=0)
    assert str(refused.value) == "lr must be in (0, 10], not -1; epochs must be a whole number in [1, 1000], not 0"


def test_every_number_of_a_recipe_has_a_range():
    from dataclasses import fields

    numbers = [f for f in fields(Recipe) if f.type in ("int", "float")]
    assert len(numbers) == 15 and not [f.name for f in numbers if f.metadata["range"] is None]


def test_every_recipe_field_says_what_it_is_for_the_cli_and_the_app():
    from dataclasses import fields

    for f in fields(Recipe):
        assert f.metadata["label"] and f.metadata["help"], f.name
        assert f.metadata["choices"] is None or getattr(Recipe(), f.name) in f.metadata["choices"]


def test_augmentation_keeps_shape_and_range_and_can_be_switched_off():
    x = torch.zeros(16, 1, 28, 28)
    x[:, :, 8:20, 12:16] = 1.0
    g = torch.Generator().manual_seed(0)
    assert torch.equal(DrawnAugment(p=0.0)(x.clone(), g), x)
    y = DrawnAugment(p=1.0)(x.clone(), g)
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
    assert not torch.equal(y, x)
    assert torch.allclose(y.amax(dim=(1, 2, 3)), torch.ones(16))  # strokes stay full-intensity


def test_the_device_is_found_by_itself_or_forced():
    # On this machine: CUDA if it has it, else Apple MPS, else the CPU.
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert pick_device(None).type == pick_device("auto").type == expected
    assert pick_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize("cuda, mps, chosen", [(True, True, "cuda"), (True, False, "cuda"), (False, True, "mps"),
                                               (False, False, "cpu")])
def test_the_device_chosen_for_what_a_machine_has(monkeypatch, cuda, mps, chosen):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert pick_device(None) == torch.device(chosen)
    assert pick_device("cpu") == torch.device("cpu")  # forced, whatever else there is
    if not cuda:
        with pytest.raises(ValueError, match="'cuda' was asked for but CUDA is not available here"):
            pick_device("cuda")
    if not mps:
        with pytest.raises(ValueError, match="'mps' was asked for but Apple MPS is not available here"):
            pick_device("mps")


def quick_drawnet(mnist, init_from=None, **changes):
    """drawnet for one epoch on 300 MNIST digits and one rendering of the pen digits; 200 to test on."""
    from mnist_demo.models.registry import get_spec

    recipe = get_spec("drawnet").recipe.with_changes(**{"epochs": 1, "pen_renders": 1, "keep": "last", **changes})
    return run(TrainConfig(model="drawnet", recipe=recipe, train_limit=300, test_limit=200, init_from=init_from),
               train_data=mnist[0], test_data=mnist[1])


@pytest.mark.slow
def test_a_drawnet_trained_with_digits_held_out_lowers_not_a_digit_on_them_and_records_what_it_then_reads(mnist):
    from mnist_demo.models.checkpoint import LoadedModel
    from mnist_demo.training.evaluation import evaluate

    _, done = quick_drawnet(mnist, non_digits=40, val_split=0.1)
    info = done.loaded.info
    offset = info["calibrations"]["picture"]["other_offset"]
    assert offset >= 0 and any("'not a digit' lowered by" in n and "of 30 held-out" in n for n in info["notes"])
    assert "of 30 held-out MNIST digits" in info["calibrations"]["picture"]["other_offset_from"]
    # Fine-tuned without digits held out, it keeps its start's lowering and says where that came from.
    calibrations = {"picture": {**info["calibrations"]["picture"], "other_offset": 0.7}}
    start = LoadedModel(done.loaded.model, {**info, "calibrations": calibrations})
    _, tuned = quick_drawnet(mnist, init_from=start, non_digits=40)
    kept = tuned.loaded.info["calibrations"]["picture"]
    assert kept["other_offset"] == 0.7
    assert kept["other_offset_from"].startswith("kept from the weights of a loaded drawnet")
    assert "of 30 held-out MNIST digits" in kept["other_offset_from"]
    # The figures it keeps are those of the model read as pictures are from now on, not as its last epoch ended.
    assert evaluate(done.loaded.model, mnist[1].subset(200), other_offset=offset).accuracy == info["test_accuracy"]
    assert done.evaluation.accuracy == info["test_accuracy"]


@pytest.mark.slow
def test_a_drawnet_given_a_lowering_reads_its_test_digits_with_it_from_the_first_epoch(mnist):
    from mnist_demo.training.evaluation import evaluate

    # Many non-digits and a lowering far above any a fit would find: reading with it or without it differs.
    events, done = quick_drawnet(mnist, non_digits=4000, other_offset=6.0)
    test = mnist[1].subset(200)
    lowered = evaluate(done.loaded.model, test, other_offset=6.0).accuracy
    assert lowered != evaluate(done.loaded.model, test).accuracy
    assert done.loaded.info["calibrations"]["picture"]["other_offset"] == 6.0
    assert epochs_of(events)[-1].test_accuracy == lowered == done.loaded.info["test_accuracy"]
