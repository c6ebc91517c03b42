"""Fit to my hand, as the app runs it: from the click to the fitted model, and to the before/after.

    python -m benchmarks.fit_in_app [--writer 28] [--drawings 20] [--folds 3] [--runs 2] [--draw-ahead]

A held-out pendigits writer's first `drawings` digits (placed on the pad as
visitors draw) become a visitor's collection; the app's `Trainer.fit` runs
with the app's settings (the fit in a process of its own, as on the page:
it loads its MNIST sample and renders its pen-digit sample and non-digits
first, or reads them back from the drawn-data cache, `MNIST_DEMO_CACHE`,
once a run has rendered them: run 1 on an empty cache is the cold case;
`--draw-ahead` first draws them as the app does in the background once a
visitor keeps a drawing, `finetune.draw_ahead`, and times that). Prints the
seconds from the call to the fitted model (the TrainingReport) and to the
before/after measurement (the Assessment), and that measurement. The
reference in the same run: the fit alone, in this process, MNIST loaded.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from mnist_demo.app.settings import AppSettings
from mnist_demo.app.trainer import Trainer, TrainingReport
from mnist_demo.handwriting.pen_digits import PENDIGITS, random_placement
from mnist_demo.personal import Collection
from mnist_demo.personal.assess import Assessment
from mnist_demo.personal.finetune import FitSettings, draw_ahead, fit
from mnist_demo.reading.weights import Weights
from mnist_demo.training.standby import start_training_server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fit_in_app", description=__doc__.splitlines()[0])
    parser.add_argument("--writer", type=int, default=28)
    parser.add_argument("--drawings", type=int, default=20)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--draw-ahead", action="store_true", help="draw a fit's data first, as the app does "
                        "while a visitor collects drawings")
    args = parser.parse_args(argv)

    start_training_server()  # as `python app.py` does before it serves
    rng = np.random.default_rng(0)
    collection = Collection()
    for digit in PENDIGITS.digits([args.writer])[:args.drawings]:
        collection.add(random_placement(rng, digit.strokes).sketch(digit.strokes), digit.label)
    env = dict(os.environ, **({"MNIST_DATA_DIR": args.data_dir} if args.data_dir else {}))
    settings = AppSettings.from_env(env)
    trainer = Trainer(settings)
    print(f"writer {args.writer}: {len(collection)} drawings; {FitSettings()}")
    if args.draw_ahead:
        started = time.perf_counter()
        draw_ahead(Weights.DEFAULT.file, FitSettings())
        print(f"drew a fit's data ahead in {time.perf_counter() - started:.1f} s")
    for run in range(args.runs):
        started = time.perf_counter()
        fitted_at = None
        for event in trainer.fit(f"bench-{run}", Weights.DEFAULT.file, collection, FitSettings(), args.folds):
            if isinstance(event, TrainingReport):
                fitted_at = time.perf_counter() - started
            elif isinstance(event, Assessment):
                print(f"run {run + 1}: fitted model after {fitted_at:.1f} s; before/after after "
                      f"{time.perf_counter() - started:.1f} s: {event.summary()}")
        if args.folds < 2:
            print(f"run {run + 1}: fitted model after {fitted_at:.1f} s")
    started = time.perf_counter()
    fit(Weights.DEFAULT.file, collection, FitSettings(), data_dir=settings.data_dir)
    print(f"reference, the fit alone in this process (its data loaded in it): {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
