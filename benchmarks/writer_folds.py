"""Does a way writers vary (`handwriting.variation`), or a change to the model, help the stroke reader read
writers it never saw?

    python -m benchmarks.writer_folds --off P_SLASH_ON_0 --fold 0 --folds 3 [--seed 1] [--json out.json]
    python -m benchmarks.writer_folds --model-arg recurrent=true --fold 0 --folds 3
    python -m benchmarks.writer_folds --recipe-arg pen_renders=24 --fold 0 --folds 3
    python -m benchmarks.writer_folds --off P_WARP --fold 0 --folds 3 --arms with   # the recipe's arm stored here

A new variation is usually suggested by the errors on some writers, so those
writers cannot judge it. Here the judges are training writers: fold `i` of
`k` is every k-th training writer of each collection (by position, chosen
without looking at their digits). strokenet is trained on the other training
writers twice, with the same seed and data: as the recipe is, and with the
variation off (its probability set to 0); or with the model argument given
(`--model-arg`), or the recipe's field changed (`--recipe-arg`: its training
data are made with it too), and without it. Both read the fold's digits as they were
drawn, `--renders` placements each. Run one fold per process (two processes
fit this machine's two cores); prints the log loss, the errors and every
confusion (truth->read, 10 is "not a digit").
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from mnist_demo.base.recipe import Recipe
from mnist_demo.handwriting import variation
from mnist_demo.training import stroke_data
from mnist_demo.training.calibration import log_loss, logits_of
from mnist_demo.training.engine import TrainConfig, TrainingDone, train
from mnist_demo.training.stroke_data import placed_paths, training_paths

MODEL = "strokenet"
VARYING = (variation, stroke_data)  # where a way writers vary has its probability (vary_strokes, vary_order)


def _module_of(name: str):
    return next((m for m in VARYING if hasattr(m, name)), None)


def fold_writers(fold: int, folds: int):
    """Who is held out in `fold`, and who is trained on: a selector of each collection's writers for each."""
    held = lambda c: c.train_writers[fold::folds]  # noqa: E731
    rest = lambda c: tuple(w for i, w in enumerate(c.train_writers) if i % folds != fold)  # noqa: E731
    return held, rest


def _measure(model: torch.nn.Module, test) -> dict:
    out = logits_of(model, test.images)
    read = out.argmax(1)
    wrong = read != test.labels
    confusions = Counter(f"{t}->{r}" for t, r in zip(test.labels[wrong].tolist(), read[wrong].tolist()))
    return {"log_loss": log_loss(out, test.labels), "errors": int(wrong.sum()),
            "confusions": dict(confusions.most_common())}


def _trained(data, test, seed: int, model_args: dict, recipe=None) -> torch.nn.Module:
    config = TrainConfig(model=MODEL, seed=seed, probe_seconds=None, model_args=model_args, recipe=recipe)
    return [e for e in train(config, train_data=data, test_data=test) if isinstance(e, TrainingDone)][0].loaded.model


@dataclass(frozen=True)
class Arm:
    """One of the two trainings compared: its recipe, model arguments and the variation's probability."""

    name: str  # "with" or "without"
    recipe: Recipe
    model_args: dict = field(default_factory=dict)
    variation: tuple[str, float] | None = None  # a variation's name, and its probability while the data are drawn


def _arms(recipe: Recipe, off: str | None, model_arg: tuple[str, Any] | None,
          recipe_arg: tuple[str, Any] | None) -> tuple[tuple[Arm, Arm], dict, str]:
    """The two arms, what the result records of the change, and how it is named in reports."""
    if off is not None:
        value = getattr(_module_of(off), off)
        return (Arm("with", recipe, variation=(off, value)), Arm("without", recipe, variation=(off, 0.0))), \
            {"variation": off, "probability": value}, off
    if recipe_arg is not None:
        key, value = recipe_arg
        return (Arm("with", recipe.with_changes(**{key: value})), Arm("without", recipe)), \
            {"recipe_arg": {key: value}}, f"{key}={value}"
    key, value = model_arg
    return (Arm("with", recipe, {key: value}), Arm("without", recipe)), {"model_arg": {key: value}}, f"{key}={value}"


def _training_data(arm: Arm, seed: int, writers):
    """The arm's training paths, drawn with its variation at the arm's probability (and put back after)."""
    if arm.variation is None:
        return training_paths(seed, arm.recipe.pen_renders, arm.recipe.non_digits, writers, arm.recipe.pen_shifts)
    name, probability = arm.variation
    module = _module_of(name)
    value = getattr(module, name)
    setattr(module, name, probability)
    try:
        return training_paths(seed, arm.recipe.pen_renders, arm.recipe.non_digits, writers, arm.recipe.pen_shifts)
    finally:
        setattr(module, name, value)


def run(off: str | None, fold: int, folds: int, seed: int, renders: int, model_arg: tuple[str, Any] | None = None,
        recipe_arg: tuple[str, Any] | None = None, arms: tuple[str, ...] = ("with", "without")) -> dict:
    """`off`: a variation to compare with and without; else `model_arg`, a model argument (name, value), or
    `recipe_arg`, a recipe field (name, value). `arms`: which of the two to train (the recipe's own,
    "without", gives the same figures for the same fold, seed and code on the same machine, so a stored run
    from that machine can stand for it)."""
    from mnist_demo.models.registry import get_spec

    held, rest = fold_writers(fold, folds)
    test = placed_paths(seed, renders, held)
    both, change, what = _arms(get_spec(MODEL).recipe, off, model_arg, recipe_arg)
    result = {"fold": fold, "folds": folds, "seed": seed, "drawings": len(test), "held_out": {}, **change}
    drawn: dict = {}  # arms that differ only in the model train on the same data
    for arm in (a for a in both if a.name in arms):
        key = (arm.recipe, arm.variation)
        if key not in drawn:
            drawn[key] = _training_data(arm, seed, rest)
        model = _trained(drawn[key], test, seed, arm.model_args, arm.recipe)
        result["held_out"][arm.name] = _measure(model, test)
        _report(result, arm.name, what)
    return result


def _report(result: dict, name: str, what: str) -> None:
    m = result["held_out"][name]
    print(f"fold {result['fold']}/{result['folds']} {name} {what}: log loss {m['log_loss']:.4f}, "
          f"{m['errors']} of {result['drawings']} wrong; {m['confusions']}", flush=True)


def _model_arg(text: str) -> tuple[str, Any]:
    key, _, value = text.partition("=")
    if not key or not value:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, not {text!r}")
    return key, json.loads(value)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.writer_folds", description=__doc__.splitlines()[0])
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--off", help="a variation's probability in handwriting/variation.py or "
                      "training/stroke_data.py")
    what.add_argument("--model-arg", type=_model_arg, help="NAME=VALUE (JSON): a model argument, e.g. recurrent=true")
    what.add_argument("--recipe-arg", type=_model_arg, help="NAME=VALUE (JSON): a recipe field, e.g. pen_renders=24")
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--renders", type=int, default=6)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--arms", nargs="+", choices=("with", "without"), default=["with", "without"],
                        help="train only these (a stored recipe run of the same fold, seed and code, on the same "
                        "machine, can stand for 'without': training is not bit-identical across machines)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.off is not None and _module_of(args.off) is None:
        parser.error(f"neither handwriting/variation.py nor training/stroke_data.py has {args.off}")
    torch.set_num_threads(args.threads)
    result = run(args.off, args.fold, args.folds, args.seed, args.renders, args.model_arg, args.recipe_arg,
                 tuple(args.arms))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
