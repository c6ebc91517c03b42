"""Every registry model takes MNIST-shaped input and has the tutorial's parameter count."""

import json

import pytest
import torch

from mnist_demo.base.recipe import Recipe
from mnist_demo.models.registry import DEFAULT_MODEL, REGISTRY, UnknownModel, build_model, get_spec

# Counted by hand from each tutorial's layer list, so a changed layer fails here.
EXPECTED_PARAMETERS = {
    "mlp-50": 784 * 50 + 50 + 50 * 10 + 10,
    "cnn-10-20": (10 * 25 + 10) + (20 * 10 * 25 + 20) + (320 * 50 + 50) + (50 * 10 + 10),
    "mlp-512": (784 * 512 + 512) + (512 * 512 + 512) + (512 * 10 + 10),
    "mlp-100": (784 * 100 + 100) + (100 * 10 + 10),
    "mlp-784": (784 * 784 + 784) + (784 * 10 + 10),
    "cnn-simple": (10 * 25 + 10) + (27 * 27 * 10 * 128 + 128) + (128 * 10 + 10),
    "lenet5": (6 * 25 + 6) + (16 * 6 * 25 + 16) + (120 * 16 * 25 + 120) + (120 * 84 + 84) + (84 * 10 + 10),
    "pytorch-example": (32 * 9 + 32) + (64 * 32 * 9 + 64) + (9216 * 128 + 128) + (128 * 10 + 10),
    # drawnet's 11th output says "not a digit".
    "drawnet": (24 * 25 + 48) + (48 * 24 * 25 + 96) + (64 * 48 * 9 + 128) + (1600 * 11 + 11),
    "fastnet": (8 * 25 + 8) + (16 * 8 * 9 + 32) + (32 * 16 * 9 + 64) + (64 * 32 * 9 + 128) + (576 * 10 + 10),
    # The stroke reader: 1-d convolutions along the pen's path (5 features a point), mean and max pooled.
    "strokenet": (64 * 5 * 5 + 128) + (64 * 64 * 5 + 128) + (128 * 64 * 5 + 256) + (128 * 128 * 3 + 256)
    + (256 * 11 + 11),
}
PICTURE_MODELS = sorted(set(EXPECTED_PARAMETERS) - {"strokenet"})


def test_the_registry_holds_every_tutorial_model_and_ours():
    assert set(REGISTRY) == set(EXPECTED_PARAMETERS)


def test_the_default_is_the_quick_model_and_its_short_recipe():
    assert DEFAULT_MODEL == "fastnet"
    recipe = get_spec(DEFAULT_MODEL).recipe
    assert recipe.epochs <= 2 and recipe.augment == "none" and not recipe.pen_digits


@pytest.mark.parametrize("name", PICTURE_MODELS)
def test_each_model_maps_a_batch_of_digits_to_ten_scores_and_ours_to_eleven(name):
    model = build_model(name).eval()
    out = model(torch.randn(5, 1, 28, 28))
    assert out.shape == (5, 11 if name == "drawnet" else 10)
    assert torch.isfinite(out).all()


def test_drawnet_learns_not_a_digit_from_made_up_drawings_and_older_files_keep_ten_classes():
    spec = get_spec("drawnet")
    assert spec.recipe.non_digits > 0 and spec.recipe.pen_digits
    assert build_model("drawnet", classes=10)(torch.zeros(1, 1, 28, 28)).shape == (1, 10)


@pytest.mark.parametrize("name", sorted(EXPECTED_PARAMETERS))
def test_each_model_has_its_tutorials_parameter_count(name):
    assert get_spec(name).parameter_count() == EXPECTED_PARAMETERS[name]


def test_each_model_names_its_source_and_carries_a_recipe_that_its_weights_file_keeps():
    for spec in REGISTRY.values():
        assert spec.source.strip()
        assert isinstance(spec.recipe, Recipe)
        # A weights file stores the recipe as JSON (mnist_demo/checkpoint.py); it comes back the same.
        assert Recipe.from_dict(json.loads(json.dumps(spec.recipe.to_dict()))) == spec.recipe


def test_tutorial_recipes_match_the_tutorials():
    assert get_spec("mlp-50").recipe.momentum == 0.5
    assert get_spec("mlp-512").recipe.val_split == 0.2 and get_spec("mlp-512").recipe.batch_size == 20
    example = get_spec("pytorch-example").recipe
    assert (example.optimizer, example.lr, example.schedule, example.gamma, example.epochs) == ("adadelta", 1.0, "step", 0.7, 14)


def test_an_unknown_name_lists_the_known_ones():
    with pytest.raises(UnknownModel, match="mlp-50"):
        build_model("resnet-1000")
