"""Does a way writers vary (`handwriting.variation`) help the stroke reader read writers it never saw?

    python benchmarks/writer_folds.py --off P_SLASH_ON_0 --fold 0 --folds 3 [--seed 1] [--json out.json]

A new variation is usually suggested by the errors on some writers, so those
writers cannot judge it. Here the judges are training writers: fold `i` of
`k` is every k-th training writer of each collection (by position, chosen
without looking at their digits). strokenet is trained on the other training
writers twice, with the same seed: as the recipe is, and with the variation
off (its probability set to 0). Both read the fold's digits as they were
drawn, `--renders` placements each. Run one fold per process (two processes
fit this machine's two cores); prints the log loss, the errors and every
confusion (truth->read, 10 is "not a digit").
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import torch
import torch.nn.functional as F

from mnist_demo.handwriting import variation
from mnist_demo.training.calibration import logits_of
from mnist_demo.training.engine import TrainConfig, TrainingDone, train
from mnist_demo.training.stroke_data import placed_paths, training_paths

MODEL = "strokenet"


def fold_writers(fold: int, folds: int):
    """Who is held out in `fold`, and who is trained on: a selector of each collection's writers for each."""
    held = lambda c: c.train_writers[fold::folds]  # noqa: E731
    rest = lambda c: tuple(w for i, w in enumerate(c.train_writers) if i % folds != fold)  # noqa: E731
    return held, rest


def run(off: str, fold: int, folds: int, seed: int, renders: int) -> dict:
    from mnist_demo.models import get_spec

    recipe = get_spec(MODEL).recipe
    held, rest = fold_writers(fold, folds)
    test = placed_paths(seed, renders, held)
    value = getattr(variation, off)
    result = {"variation": off, "probability": value, "fold": fold, "folds": folds, "seed": seed,
              "drawings": len(test), "held_out": {}}
    for name, p in (("with", value), ("without", 0.0)):
        setattr(variation, off, p)
        try:
            data = training_paths(seed, recipe.pen_renders, recipe.non_digits, rest)
        finally:
            setattr(variation, off, value)
        done = [e for e in train(TrainConfig(model=MODEL, seed=seed, probe_seconds=None),
                                 train_data=data, test_data=test) if isinstance(e, TrainingDone)][0]
        out = logits_of(done.loaded.model, test.images)
        read = out.argmax(1)
        wrong = read != test.labels
        confusions = Counter(f"{t}->{r}" for t, r in zip(test.labels[wrong].tolist(), read[wrong].tolist()))
        measured = result["held_out"][name] = {
            "log_loss": float(F.cross_entropy(out, test.labels)), "errors": int(wrong.sum()),
            "confusions": dict(confusions.most_common())}
        print(f"fold {fold}/{folds} {name} {off}: log loss {measured['log_loss']:.4f}, "
              f"{measured['errors']} of {len(test)} wrong; {measured['confusions']}", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--off", required=True, help="the variation's probability in handwriting/variation.py")
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--renders", type=int, default=6)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if not hasattr(variation, args.off):
        parser.error(f"handwriting/variation.py has no {args.off}")
    torch.set_num_threads(args.threads)
    result = run(args.off, args.fold, args.folds, args.seed, args.renders)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
