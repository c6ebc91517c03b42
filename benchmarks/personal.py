"""Fit to my hand: held-out pen writers play visitors who correct readings, then fit the model to them.

    python -m benchmarks.personal [--writers 21 22 ...] [--weights FILE] [--threads 2] [--seed 0]
                                  [--mnist 6000 --pen 1500 --share 0.2 --epochs 2 --lr 0.02]

For each writer of the held-out pendigits writers (21-30 by default; no shipped
model was trained on them): each digit is put on the pad as a visitor draws it
(`pen_digits.random_placement`, a fixed seed per writer), half of the writer's
digits (stratified by digit) go into a `Collection` as their corrections and
teach, the other half test. It reports per writer, and as mean and worst
writer, the accuracy on the test half before and after `personal.finetune.fit`,
as the Draw tab reads them (the picture and the pen's path, with the stroke
reader the base and the fitted model are paired with) and the picture model alone,
the wall time of the fit (MNIST and the pen sample already in memory, as in the
app), and MNIST's whole test set before and after. Raw results:
benchmarks/results/personal.json (only when every held-out writer was played,
unless --out is given).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from mnist_demo.handwriting.pen_digits import HELD_OUT_WRITERS, load_pen_digits, random_placement
from mnist_demo.personal.assess import accuracy, folds
from mnist_demo.personal.collection import Collection, CollectionError
from mnist_demo.personal.finetune import FitSettings, _mnist, _pen_sample, fit
from mnist_demo.reading.reader import Reader
from mnist_demo.reading.weights import Weights
from mnist_demo.training.data import Split
from mnist_demo.training.evaluation import evaluate

RESULTS = Path(__file__).resolve().parent / "results" / "personal.json"


def writer_sets(digits: list, writer: int, seed: int, per_digit: int | None = None) -> tuple[Collection, Collection, int]:
    """(teaching collection, test collection, drawings preprocessing refused) of one writer on the pad.

    `per_digit`: teach with only the first this many of the teaching half's drawings of each digit
    (a visitor who corrected a few readings); the test half stays the same.
    """
    rng = np.random.default_rng([seed, writer])
    mine = [d for d in digits if d.writer == writer]
    sketches = [random_placement(rng, d.strokes).sketch(d.strokes) for d in mine]
    teach_idx, test_idx = folds([d.label for d in mine], 2, seed + writer)
    if per_digit is not None:
        taken = dict.fromkeys(range(10), 0)
        kept = []
        for i in teach_idx:
            if taken[mine[i].label] < per_digit:
                taken[mine[i].label] += 1
                kept.append(i)
        teach_idx = kept
    teach, refused = Collection(), 0
    for i in teach_idx:
        try:
            teach.add(sketches[i], mine[i].label)
        except CollectionError:  # drawn as a dot: a visitor could not have kept it either
            refused += 1
    test = Collection()
    for i in test_idx:
        try:
            test.add(sketches[i], mine[i].label)
        except CollectionError:
            refused += 1
    return teach, test, refused


def pad_accuracy(reader: Reader, drawings: Collection) -> float:
    """The top guess's accuracy as the Draw tab reads the drawings: picture and path."""
    results = reader.read_batch([d.sketch for d in drawings])
    return float(np.mean([r.digit == d.label for r, d in zip(results, drawings)]))


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.personal", description=__doc__.splitlines()[0])
    p.add_argument("--writers", type=int, nargs="+", default=list(HELD_OUT_WRITERS))
    p.add_argument("--weights", default=str(Weights.DEFAULT.file))
    p.add_argument("--data-dir")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--per-digit", type=int, help="teach with only this many drawings of each digit (default: the "
                   "whole teaching half)")
    p.add_argument("--probe-seconds", type=float, default=2.0, help="as the Train tab's live plot probes (default 2)")
    p.add_argument("--out", help=f"default {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS} "
                   "when every held-out writer is played")
    defaults = FitSettings()
    for name in ("mnist", "pen", "share", "epochs", "lr", "max_repeats"):
        value = getattr(defaults, name)
        p.add_argument("--" + name.replace("_", "-"), type=type(value), default=value)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    settings = FitSettings(mnist=args.mnist, pen=args.pen, share=args.share, epochs=args.epochs, lr=args.lr,
                           max_repeats=args.max_repeats, seed=args.seed)

    base_reader = Reader.load(args.weights, "cpu")  # with its stroke reader, for the shipped file
    base = base_reader.picture
    started = time.perf_counter()
    mnist_train, mnist_test = _mnist(args.data_dir)
    _pen_sample(settings.pen, settings.seed)  # the app holds these already; a visitor's fit does not wait for them
    warm_up = time.perf_counter() - started
    offset = base_reader.picture_calibration.other_offset  # MNIST read as pictures are
    mnist_before = evaluate(base.model, mnist_test, other_offset=offset).accuracy
    print(f"{Path(args.weights).name}: MNIST test {100 * mnist_before:.2f}%; data ready in {warm_up:.1f}s", flush=True)

    digits = load_pen_digits()
    rows = []
    for writer in args.writers:
        teach, test_drawings, refused = writer_sets(digits, writer, args.seed, args.per_digit)
        test = Split(*test_drawings.tensors())
        before = accuracy(base, test)
        pad_before = pad_accuracy(base_reader, test_drawings)
        t = time.perf_counter()
        fitted = fit(base_reader, teach, settings, mnist=(mnist_train, mnist_test), probe_seconds=args.probe_seconds)
        seconds = time.perf_counter() - t
        after = accuracy(fitted, test)
        pad_after = pad_accuracy(base_reader.with_picture(fitted), test_drawings)
        mnist_after = evaluate(fitted.model, mnist_test, other_offset=offset).accuracy
        rows.append({"writer": writer, "teach": len(teach), "test": len(test), "refused": refused,
                     "before": before, "after": after, "pad_before": pad_before, "pad_after": pad_after,
                     "fit_seconds": seconds, "mnist_after": mnist_after})
        print(f"writer {writer}: {len(teach)} teach, {len(test)} test: picture {100 * before:.2f}% -> "
              f"{100 * after:.2f}%, on the pad {100 * pad_before:.2f}% -> {100 * pad_after:.2f}% in {seconds:.1f}s; "
              f"MNIST {100 * mnist_after:.2f}%", flush=True)

    summary = {
        "writers": len(rows),
        "mean_before": float(np.mean([r["before"] for r in rows])),
        "mean_after": float(np.mean([r["after"] for r in rows])),
        "worst_before": min(r["before"] for r in rows),
        "worst_after": min(r["after"] for r in rows),
        "pad_mean_before": float(np.mean([r["pad_before"] for r in rows])),
        "pad_mean_after": float(np.mean([r["pad_after"] for r in rows])),
        "pad_worst_before": min(r["pad_before"] for r in rows),
        "pad_worst_after": min(r["pad_after"] for r in rows),
        "mean_fit_seconds": float(np.mean([r["fit_seconds"] for r in rows])),
        "max_fit_seconds": max(r["fit_seconds"] for r in rows),
        "mnist_before": mnist_before,
        "mnist_after_mean": float(np.mean([r["mnist_after"] for r in rows])),
        "mnist_after_worst": min(r["mnist_after"] for r in rows),
    }
    print(f"on the pad: mean {100 * summary['pad_mean_before']:.2f}% -> {100 * summary['pad_mean_after']:.2f}%, worst "
          f"writer {100 * summary['pad_worst_before']:.2f}% -> {100 * summary['pad_worst_after']:.2f}%")
    print(f"picture alone: mean {100 * summary['mean_before']:.2f}% -> {100 * summary['mean_after']:.2f}%, worst writer "
          f"{100 * summary['worst_before']:.2f}% -> {100 * summary['worst_after']:.2f}%; fit "
          f"{summary['mean_fit_seconds']:.1f}s (max {summary['max_fit_seconds']:.1f}s); MNIST "
          f"{100 * mnist_before:.2f}% -> {100 * summary['mnist_after_mean']:.2f}% "
          f"(worst {100 * summary['mnist_after_worst']:.2f}%)")
    full = set(args.writers) >= set(HELD_OUT_WRITERS) and args.per_digit is None
    out = Path(args.out) if args.out else (RESULTS if full else None)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({
            "weights": Path(args.weights).name, "settings": asdict(settings), "threads": args.threads,
            "seed": args.seed, "per_digit": args.per_digit, "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, "
                                          f"torch {torch.__version__}",
            "summary": summary, "writers": rows}, indent=1) + "\n")
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
