"""Weights files round-trip with their metadata, and bad ones fail with a clear CheckpointError."""

import pytest
import torch
from safetensors.torch import save_file

from mnist_demo.models.checkpoint import (
    CheckpointError,
    load_optimizer_state,
    load_weights,
    make_info,
    read_info,
    save_weights,
)
from mnist_demo.models.registry import build_model


def _trained_a_little(name="lenet5"):
    torch.manual_seed(0)
    model = build_model(name)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.randn(8, 1, 28, 28)).sum().backward()
    opt.step()
    return model.eval(), opt


def test_weights_round_trip_with_identical_outputs_and_metadata(tmp_path):
    model, opt = _trained_a_little()
    path = save_weights(tmp_path / "m.safetensors", model, make_info("lenet5", test_accuracy=0.987, epochs=3))
    loaded = load_weights(path)
    x = torch.randn(4, 1, 28, 28)
    assert torch.equal(loaded.model(x), model(x))
    assert loaded.name == "lenet5" and loaded.test_accuracy == 0.987
    info = read_info(path)
    assert info["normalization"] == {"mean": 0.1307, "std": 0.3081}
    assert info["epochs"] == 3 and "torch" in info["versions"] and info["date"]


def test_optimizer_state_round_trips_for_resuming(tmp_path):
    model, opt = _trained_a_little()
    path = save_weights(tmp_path / "m.safetensors", model, make_info("lenet5"), optimizer=opt)
    loaded = load_weights(path)
    fresh = torch.optim.Adam(loaded.model.parameters(), lr=1e-3)
    load_optimizer_state(path, fresh, loaded.info)
    before, after = opt.state_dict(), fresh.state_dict()
    for pid, state in before["state"].items():
        assert torch.equal(state["exp_avg"], after["state"][pid]["exp_avg"])
        assert float(state["step"]) == float(after["state"][pid]["step"])


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_weights(tmp_path / "nothing.safetensors")


def test_a_corrupt_file_is_a_clear_error(tmp_path):
    path = tmp_path / "corrupt.safetensors"
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(CheckpointError, match="not a readable"):
        load_weights(path)


def test_a_truncated_file_is_a_clear_error(tmp_path):
    model, _ = _trained_a_little()
    path = save_weights(tmp_path / "m.safetensors", model, make_info("lenet5"))
    path.write_bytes(path.read_bytes()[:-1000])
    with pytest.raises(CheckpointError):
        load_weights(path)


def test_a_pickle_is_refused_not_unpickled(tmp_path):
    path = tmp_path / "model.pt"
    torch.save(build_model("lenet5").state_dict(), path)
    with pytest.raises(CheckpointError):
        load_weights(path)


def test_weights_for_another_model_are_refused(tmp_path):
    model, _ = _trained_a_little("lenet5")
    path = save_weights(tmp_path / "m.safetensors", model, make_info("lenet5"))
    with pytest.raises(CheckpointError, match="not 'drawnet'"):
        load_weights(path, expect_model="drawnet")


def test_metadata_that_names_the_wrong_architecture_is_refused(tmp_path):
    model, _ = _trained_a_little("lenet5")
    path = save_weights(tmp_path / "m.safetensors", model, make_info("mlp-50"))
    with pytest.raises(CheckpointError, match="does not fit model 'mlp-50'"):
        load_weights(path)


def test_a_safetensors_file_from_elsewhere_is_refused(tmp_path):
    path = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(3)}, str(path))
    with pytest.raises(CheckpointError, match="not made by this project"):
        load_weights(path)


def test_an_unknown_model_name_is_refused(tmp_path):
    model, _ = _trained_a_little()
    path = save_weights(tmp_path / "m.safetensors", model, make_info("transformer-xxl"))
    with pytest.raises(CheckpointError, match="does not know"):
        load_weights(path)


def test_saving_over_a_file_replaces_it_whole(tmp_path):
    path = tmp_path / "m.safetensors"
    a, _ = _trained_a_little("lenet5")
    save_weights(path, a, make_info("lenet5", test_accuracy=0.1))
    b, _ = _trained_a_little("mlp-50")
    save_weights(path, b, make_info("mlp-50", test_accuracy=0.2))
    assert load_weights(path).name == "mlp-50"
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # no temp file left behind
