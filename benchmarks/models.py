"""Every registry model with its tutorial recipe on full MNIST: parameters, epochs, accuracy, seconds per epoch.

    python -m benchmarks.models [--models mlp-50 lenet5 ...] [--max-epochs N] [--threads 2]

Results are merged into benchmarks/results/models.json (one entry per model) and
printed as the README's markdown table.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
from pathlib import Path

import torch

from mnist_demo.models.registry import REGISTRY, image_models
from mnist_demo.training.data import load_mnist
from mnist_demo.training.engine import EpochResult, TrainConfig, TrainingDone, train

RESULTS = Path(__file__).resolve().parent / "results" / "models.json"


def bench(name: str, max_epochs: int | None, data) -> dict:
    spec = REGISTRY[name]
    recipe = spec.recipe if max_epochs is None else spec.recipe.with_changes(epochs=min(max_epochs, spec.recipe.epochs))
    seconds = []
    done = None
    for event in train(TrainConfig(model=name, recipe=recipe), train_data=data[0], test_data=data[1]):
        if isinstance(event, EpochResult):
            seconds.append(event.seconds)
            print(f"  {name}: {event.summary()}", flush=True)
        elif isinstance(event, TrainingDone):
            done = event
    return {"model": name, "parameters": spec.parameter_count(), "epochs": recipe.epochs,
            "recipe_epochs": spec.recipe.epochs, "test_accuracy": done.loaded.test_accuracy,
            "last_epoch_accuracy": done.history[-1].test_accuracy,
            "seconds_per_epoch": statistics.median(seconds), "reported_accuracy": spec.reported_accuracy,
            "machine": f"{platform.machine()}, {torch.get_num_threads()} threads", "torch": torch.__version__}


def table(results: dict) -> str:
    rows = ["| model | parameters | epochs | test accuracy | s / epoch | tutorial reported |",
            "|---|---:|---:|---:|---:|---:|"]
    for name in REGISTRY:
        r = results.get(name)
        if r is None:
            continue
        epochs = str(r["epochs"]) + ("" if r["epochs"] == r["recipe_epochs"] else f" of {r['recipe_epochs']}")
        reported = f"{r['reported_accuracy']:.1f}%" if r["reported_accuracy"] else "not stated"
        rows.append(f"| `{name}` | {r['parameters']:,} | {epochs} | {100 * r['test_accuracy']:.2f}% | "
                    f"{r['seconds_per_epoch']:.1f} | {reported} |")
    return "\n".join(rows)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.models", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="*", default=[n for n in image_models() if n != "drawnet"],
                   help="default: the MNIST models but drawnet, whose row is the shipped model's own training run")
    p.add_argument("--max-epochs", type=int, help="cap each recipe's epochs (the table says so)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--data-dir")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    data = load_mnist(args.data_dir) if args.models else None  # `--models` alone just prints the table
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for name in args.models:
        results[name] = bench(name, args.max_epochs, data)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=1))  # after each model: a long run keeps what it measured
    print(table(results))


if __name__ == "__main__":
    main()
