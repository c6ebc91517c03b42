"""Time to 99.0% MNIST test accuracy: our quick default beside a published fast recipe and PyTorch's example.

    python -m benchmarks.time_to_99 [--threads 2] [--eval-every 50] [--ref-epochs 1] [--models fastnet drawnet]
                                    [--max-epochs 2] [--app-runs 2]

All in one run, on the same cores, each evaluated on the full test set:
- ours: registry models with their default recipes, trained by the one engine
  (tensors in memory, batches by indexing), evaluated every --eval-every
  batches; the clock is the engine's own training clock, which leaves the
  evaluations out;
- the published fast recipe ("99% on MNIST in 0.76 s on a laptop GPU",
  tuomaso/train_mnist_fast, its final notebook): conv 24 5x5, pool, conv 32
  3x3, pool, fc 256, Adam lr 0.01 with betas (0.7, 0.9), one-cycle without
  momentum cycling, batch 256, one epoch over tensors in memory, written here
  from its description and evaluated every --eval-every batches the same way;
- pytorch/examples mnist/main.py as written (per-sample DataLoader with
  ToTensor and Normalize, Adadelta lr 1.0, StepLR 0.7, batch 64), evaluated at
  the end of each epoch as it does itself.

Then, for the first of --models, from a click on Train to "Done" beside a plain loop, in turns
(--app-runs of each): the app's own path (`WebApp.train`, as the page calls it, its training
process and MNIST made ready beforehand as the server does) from the call to its first plotted
point and to its "Done", with every evaluation, probe, event and the report it makes; and a plain
loop of the same model and recipe (channels-last, as the engine) on tensors in memory, from its
first batch to its one test evaluation at the end. Both on --threads threads.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from mnist_demo.base.mnist import normalize
from mnist_demo.base.recipe import make_optimizer, make_schedule
from mnist_demo.models.registry import DEFAULT_MODEL, PytorchExampleNet, get_spec
from mnist_demo.training.data import Split, default_data_dir, load_mnist
from mnist_demo.training.engine import EpochResult, Progress, TrainConfig, train
from mnist_demo.training.evaluation import evaluate

RESULTS = Path(__file__).resolve().parent / "results" / "time_to_99.json"
TARGET = 0.99


def ours(name: str, data: tuple[Split, Split], eval_every: int, seed: int, max_epochs: int) -> dict:
    """A registry model's recipe to its end; one longer than `max_epochs` only until it reaches 99%."""
    recipe = get_spec(name).recipe
    cut = recipe.epochs > max_epochs
    config = TrainConfig(model=name, recipe=recipe, seed=seed, progress_every=eval_every,
                         progress_seconds=float("inf"), probe_seconds=None)
    first, final = None, None
    for event in train(config, train_data=data[0], test_data=data[1]):
        if isinstance(event, Progress) and event.batch % eval_every == 0:
            # The engine is paused here and its clock with it: evaluate its live model in place.
            acc = evaluate(event.model, data[1]).accuracy
            print(f"  {name}: epoch {event.epochs_done:.2f}: {100 * acc:.2f}% at {event.seconds:.1f}s", flush=True)
            if acc >= TARGET and first is None:
                first = {"seconds": event.seconds, "accuracy": acc, "epochs": event.epochs_done}
            if cut and first is not None:
                final = first
                break
        elif isinstance(event, EpochResult):
            print(f"  {name}: end of epoch {event.epoch}: {100 * event.test_accuracy:.2f}% at {event.elapsed:.1f}s",
                  flush=True)
            if event.test_accuracy >= TARGET and first is None:
                first = {"seconds": event.elapsed, "accuracy": event.test_accuracy, "epochs": float(event.epoch)}
            final = {"seconds": event.elapsed, "accuracy": event.test_accuracy, "epochs": event.epoch}
            if cut and event.epoch >= max_epochs:
                break
    what = f"mnist_demo `{name}`, its registry recipe ({recipe.epochs} epochs)"
    if cut:
        what += f", stopped at 99% or after {max_epochs}"
    return {"what": what + (", the default" if name == DEFAULT_MODEL else ""),
            "reached": first is not None, "first": first, "final": final}


