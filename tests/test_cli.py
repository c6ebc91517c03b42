"""`python -m mnist_demo` lists, trains and evaluates, and says clearly what went wrong."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mnist_demo.cli import main
from mnist_demo.models.registry import image_models

REPO = Path(__file__).resolve().parent.parent


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "mnist_demo", *args], capture_output=True, text=True,
                          cwd=cwd or REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300)


@pytest.mark.slow
def test_models_lists_the_registry_with_parameter_counts_and_sources():
    out = cli("models")
    assert out.returncode == 0, out.stderr
    assert "pytorch-example" in out.stdout and "1,199,882" in out.stdout
    assert "pytorch/examples mnist/main.py" in out.stdout


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mnist_dir):
    out = tmp_path_factory.mktemp("cli") / "lenet.safetensors"
    run = cli("train", "--model", "lenet5", "--epochs", "2", "--train-limit", "3000", "--test-limit", "1000",
              "--data-dir", str(mnist_dir), "--out", str(out), "--seed", "3")
    return out, run


@pytest.mark.slow
def test_train_saves_weights_and_curves_and_prints_each_epoch(trained):
    out, run = trained
    assert run.returncode == 0, run.stderr
    assert "epoch 1/2" in run.stdout and "epoch 2/2" in run.stdout
    assert out.is_file() and out.with_suffix(".curves.png").is_file()


@pytest.mark.slow
def test_train_refuses_to_overwrite_without_being_asked(trained, mnist_dir):
    out, _ = trained
    before = out.read_bytes()
    run = cli("train", "--model", "lenet5", "--epochs", "1", "--train-limit", "200", "--data-dir", str(mnist_dir),
              "--out", str(out))
    assert run.returncode != 0 and "exists" in (run.stderr + run.stdout)
    assert out.read_bytes() == before


@pytest.mark.slow
def test_train_can_start_a_new_run_from_saved_weights(trained, mnist_dir, tmp_path, capsys):
    base, _ = trained
    before = base.read_bytes()
    out = tmp_path / "tuned.safetensors"
    assert main(["train", "--model", "lenet5", "--init-from", str(base), "--epochs", "1", "--lr", "0.001",
                 "--train-limit", "300", "--test-limit", "200", "--data-dir", str(mnist_dir), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "note: started from the weights of lenet.safetensors" in printed and "epoch 1/1" in printed
    assert out.is_file() and base.read_bytes() == before
    # Another model's weights are refused with the reason, not a traceback.
    assert main(["train", "--model", "mlp-50", "--init-from", str(base), "--epochs", "1", "--train-limit", "100",
                 "--data-dir", str(mnist_dir), "--out", str(tmp_path / "x.safetensors")]) == 2
    assert "holds lenet5, not a mlp-50" in capsys.readouterr().err


@pytest.mark.slow
def test_evaluate_prints_accuracy_per_class_and_confusion_and_saves_figures(trained, mnist_dir, tmp_path):
    weights, _ = trained
    run = cli("evaluate", "--weights", str(weights), "--data-dir", str(mnist_dir), "--out-dir", str(tmp_path))
    assert run.returncode == 0, run.stderr
    assert "MNIST test accuracy:" in run.stdout and "/10000)" in run.stdout
    assert "per-class accuracy: 0:" in run.stdout and "true\\pred" in run.stdout
    assert (tmp_path / "misclassified.png").stat().st_size > 1000
    assert (tmp_path / "curves.png").is_file()


def test_evaluate_on_a_missing_file_says_so_without_a_traceback(tmp_path):
    run = cli("evaluate", "--weights", str(tmp_path / "none.safetensors"))
    assert run.returncode == 2
    assert "weights file not found" in run.stderr and "Traceback" not in run.stderr


@pytest.mark.slow
def test_train_without_mnist_says_where_to_put_it(tmp_path, monkeypatch):
    # An empty folder and no network: torchvision cannot download, so the message must explain.
    env = {**os.environ, "PYTHONPATH": str(REPO), "no_proxy": "", "http_proxy": "http://127.0.0.1:9",
           "https_proxy": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}
    run = subprocess.run([sys.executable, "-m", "mnist_demo", "train", "--model", "mlp-50", "--data-dir",
                          str(tmp_path / "empty"), "--out", str(tmp_path / "x.safetensors")],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 2
    assert "train-images-idx3-ubyte" in run.stderr and "Traceback" not in run.stderr


def test_an_unknown_model_is_a_clear_error():
    run = cli("train", "--model", "resnet-1000")
    assert run.returncode == 2 and "unknown model 'resnet-1000'" in run.stderr


@pytest.mark.slow
@pytest.mark.parametrize("name", image_models())
def test_every_picture_model_trains_from_the_cli(name, mnist_dir, tmp_path, capsys):
    from mnist_demo.cli import main

    out = tmp_path / f"{name}.safetensors"
    code = main(["train", "--model", name, "--epochs", "1", "--train-limit", "300", "--test-limit", "200",
                 "--no-pen-digits", "--data-dir", str(mnist_dir), "--out", str(out)])
    assert code == 0
    assert "epoch 1/1" in capsys.readouterr().out
    from mnist_demo.models.checkpoint import read_info
    assert read_info(out)["model"] == name


def test_values_out_of_any_sane_range_are_refused_with_the_apps_messages():
    run = cli("train", "--lr", "1e9", "--momentum", "50", "--batch-size", "1000000000")
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert ("error: lr must be in (0, 10], not 1e+09; momentum must be in [0, 1), not 50; batch_size must be a whole "
            "number in [1, 65536], not 1000000000") in run.stderr


def test_the_command_line_is_not_held_to_a_servers_limits(mnist_dir, tmp_path, capsys):
    # More epochs and a larger batch than a server allows a visitor (AppSettings: 20 epochs, batches of 1024).
    code = main(["train", "--model", "mlp-50", "--epochs", "21", "--batch-size", "2048", "--train-limit", "300",
                 "--test-limit", "100", "--data-dir", str(mnist_dir), "--out", str(tmp_path / "m.safetensors")])
    assert code == 0 and "epoch 21/21" in capsys.readouterr().out


def test_the_stroke_reader_without_pen_digits_is_a_clear_error():
    run = cli("train", "--model", "strokenet", "--no-pen-digits", "--epochs", "1")
    assert run.returncode == 2 and "needs pen_digits" in run.stderr, run.stderr


def test_finetune_is_a_subcommand_and_a_file_that_is_no_collection_gets_a_message(tmp_path):
    bad = tmp_path / "mine.json"
    bad.write_text('{"format": "something else"}')
    out = cli("finetune", "--collection", str(bad), "--out", str(tmp_path / "fitted.safetensors"))
    assert out.returncode == 2, out.stderr
    assert "not a collection of drawings" in out.stderr and not (tmp_path / "fitted.safetensors").exists()


@pytest.mark.slow
def test_evaluate_drawings_measures_every_collection_non_digits_and_calibration(shipped_weights, tmp_path, capsys):
    figures, plot = tmp_path / "drawings.json", tmp_path / "reliability.png"
    assert main(["evaluate", "--weights", str(shipped_weights), "--skip-mnist", "--drawings",
                 "--json", str(figures), "--reliability-plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "Drawn digits (pendigits)" in out and "Drawn digits (uji)" in out and "Not one digit" in out
    saved = json.loads(figures.read_text())
    for name, writers in (("pendigits", 10), ("uji", 10)):
        drawn = saved["drawn"][name]
        assert len(drawn["writers"]) == writers
        everything = drawn["all"]
        assert everything["right"] + everything["not_sure"] + everything["wrong_sure"] == everything["n"]
        assert sum(b["n"] for b in drawn["by_hand"].values()) == everything["n"]
    assert saved["non_digits"]["n"] == 400 and len(saved["non_digits"]["by_family"]) == 4
    assert 0 <= saved["calibration"]["ece"] < 1 and plot.stat().st_size > 1000


def test_evaluating_a_stroke_reader_alone_is_a_clear_error(shipped_weights, tmp_path):
    from mnist_demo.models.checkpoint import save_weights
    from mnist_demo.reading.reader import Reader

    strokes = Reader.load(shipped_weights).strokes
    path = save_weights(tmp_path / "strokes.safetensors", strokes.model, strokes.info)
    run = cli("evaluate", "--weights", str(path), "--skip-mnist")
    assert run.returncode == 2 and "reads beside a picture model" in run.stderr, run.stderr


@pytest.mark.slow
def test_figures_are_recorded_in_the_evaluated_file_those_of_the_picture_alone_apart(shipped_weights, tmp_path,
                                                                                      capsys):
    import shutil

    from mnist_demo.models.checkpoint import read_info
    from mnist_demo.reading.weights import Metric, drawn_key

    reader = tmp_path / "reader.safetensors"
    shutil.copy(shipped_weights, reader)
    assert main(["evaluate", "--weights", str(reader), "--picture-only", "--skip-mnist", "--drawings", "--record"]) == 0
    assert f"recorded {Metric.NON_DIGITS} in {reader}" in capsys.readouterr().out
    measured, shipped = read_info(reader)["metrics"], read_info(shipped_weights)["metrics"]
    for key in (drawn_key("pendigits"), drawn_key("uji"), Metric.NON_DIGITS):
        # Measured again, the picture alone reads as the shipped file records; the pair's figures are untouched.
        assert measured[f"picture:{key}"]["value"] == shipped[f"picture:{key}"]["value"]
        assert measured[key] == shipped[key]
