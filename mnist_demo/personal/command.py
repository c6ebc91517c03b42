"""`finetune` on the command line: fit a model to a saved collection of drawings, as the Train tab does.

    mnist-demo finetune --collection mine.json.gz [--weights FILE] [--out FILE] [--assess]

A subcommand the main CLI registers (`add_parser(sub)`), its flags beside the fit's code.
"""

from __future__ import annotations

import argparse
import datetime as _dt
from dataclasses import fields
from pathlib import Path

import torch

from mnist_demo.personal.assess import MAX_CROSS_VALIDATED, assess
from mnist_demo.personal.collection_file import load
from mnist_demo.personal.finetune import FitSettings, finetune
from mnist_demo.reading.reader import Reader
from mnist_demo.reading.weights import Weights
from mnist_demo.training.engine import EpochResult, TrainingDone

SETTING_HELP = {
    "mnist": "MNIST training digits in the fit",
    "pen": "pen digits of the training writers in the fit",
    "share": "the drawings' share of the samples, by repetition",
    "max_repeats": "most times one drawing is shown an epoch",
    "epochs": "epochs of the fit",
    "lr": "peak learning rate (one cycle, SGD)",
    "seed": "seed of the samples and the fit",
}


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `finetune` on a subparsers object; the parsed args carry `func`."""
    f = sub.add_parser("finetune", help="fit a model to a collection of your drawings (saved from the Draw tab)")
    f.add_argument("--collection", required=True, help="a collection file (.json.gz) downloaded from the Draw tab")
    f.add_argument("--weights", default=str(Weights.DEFAULT.file), help="the model to start from (default: the "
                   "shipped weights); it is only read")
    f.add_argument("--out", help="where to save the fitted weights (default runs/finetuned-TIME.safetensors)")
    f.add_argument("--overwrite", action="store_true", help="allow --out to replace an existing file")
    f.add_argument("--data-dir", help="MNIST folder (default $MNIST_DATA_DIR or data/)")
    f.add_argument("--device", help="cpu, cuda, mps (default: CUDA, then MPS, then CPU)")
    f.add_argument("--threads", type=int, help="torch CPU threads")
    f.add_argument("--assess", action="store_true", help="also measure your drawings' accuracy before and after, "
                   f"on drawings kept out of the fit ({MAX_CROSS_VALIDATED} or fewer: cross-validated; costs a "
                   "fit per fold)")
    f.add_argument("--folds", type=int, default=3, help="folds of the cross-validation (default 3)")
    g = f.add_argument_group("fit settings (defaults: personal.finetune.FitSettings)")
    defaults = FitSettings()
    for field in fields(FitSettings):
        if field.name in SETTING_HELP:
            g.add_argument("--" + field.name.replace("_", "-"), type=type(getattr(defaults, field.name)),
                           help=f"{SETTING_HELP[field.name]} (default {getattr(defaults, field.name)})")
    f.set_defaults(func=run)
    return f


def run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    changes = {k: getattr(args, k) for k in SETTING_HELP if getattr(args, k, None) is not None}
    settings = FitSettings(**changes)
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path(args.out or f"runs/finetuned-{stamp}.safetensors")
    if out.exists() and not args.overwrite:
        raise SystemExit(f"error: {out} exists; pass --overwrite to replace it, or choose another --out")
    if out.resolve() == Path(args.weights).resolve():
        raise SystemExit("error: --out is the base weights file; a fit never overwrites the model it starts from")
    collection = load(args.collection)
    counts = ", ".join(f"{d}: {n}" for d, n in collection.counts().items() if n)
    print(f"{len(collection)} drawings ({counts}); fitting {args.weights} with {settings}")
    base = Reader.load(args.weights, "cpu")
    done = None
    for event in finetune(base, collection, settings, data_dir=args.data_dir, device=args.device,
                          probe_seconds=None):
        if isinstance(event, EpochResult):
            print(event.summary())
        elif isinstance(event, TrainingDone):
            done = event
    for note in done.notes:
        print(f"note: {note}")
    if done.loaded is None:
        print("stopped before the first epoch ended: nothing saved")
        return 1
    print(f"saved {base.with_picture(done.loaded).save(out)}")
    if args.assess:
        result = assess(base, collection, settings, k=args.folds, data_dir=args.data_dir, device=args.device)
        print(result.summary() + f" ({result.fits} fits, {result.seconds:.0f} s)")
    return 0

