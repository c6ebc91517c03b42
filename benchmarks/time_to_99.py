"""Time to 99.0% MNIST test accuracy: our default model and recipe vs PyTorch's official example, same run.

    python benchmarks/time_to_99.py [--ref-epochs 1] [--threads 2] [--eval-every 50]

Ours: the training engine (tensors in memory, batches by indexing), evaluated on the
full test set every --eval-every batches; the clock counts training only, not the
evaluations. The reference: pytorch/examples mnist/main.py as written (per-sample
DataLoader with ToTensor and Normalize, Adadelta lr 1.0, StepLR 0.7, batch 64),
evaluated at the end of each epoch the way the example does.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from mnist_demo.training.data import default_data_dir, load_mnist
from mnist_demo.training.evaluation import evaluate
from mnist_demo.models import DEFAULT_MODEL, PytorchExampleNet, get_spec
from mnist_demo.training.engine import EpochResult, Progress, TrainConfig, train

RESULTS = Path(__file__).resolve().parent / "results" / "time_to_99.json"
TARGET = 0.99


def ours(data, eval_every: int, max_epochs: int) -> dict:
    recipe = get_spec(DEFAULT_MODEL).recipe
    config = TrainConfig(model=DEFAULT_MODEL, recipe=recipe, progress_every=eval_every)
    clock, last = 0.0, time.perf_counter()
    stream = train(config, train_data=data[0], test_data=data[1])
    result = {}
    for event in stream:
        clock += time.perf_counter() - last
        if isinstance(event, Progress):
            # The engine's generator is paused here, so we can evaluate its live model in place.
            model = event.model
            acc = evaluate(model, data[1]).accuracy  # puts the model back in training mode itself
            print(f"  ours: epoch {event.epoch} batch {event.batch}/{event.batches}: {100 * acc:.2f}% at {clock:.1f}s",
                  flush=True)
            if acc >= TARGET:
                result = {"reached": True, "seconds": clock, "accuracy": acc,
                             "epochs": event.epoch - 1 + event.fraction}
                break
        elif isinstance(event, EpochResult) and event.epoch >= max_epochs:
            result = {"reached": False, "seconds": clock, "accuracy": event.test_accuracy, "epochs": event.epoch}
            break
        last = time.perf_counter()
    stream.close()
    return {"what": f"mnist_demo {DEFAULT_MODEL}, default recipe", **result}


def reference(epochs: int, data_dir: str | None) -> dict:
    from torchvision import datasets, transforms

    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    root = str(data_dir or default_data_dir())
    train_loader = torch.utils.data.DataLoader(datasets.MNIST(root, train=True, download=True, transform=transform),
                                               batch_size=64, shuffle=True)
    test_loader = torch.utils.data.DataLoader(datasets.MNIST(root, train=False, transform=transform),
                                              batch_size=1000)
    torch.manual_seed(1)
    model = PytorchExampleNet()
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    clock, out = 0.0, {}
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        model.train()
        for x, y in train_loader:
            optimizer.zero_grad()
            F.nll_loss(model(x), y).backward()
            optimizer.step()
        scheduler.step()
        clock += time.perf_counter() - start
        model.eval()
        correct = 0
        with torch.no_grad():
            for x, y in test_loader:
                correct += (model(x).argmax(1) == y).sum().item()
        acc = correct / len(test_loader.dataset)
        print(f"  reference: epoch {epoch}: {100 * acc:.2f}% at {clock:.1f}s", flush=True)
        out = {"reached": acc >= TARGET, "seconds": clock, "accuracy": acc, "epochs": epoch}
        if acc >= TARGET:
            break
    return {"what": "pytorch/examples mnist/main.py (DataLoader, Adadelta)", **out}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ref-epochs", type=int, default=1)
    p.add_argument("--max-epochs", type=int, default=4, help="give up on ours after this many epochs")
    p.add_argument("--eval-every", type=int, default=50, help="batches between test evaluations of ours")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--data-dir")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    data = load_mnist(args.data_dir)
    results = {"ours": ours(data, args.eval_every, args.max_epochs),
               "reference": reference(args.ref_epochs, args.data_dir), "threads": args.threads}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1))
    print("| run | reached 99.0% | training seconds | test accuracy | epochs |\n|---|---|---:|---:|---:|")
    for r in (results["ours"], results["reference"]):
        print(f"| {r['what']} | {'yes' if r['reached'] else 'no'} | {r['seconds']:.1f} | "
              f"{100 * r['accuracy']:.2f}% | {r['epochs']:.2f} |")


if __name__ == "__main__":
    main()