class PublishedFastNet(nn.Module):
    """The published fast recipe's network, from its description (log-softmax output, no batch norm)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 24, 5), nn.Conv2d(24, 32, 3)
        self.fc1, self.fc2 = nn.Linear(800, 256), nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2(x), 2))
        return F.log_softmax(self.fc2(F.relu(self.fc1(x.flatten(1)))), dim=1)


def published(data: tuple[Split, Split], eval_every: int, seed: int) -> dict:
    torch.manual_seed(seed)
    images, labels = normalize(data[0].images), data[0].labels
    model, batch = PublishedFastNet(), 256
    steps = -(-len(labels) // batch)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01, betas=(0.7, 0.9))
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.01, total_steps=steps, cycle_momentum=False)
    clock, first = 0.0, None
    for i in range(steps):  # the recipe takes the batches in the file's order
        start = time.perf_counter()
        optimizer.zero_grad()
        F.nll_loss(model(images[i * batch:(i + 1) * batch]), labels[i * batch:(i + 1) * batch]).backward()
        optimizer.step()
        scheduler.step()
        clock += time.perf_counter() - start
        if (i + 1) % eval_every == 0 or i + 1 == steps:
            acc = evaluate(model, data[1]).accuracy
            model.train()
            print(f"  published: step {i + 1}/{steps}: {100 * acc:.2f}% at {clock:.1f}s", flush=True)
            if acc >= TARGET and first is None:
                first = {"seconds": clock, "accuracy": acc, "epochs": (i + 1) / steps}
    final = {"seconds": clock, "accuracy": acc, "epochs": 1}
    return {"what": "published fast recipe (0.76 s to 99% on a laptop GPU), 1 epoch", "reached": first is not None,
            "first": first, "final": final}


def reference(epochs: int, data_dir: str | None, seed: int) -> dict:
    from torchvision import datasets, transforms

    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    root = str(data_dir or default_data_dir())
    train_loader = torch.utils.data.DataLoader(datasets.MNIST(root, train=True, download=True, transform=transform),
                                               batch_size=64, shuffle=True)
    test_loader = torch.utils.data.DataLoader(datasets.MNIST(root, train=False, transform=transform),
                                              batch_size=1000)
    torch.manual_seed(seed)
    model = PytorchExampleNet()
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    clock, first, final = 0.0, None, None
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
        print(f"  pytorch example: epoch {epoch}: {100 * acc:.2f}% at {clock:.1f}s", flush=True)
        final = {"seconds": clock, "accuracy": acc, "epochs": epoch}
        if acc >= TARGET:
            first = final
            break
    return {"what": f"pytorch/examples mnist/main.py (DataLoader, Adadelta), up to {epochs} epoch(s)",
            "reached": first is not None, "first": first, "final": final}


def plain_loop(name: str, data: tuple[Split, Split], seed: int) -> dict:
    """The model's recipe as a plain loop over tensors in memory: no events, no probes, one evaluation at the end."""
    started = time.perf_counter()
    spec, recipe = get_spec(name), get_spec(name).recipe
    torch.manual_seed(seed)
    model = spec.create().to(memory_format=torch.channels_last)
    images, labels = data[0].images, data[0].labels
    steps = -(-len(labels) // recipe.batch_size)
    optimizer = make_optimizer(recipe, model.parameters())
    scheduler, per_batch = make_schedule(recipe, optimizer, steps)
    for _ in range(recipe.epochs):
        model.train()
        order = torch.randperm(len(labels))
        for b in range(steps):
            idx = order[b * recipe.batch_size:(b + 1) * recipe.batch_size]
            x = normalize(images[idx].float().div_(255).unsqueeze(1)).contiguous(memory_format=torch.channels_last)
            loss = F.cross_entropy(model(x), labels[idx], label_smoothing=recipe.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if per_batch:
                scheduler.step()
        if scheduler is not None and not per_batch:
            scheduler.step()
    accuracy = evaluate(model, data[1]).accuracy
    return {"seconds": time.perf_counter() - started, "accuracy": accuracy}


def in_app(name: str, threads: int, data_dir: str | None) -> dict:
    """`WebApp.train` as the page calls it, the trainer warmed up first (as the server does when it starts):
    seconds from the call to its first point on the plot and to its "Done"."""
    from mnist_demo.app.handlers import WebApp
    from mnist_demo.app.settings import AppSettings

    app = WebApp(AppSettings(train_threads=threads, device="cpu", data_dir=Path(data_dir) if data_dir else None))
    app.trainer.warm_up()
    while not app.trainer.ready():
        time.sleep(0.1)
    started = time.perf_counter()
    first = done = None
    for step in app.train(model=name):
        if first is None and step.progress and "Epoch" in step.progress:
            first = time.perf_counter() - started
        if step.status and step.status.startswith("**Done"):
            done = time.perf_counter() - started
            accuracy = float(step.status.split(": ")[1].split("%")[0]) / 100
    app.trainer.close()  # no process standing by for a next training while the plain loop runs
    if done is None:
        raise RuntimeError(f"the app's training did not end with Done: {step.status}")
    return {"first_point": first, "seconds": done, "accuracy": accuracy}


def click_to_done(name: str, data: tuple[Split, Split], threads: int, data_dir: str | None, seed: int,
                  runs: int) -> dict:
    """The app and the plain loop in turns, `runs` times each."""
    pairs = []
    for i in range(runs):
        app = in_app(name, threads, data_dir)
        plain = plain_loop(name, data, seed)
        print(f"  click to Done, run {i + 1}: the app {app['seconds']:.1f} s (first point {app['first_point']:.2f} s, "
              f"{100 * app['accuracy']:.2f}%), a plain loop {plain['seconds']:.1f} s ({100 * plain['accuracy']:.2f}%)",
              flush=True)
        pairs.append({"app": app, "plain": plain, "ratio": app["seconds"] / plain["seconds"]})
    return {"model": name, "threads": threads, "runs": pairs}


def done_table(result: dict) -> str:
    lines = [f"| {result['model']}, {result['threads']} thread(s) | first point | click to Done | plain loop to its end "
             "| app / plain |", "|---|---:|---:|---:|---:|"]
    for i, r in enumerate(result["runs"], 1):
        lines.append(f"| run {i} | {r['app']['first_point']:.2f} s | **{r['app']['seconds']:.1f} s** "
                     f"({100 * r['app']['accuracy']:.2f}%) | {r['plain']['seconds']:.1f} s "
                     f"({100 * r['plain']['accuracy']:.2f}%) | **{r['ratio']:.2f}x** |")
    return "\n".join(lines)


def table(runs: list[dict]) -> str:
    lines = ["| run | reached 99.0% | training seconds to 99.0% | epochs then | final accuracy | training seconds, "
             "whole run |", "|---|---|---:|---:|---:|---:|"]
    for r in runs:
        first, final = r["first"], r["final"]
        to99 = f"**{first['seconds']:.1f}**" if first else "–"
        epochs = f"{first['epochs']:.2f}" if first else "–"
        lines.append(f"| {r['what']} | {'yes' if r['reached'] else 'no'} | {to99} | {epochs} | "
                     f"{100 * final['accuracy']:.2f}% | {final['seconds']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                prog="python -m benchmarks.time_to_99")
    p.add_argument("--models", nargs="*", default=[DEFAULT_MODEL], help="registry models to time (default recipes)")
    p.add_argument("--max-epochs", type=int, default=2,
                   help="a recipe longer than this stops at 99%% or after this many epochs")
    p.add_argument("--ref-epochs", type=int, default=1, help="epochs of PyTorch's example at most (0: skip it)")
    p.add_argument("--eval-every", type=int, default=50, help="batches between test evaluations")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--app-runs", type=int, default=2, help="click-to-Done runs of the app and the plain loop, in "
                                                          "turns (0: skip them)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--data-dir")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    data = load_mnist(args.data_dir)
    runs = [ours(name, data, args.eval_every, args.seed, args.max_epochs) for name in args.models]
    runs.append(published(data, args.eval_every, args.seed))
    if args.ref_epochs:
        runs.append(reference(args.ref_epochs, args.data_dir, args.seed))
    done = click_to_done(args.models[0], data, args.threads, args.data_dir, args.seed, args.app_runs) \
        if args.app_runs else None
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"threads": args.threads, "seed": args.seed, "runs": runs, "click_to_done": done},
                                  indent=1))
    print(table(runs))
    if done:
        print()
        print(done_table(done))


if __name__ == "__main__":
    main()
