"""Command line: `python -m mnist_demo {train,evaluate,models,finetune}`."""

from __future__ import annotations

import argparse
import json
import datetime as _dt
import sys
from dataclasses import fields
from pathlib import Path

import torch
from tqdm import tqdm

from mnist_demo.checkpoint import CheckpointError, load_weights
from mnist_demo.weights import (DRAWN_HELD_OUT, ECE, MNIST_TEST, NON_DIGITS, SURE_ACCURACY, Measurement, Weights,
                                drawn_key, record, this_command)
from mnist_demo.training.data import DataUnavailable, load_split
from mnist_demo.devices import pick_device
from mnist_demo.models import REGISTRY, DEFAULT_MODEL, Inputs, UnknownModel, get_spec, inputs_of
from mnist_demo.training.recipes import Recipe
from mnist_demo.training.engine import EpochResult, Progress, TrainConfig, TrainingDone, train


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
    e.add_argument("--weights", default=str(Weights.DEFAULT.file), help="default: the shipped weights")
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
    e.add_argument("--strokes", help="a stroke reader to read the pad's drawings with, beside the weights (default: "
                                     "the shipped one when it was paired with them); 'none': the picture alone")
    e.add_argument("--skip-mnist", action="store_true", help="only the drawn-digit evaluation")
    e.add_argument("--record", action="store_true",
                   help="write the figures measured, with this command, into the weights file's metadata")

    sub.add_parser("models", help="list the registry")

    pr = sub.add_parser("pair", help="pair a stroke reader with a picture model (a new drawnet): fit how their "
                                     "answers join, on the calibration writers, into a copy of the stroke reader")
    pr.add_argument("--strokes", default=str(Weights.STROKES.file), help="the stroke reader (default: the shipped one)")
    pr.add_argument("--image", default=str(Weights.DEFAULT.file), help="the picture model (default: the shipped one)")
    pr.add_argument("--out", required=True, help="where the paired stroke reader goes")
    pr.add_argument("--overwrite", action="store_true", help="allow --out to replace an existing file")
    pr.add_argument("--seed", type=int, default=1, help="placements of the calibration drawings (train's default)")

    lo = sub.add_parser("lower", help="a copy of a picture model with 'not a digit' lowered by an offset fitted "
                                      "elsewhere (--other-offset's, for weights already trained), calibrated anew")
    lo.add_argument("--weights", required=True, help="the picture model to copy (only read)")
    lo.add_argument("--offset", type=float, required=True, help="how much to lower 'not a digit' by")
    lo.add_argument("--fitted-on", required=True, help="where the offset was fitted, in words (kept in the file)")
    lo.add_argument("--out", required=True, help="where the lowered copy goes")
    lo.add_argument("--overwrite", action="store_true", help="allow --out to replace an existing file")
    lo.add_argument("--data-dir", help="MNIST folder (default $MNIST_DATA_DIR or data/): the copy's test accuracy "
                                       "is measured again")

    from mnist_demo.personal.command import add_parser as add_finetune  # its flags live with the fit's code
    add_finetune(sub)
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
    from mnist_demo.training.plots import curves_figure, save
    curves = save(curves_figure(done.loaded.info["history"]), path.with_suffix(".curves.png"))
    print(f"saved {path} (test accuracy {100 * done.loaded.test_accuracy:.2f}%) and {curves}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from mnist_demo.training.evaluation import evaluate
    from mnist_demo.training.plots import confusion_text, curves_figure, misclassified_figure, save

    device = pick_device(args.device)
    loaded = load_weights(args.weights, device)
    info = loaded.info
    if inputs_of(loaded.model) is not Inputs.IMAGE:
        raise CheckpointError(f"{args.weights} holds a {loaded.name}, which reads the pen's path beside a picture "
                              f"model: evaluate that model with --strokes {args.weights}")
    print(f"{args.weights}: {info['model']} trained {info.get('epochs', '?')} epochs on {info.get('date', '?')}")
    predictor = _drawing_predictor(args, loaded)
    if predictor.strokes is not None:
        print(f"drawings on the pad are read with {predictor.strokes.name} ({_strokes_file(args)}) beside it")
    out_dir = Path(args.out_dir or f"runs/eval-{Path(args.weights).stem}")
    if not args.skip_mnist:
        test = load_split(args.data_dir, train=False)
        result = evaluate(loaded.model, test, device)
        print(f"MNIST test accuracy: {100 * result.accuracy:.2f}% ({int(result.confusion.diag().sum())}/{len(test)})"
              f"  loss {result.loss:.4f}")
        print("per-class accuracy: " + "  ".join(f"{d}: {100 * a:.2f}%" for d, a in enumerate(result.per_class)))
        print("confusion matrix (rows: truth, columns: prediction):")
        print(confusion_text(result.confusion))
        if args.record:
            record(args.weights, MNIST_TEST, Measurement(result.accuracy, len(test), "MNIST test digits",
                                                         this_command()))
            print(f"recorded in {args.weights}")
        grid = save(misclassified_figure(test.images, test.labels, result.predictions),
                    out_dir / "misclassified.png")
        print(f"saved {grid}")
        if info.get("history"):
            print(f"saved {save(curves_figure(info['history']), out_dir / 'curves.png')}")
    if args.drawings:
        _evaluate_drawings(args, predictor)
    if args.drawn:
        from mnist_demo.training.drawn_eval import evaluate_drawn
        report = evaluate_drawn(predictor, args.drawn, renders_per_digit=args.drawn_renders, seed=args.seed)
        print(report.format())
        if args.record:
            target = _drawings_record(args, predictor)
            writers = f"{report.writers[0]}-{report.writers[-1]}" if report.writers else "none"
            record(target, DRAWN_HELD_OUT, Measurement(
                report.accuracy, report.n, f"drawings of held-out pen writers {writers} ({Path(args.drawn).name}), "
                "read through the pad's JSON", this_command()))
            print(f"recorded in {target}")
    return 0


def _drawing_predictor(args: argparse.Namespace, loaded):
    from mnist_demo.reading.predictor import Paired, Predictor

    strokes = {None: Paired.SHIPPED, "none": None}.get(args.strokes, args.strokes)
    return Predictor(loaded, next(loaded.model.parameters()).device, strokes=strokes)


def _strokes_file(args: argparse.Namespace) -> str:
    return args.strokes if args.strokes not in (None, "none") else str(Weights.STROKES.file)


def _drawings_record(args: argparse.Namespace, predictor) -> str:
    """Where figures of reading drawings are recorded: with the pairing they measure. In the stroke reader's
    file when its pairing joined it to the weights; in the weights file when they read alone, or carry their
    own pairing (a model fitted to a visitor's hand)."""
    return args.weights if predictor.strokes is None or "pairing" in predictor.info else _strokes_file(args)


def _evaluate_drawings(args: argparse.Namespace, predictor) -> None:
    from mnist_demo.training.reading_eval import evaluate_readings, reliability_figure

    result = evaluate_readings(predictor, seed=args.seed, placements=args.placements)
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
    target = _drawings_record(args, predictor)
    for name, report in result.drawn.items():
        writers = f"{report.writers[0]}-{report.writers[-1]}" if report.writers else "none"
        record(target, drawn_key(name), Measurement(
            report.accuracy, report.n, f"drawings of held-out {name} writers {writers} read right (answered, not "
            f"'not sure'), through the pad's JSON, seed {args.seed}"
            + (f", each digit placed {args.placements} times as often" if args.placements > 1 else ""), command))
    nd = result.non_digits.total
    record(target, NON_DIGITS, Measurement(nd.share, nd.n, "held-out drawings that are not one digit "
                                                 "answered 'not sure'", command))
    n = sum(r.n for r in result.drawn.values())
    record(target, SURE_ACCURACY, Measurement(result.sure_accuracy, n, "held-out digit drawings answered as "
                                                    "sure, the share right", command))
    record(target, ECE, Measurement(result.calibration.ece, n, "expected calibration error on held-out "
                                          "digit drawings (10 bins)", command))
    print(f"recorded in {target}")


def cmd_pair(args: argparse.Namespace) -> int:
    from mnist_demo.training.pairing import pair_files

    if Path(args.out).exists() and not args.overwrite:
        raise ValueError(f"{args.out} exists: pass --overwrite to replace it")
    p = pair_files(args.strokes, args.image, args.out, args.seed)
    print(f"paired with {Path(args.image).name}: stroke weight {p.weight}, temperature {p.temperature:.2f}, sure "
          f"from {p.min_top:.2f}; saved {args.out} (measure it: evaluate --weights {args.image} --strokes {args.out})")
    return 0


def cmd_lower(args: argparse.Namespace) -> int:
    from mnist_demo.training.calibration import lower_file

    if Path(args.out).exists() and not args.overwrite:
        raise ValueError(f"{args.out} exists: pass --overwrite to replace it")
    info = lower_file(args.weights, args.offset, args.fitted_on, args.out, load_split(args.data_dir, train=False))
    c = info["calibration"]
    print(f"saved {args.out}: 'not a digit' lowered by {args.offset:.2f}, MNIST test accuracy "
          f"{100 * info['test_accuracy']:.2f}%, temperature {c['temperature']:.2f}, sure from {c['min_top']:.2f} "
          f"(pair a stroke reader with it: pair --image {args.out})")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    commands = {"train": cmd_train, "evaluate": cmd_evaluate, "models": cmd_models, "pair": cmd_pair,
                "lower": cmd_lower}
    try:
        # finetune's parser names its own function (personal.command.add_parser)
        return commands.get(args.command, getattr(args, "func", None))(args)
    except (DataUnavailable, CheckpointError, UnknownModel, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
