"""Command line: `python -m mnist_demo {train,evaluate,models,pair,finetune}` (also `mnist-demo ...`)."""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
from dataclasses import fields
from pathlib import Path

import torch
from tqdm import tqdm

from mnist_demo.base.devices import pick_device
from mnist_demo.base.recipe import Recipe
from mnist_demo.models.checkpoint import CheckpointError
from mnist_demo.models.registry import DEFAULT_MODEL, REGISTRY, UnknownModel, get_spec
from mnist_demo.personal.command import add_parser as add_finetune
from mnist_demo.reading.reader import Reader
from mnist_demo.reading.weights import Measurement, Metric, Weights, drawn_key, record, this_command
from mnist_demo.training.calibration_data import pair
from mnist_demo.training.data import DataUnavailable, load_split
from mnist_demo.training.drawn_eval import evaluate_drawn
from mnist_demo.training.engine import EpochResult, Progress, TrainConfig, TrainingDone, train
from mnist_demo.training.evaluation import evaluate
from mnist_demo.training.reading_eval import evaluate_readings, reliability_figure


def _recipe_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per recipe field (--batch-size for batch_size), its help and choices from the field's
    metadata (mnist_demo/training/recipes.py); unset flags keep the model's registry recipe."""
    g = parser.add_argument_group("recipe (defaults: the model's tutorial recipe, see `models`)")
    for f in fields(Recipe):
        flag = "--" + f.name.replace("_", "-")
        help_, choices = f.metadata.get("help"), f.metadata.get("choices")
        if f.type in ("bool", bool):
            g.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_)
        elif choices:
            g.add_argument(flag, choices=choices, help=help_)
        else:
            g.add_argument(flag, type=int if f.type in ("int", int) else float, help=help_)


def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mnist_demo", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model from the registry")
    t.add_argument("--model", default=DEFAULT_MODEL, help=f"registry name (default {DEFAULT_MODEL})")
    t.add_argument("--data-dir", help="MNIST folder (default $MNIST_DATA_DIR or data/)")
    t.add_argument("--out", help="where to save the weights (default runs/MODEL-TIME.safetensors)")
    t.add_argument("--overwrite", action="store_true", help="allow --out to replace an existing file")
    t.add_argument("--device", help="cpu, cuda, mps (default: CUDA, then MPS, then CPU)")
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--resume", help="continue from a checkpoint saved by train (with its optimizer state)")
    t.add_argument("--init-from", help="start a new run, with this recipe, from the weights in this file "
                   "(a fine-tune; the file is only read)")
    t.add_argument("--train-limit", type=int, help="use only the first N training digits")
    t.add_argument("--test-limit", type=int, help="use only the first N test digits")
    t.add_argument("--threads", type=int, help="torch CPU threads")
    _recipe_flags(t)

    e = sub.add_parser("evaluate", help="test accuracy, per-class accuracy, confusion matrix, figures")
    e.add_argument("--weights", default=str(Weights.DEFAULT.file), help="a reader's file (default: the shipped one) "
                                                                        "or a picture model's")
    e.add_argument("--data-dir")
    e.add_argument("--device")
    e.add_argument("--out-dir", help="where the PNGs go (default runs/eval-WEIGHTS/)")
    e.add_argument("--drawings", action="store_true",
                   help="also measure reading drawings through the pad's JSON: every pen collection's held-out "
                        "writers, held-out drawings that are not one digit, and the calibration of the confidence")
    e.add_argument("--drawn", help="also measure on the held-out writers of one strokes .jsonl(.gz) file")
    e.add_argument("--drawn-renders", type=int, default=1, help="renders per drawn digit (with --drawn)")
    e.add_argument("--seed", type=int, default=0, help="placements of the drawings on the pad")
    e.add_argument("--placements", type=int, default=1,
                   help="with --drawings: place each held-out digit this many times more (figures on more drawings)")
    e.add_argument("--reliability-plot", help="with --drawings: save the reliability diagram here (PNG)")
    e.add_argument("--json", help="with --drawings: save every figure here (JSON)")
    e.add_argument("--picture-only", action="store_true", help="read the pad's drawings from their picture alone, "
                                                                "without the file's stroke reader")
    e.add_argument("--skip-mnist", action="store_true", help="only the drawn-digit evaluation")
    e.add_argument("--record", action="store_true",
                   help="write the figures measured, with this command, into the weights file's metadata")

    sub.add_parser("models", help="list the registry")

    pr = sub.add_parser("pair", help="make one reader of a picture model and a stroke reader: fit how their "
                                     "answers join on the calibration writers, and write both to one file")
    pr.add_argument("--picture", required=True, help="the picture model (a model's file, or a reader's)")
    pr.add_argument("--strokes", required=True, help="the stroke reader (a model's file, or a reader's)")
    pr.add_argument("--out", required=True, help="where the reader goes")
    pr.add_argument("--overwrite", action="store_true", help="allow --out to replace an existing file")
    pr.add_argument("--seed", type=int, default=1, help="placements of the calibration drawings (train's default)")

    add_finetune(sub)  # its flags live with the fit's code
    return p


