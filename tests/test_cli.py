"""`python -m mnist_demo` lists, trains and evaluates, and says clearly what went wrong."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mnist_demo.cli import main
from mnist_demo.models import image_models

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
    assert "not 'mlp-50'" in capsys.readouterr().err


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
    from mnist_demo.checkpoint import read_info
    assert read_info(out)["model"] == name


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


def test_evaluating_a_stroke_reader_alone_is_a_clear_error():
    from mnist_demo.weights import Weights

    run = cli("evaluate", "--weights", str(Weights.STROKES.file), "--skip-mnist")
    assert run.returncode == 2 and "evaluate that model with --strokes" in run.stderr, run.stderr


@pytest.mark.slow
def test_figures_of_drawings_read_with_a_stroke_reader_are_recorded_in_its_file(shipped_weights, tmp_path, capsys):
    import shutil

    from mnist_demo.checkpoint import read_info
    from mnist_demo.weights import NON_DIGITS, Weights, drawn_key

    image, strokes = tmp_path / "image.safetensors", tmp_path / "strokes.safetensors"
    shutil.copy(shipped_weights, image)
    shutil.copy(Weights.STROKES.file, strokes)
    assert main(["evaluate", "--weights", str(image), "--strokes", str(strokes), "--skip-mnist", "--drawings",
                 "--record"]) == 0
    out = capsys.readouterr().out
    assert f"read with strokenet ({strokes}) beside it" in out and f"recorded in {strokes}" in out
    metrics = read_info(strokes)["metrics"]
    assert drawn_key("pendigits") in metrics and NON_DIGITS in metrics
    assert read_info(image).get("metrics") == read_info(shipped_weights).get("metrics")  # untouched


def test_figures_of_a_model_carrying_its_own_pairing_are_recorded_in_its_own_file():
    import argparse
    from types import SimpleNamespace

    from mnist_demo.cli import _drawings_record

    args = argparse.Namespace(weights="fitted.safetensors", strokes=None)
    fitted = SimpleNamespace(strokes=object(), info={"pairing": {"image_digest": "x"}})
    shipped = SimpleNamespace(strokes=object(), info={})
    alone = SimpleNamespace(strokes=None, info={})
    assert _drawings_record(args, fitted) == "fitted.safetensors"
    assert _drawings_record(args, alone) == "fitted.safetensors"
    assert _drawings_record(args, shipped).endswith("strokenet-v4.safetensors")


@pytest.mark.slow
def test_lower_makes_the_shipped_model_from_the_one_before_it_and_measures_it_again(mnist_dir, tmp_path, capsys):
    from safetensors.torch import load_file

    from mnist_demo.checkpoint import read_info
    from mnist_demo.weights import Weights

    shipped = read_info(Weights.DEFAULT.file)
    record = shipped["other_offset"]
    out = tmp_path / "lowered.safetensors"
    assert main(["lower", "--weights", str(Weights.DRAWNET_V2.file), "--offset", str(record["offset"]),
                 "--fitted-on", record["fitted_on"], "--out", str(out), "--data-dir", str(mnist_dir)]) == 0
    info = read_info(out)
    assert f"MNIST test accuracy {100 * info['test_accuracy']:.2f}%" in capsys.readouterr().out
    assert info["test_accuracy"] == shipped["test_accuracy"]
    # The temperature is a search over float32 outputs, whose last bits can differ between runs (threads).
    made_t, shipped_t = info["calibration"].pop("temperature"), dict(shipped["calibration"]).pop("temperature")
    assert made_t == pytest.approx(shipped_t, rel=1e-6)
    assert info["calibration"] == {k: v for k, v in shipped["calibration"].items() if k != "temperature"}
    made, ours = load_file(out), load_file(Weights.DEFAULT.file)
    assert made.keys() == ours.keys() and all((made[k] == ours[k]).all() for k in made)
    # An existing --out is kept unless asked; lowering twice is refused with a message.
    assert main(["lower", "--weights", str(Weights.DRAWNET_V2.file), "--offset", "0.7", "--fitted-on", "x",
                 "--out", str(out)]) == 2
    assert main(["lower", "--weights", str(out), "--offset", "0.2", "--fitted-on", "x",
                 "--out", str(tmp_path / "twice.safetensors")]) == 2
    assert "lowered already" in capsys.readouterr().err