def cmd_models(_: argparse.Namespace) -> int:
    print(f"{'name':<16}{'params':>10}  {'recipe':<46}  source")
    for name, spec in REGISTRY.items():
        r = spec.recipe
        recipe = f"{r.optimizer} lr {r.lr:g}, batch {r.batch_size}, {r.epochs} epochs"
        if r.schedule != "none":
            recipe += f", {r.schedule}"
        print(f"{name:<16}{spec.parameter_count():>10,}  {recipe:<46}  {spec.source}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    spec = get_spec(args.model)
    changes = {f.name: getattr(args, f.name, None) for f in fields(Recipe)}
    recipe = spec.recipe.with_changes(**changes)
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path(args.out or f"runs/{args.model}-{stamp}.safetensors")
    if out.exists() and not args.overwrite and (args.resume is None or Path(args.resume) != out):
        raise SystemExit(f"error: {out} exists; pass --overwrite to replace it, or choose another --out")
    config = TrainConfig(model=args.model, recipe=recipe, seed=args.seed, device=args.device,
                         data_dir=args.data_dir, train_limit=args.train_limit, test_limit=args.test_limit,
                         resume=args.resume, init_from=args.init_from)
    print(f"training {args.model} on {pick_device(args.device)}: {recipe}")
    bar = None
    done = None
    probe = "-"  # the latest accuracy on the fixed 1,000 test digits
    for event in train(config):
        if isinstance(event, Progress):
            if bar is None:
                bar = tqdm(total=event.batches, desc=f"epoch {event.epoch}", unit="batch", leave=False)
            bar.n = event.batch
            if event.probe_accuracy is not None:
                probe = f"{100 * event.probe_accuracy:.2f}%"
            bar.set_postfix(loss=f"{event.loss:.4f}", acc=f"{100 * event.accuracy:.1f}%", test_1000=probe,
                            refresh=False)
            bar.refresh()
        elif isinstance(event, EpochResult):
            if bar is not None:
                bar.close()
                bar = None
            tqdm.write(event.summary())
        elif isinstance(event, TrainingDone):
            done = event
    path = done.print_and_save(out)
    if path is None:
        return 1
    from mnist_demo.training.plots import curves_figure, save  # matplotlib: only once a model is saved
    curves = save(curves_figure(done.loaded.info["history"]), path.with_suffix(".curves.png"))
    print(f"saved {path} (test accuracy {100 * done.loaded.test_accuracy:.2f}%) and {curves}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from mnist_demo.training.plots import confusion_text, curves_figure, misclassified_figure, save  # matplotlib

    device = pick_device(args.device)
    reader = Reader.load(args.weights, device)
    if args.picture_only:
        reader = Reader(reader.picture, None, device)
    info = reader.info
    print(f"{args.weights}: {info['model']} trained {info.get('epochs', '?')} epochs on {info.get('date', '?')}")
    if reader.strokes is not None:
        print(f"drawings on the pad are read with {reader.strokes.name} beside it")
    out_dir = Path(args.out_dir or f"runs/eval-{Path(args.weights).stem}")
    if not args.skip_mnist:
        test = load_split(args.data_dir, train=False)
        result = evaluate(reader.picture.model, test, device, other_offset=reader.picture_calibration.other_offset)
        print(f"MNIST test accuracy: {100 * result.accuracy:.2f}% ({int(result.confusion.diag().sum())}/{len(test)})"
              f"  loss {result.loss:.4f}")
        print("per-class accuracy: " + "  ".join(f"{d}: {100 * a:.2f}%" for d, a in enumerate(result.per_class)))
        print("confusion matrix (rows: truth, columns: prediction):")
        print(confusion_text(result.confusion))
        if args.record:
            _record(args, Metric.MNIST_TEST,
                    Measurement(result.accuracy, len(test), "MNIST test digits", this_command()))
        grid = save(misclassified_figure(test.images, test.labels, result.predictions),
                    out_dir / "misclassified.png")
        print(f"saved {grid}")
        if info.get("history"):
            print(f"saved {save(curves_figure(info['history']), out_dir / 'curves.png')}")
    if args.drawings:
        _evaluate_drawings(args, reader)
    if args.drawn:
        report = evaluate_drawn(reader, args.drawn, renders_per_digit=args.drawn_renders, seed=args.seed)
        print(report.format())
        if args.record:
            writers = f"{report.writers[0]}-{report.writers[-1]}" if report.writers else "none"
            _record(args, Metric.DRAWN_HELD_OUT, Measurement(
                report.accuracy, report.n, f"drawings of held-out pen writers {writers} ({Path(args.drawn).name}), "
                "read through the pad's JSON", this_command()))
    return 0


def _record(args: argparse.Namespace, key: str, measurement: Measurement) -> None:
    """Write a figure into the evaluated file (those of the picture read alone under "picture:" keys)."""
    record(args.weights, ("picture:" if args.picture_only else "") + key, measurement)
    print(f"recorded {key} in {args.weights}")


def _evaluate_drawings(args: argparse.Namespace, reader: Reader) -> None:
    result = evaluate_readings(reader, seed=args.seed, placements=args.placements)
    print(result.format())
    if args.reliability_plot:
        print(f"saved {reliability_figure(result.calibration, args.reliability_plot)}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"weights": str(args.weights), "command": this_command(),
                                               **result.summary()}, indent=1))
        print(f"saved {args.json}")
    if not args.record:
        return
    command = this_command()
    for name, report in result.drawn.items():
        writers = f"{report.writers[0]}-{report.writers[-1]}" if report.writers else "none"
        _record(args, drawn_key(name), Measurement(
            report.accuracy, report.n, f"drawings of held-out {name} writers {writers} read right (answered, not "
            f"'not sure'), through the pad's JSON, seed {args.seed}"
            + (f", each digit placed {args.placements} times as often" if args.placements > 1 else ""), command))
    nd = result.non_digits.total
    _record(args, Metric.NON_DIGITS, Measurement(nd.share, nd.n, "held-out drawings that are not one digit answered "
                                                          "'not sure'", command))
    n = sum(r.n for r in result.drawn.values())
    _record(args, Metric.SURE_ACCURACY, Measurement(result.sure_accuracy, n, "held-out digit drawings answered "
                                                                             "as sure, the share right", command))
    _record(args, Metric.ECE, Measurement(result.calibration.ece, n, "expected calibration error on held-out digit "
                                                              "drawings (10 bins)", command))


def cmd_pair(args: argparse.Namespace) -> int:
    if Path(args.out).exists() and not args.overwrite:
        raise ValueError(f"{args.out} exists: pass --overwrite to replace it")
    c = pair(args.picture, args.strokes, args.out, args.seed)
    print(f"saved {args.out}: stroke weight {c.stroke_weight}, temperature {c.temperature:.2f}, sure from "
          f"{c.sure_from:.2f} (measure it: evaluate --weights {args.out} --drawings)")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    commands = {"train": cmd_train, "evaluate": cmd_evaluate, "models": cmd_models, "pair": cmd_pair}
    try:
        # finetune's parser names its own function (personal.command.add_parser)
        return commands.get(args.command, getattr(args, "func", None))(args)
    except (DataUnavailable, CheckpointError, UnknownModel, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
