"""The transfer protocol: how a reader reads what no choice was tuned on, beside its picture model alone.

    python -m benchmarks.transfer [--weights weights/reader.safetensors] [--symbols benchmarks/data/symbols.jsonl]
                                  [--loco runs/loco] [--json benchmarks/results/transfer.json]

Every source goes through the path a visitor's drawing takes (the pad's JSON,
or a PNG's bytes), read by the reader and by its picture model alone
(`training/transfer.py`):

- the held-out writers' digits (both collections, each once), as drawn and
  as other devices and hands send them (`handwriting/shifts.py`);
- the same digits drawn at 28x28 and uploaded;
- non-digits of held-out families (a row for each held-out symbol, and the symbols pooled), and
  symbols drawn by hand in Chromium;
- with `--loco DIR`: each pen collection left out. A stroke reader is
  trained on one collection's writers with the recipe as it stands
  (`DIR/strokenet-<collection>.safetensors`, trained when missing: a few
  minutes each on two cores; `--loco-seeds`, three by default, each seed's
  in `DIR/strokenet-<collection>-seed<k>.safetensors` but seed 1's),
  paired with the reader's picture model on that collection's calibration
  writers alone, and judged on the other collection's held-out writers: a row
  counts every drawing once for each of these stroke readers.

The rule a change ships by: the worst of these does not get worse, and no
reader is worse than its picture model alone on any of them (first guess and
wrong-and-sure on digits, "not sure" on non-digits).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from mnist_demo.handwriting.pen_digits import COLLECTIONS
from mnist_demo.handwriting.shifts import Shift
from mnist_demo.models.checkpoint import LoadedModel, load_weights
from mnist_demo.reading.reader import Reader
from mnist_demo.reading.weights import Weights
from mnist_demo.training import stroke_data
from mnist_demo.training.calibration import fit_calibration, logits_of
from mnist_demo.training.calibration_data import NOT_A_WRITER, calibration_data, fitted_on, writer_numbers
from mnist_demo.training.engine import TrainConfig, TrainingDone, train
from mnist_demo.training.transfer import (
    SLASH,
    Comparison,
    compare,
    digit_sources,
    non_digit_sources,
    pooled,
    pooled_symbols,
    shifted_drawings,
    symbol_rows,
)

RESULTS = Path(__file__).resolve().parent / "results" / "transfer.json"
SYMBOLS = Path(__file__).resolve().parent / "data" / "symbols.jsonl"
SEED = 1  # of the stroke reader's recipe, and of the calibration drawings, as the shipped reader's
# One stroke reader trained on one collection makes its rows hang on one training: the UJI row is 200
# drawings, one drawing 0.5 points. Three trainings, each judged on every drawing, pooled.
LOCO_SEEDS = (1, 2, 3)


def loco_stroke_reader(collection: str, folder: Path, seed: int = SEED) -> LoadedModel:
    """A stroke reader trained, with the recipe as it stands and `seed` (of its renderings and its training),
    on `collection`'s training writers only."""
    path = folder / (f"strokenet-{collection}.safetensors" if seed == SEED else
                     f"strokenet-{collection}-seed{seed}.safetensors")
    if not path.is_file():
        only = lambda c: c.train_writers if c.name == collection else ()  # noqa: E731
        calibrating = lambda c: c.calibration_writers if c.name == collection else ()  # noqa: E731
        recipe = TrainConfig(model="strokenet").resolved_recipe()
        train_data = stroke_data.training_paths(seed, recipe.pen_renders, recipe.non_digits, only,
                                                 recipe.pen_shifts)
        test_data = stroke_data.placed_paths(SEED, stroke_data.TEST_RENDERS, calibrating)
        for event in train(TrainConfig(model="strokenet", seed=seed, probe_seconds=None), train_data=train_data,
                           test_data=test_data):
            if isinstance(event, TrainingDone):
                event.save(path, with_optimizer=False)
    return load_weights(path)


def loco_reader(reader: Reader, strokes: LoadedModel, collection: str) -> Reader:
    """`reader`'s picture model with `strokes`, paired on `collection`'s calibration writers alone (and the
    made-up non-digits), by the rule the shipped pair was fitted by."""
    data = calibration_data(SEED)
    keep = torch.isin(data.writers, torch.tensor([*writer_numbers()[collection].values(), NOT_A_WRITER]))
    pair = fit_calibration(logits_of(reader.picture.model, data.images[keep]), data.labels[keep], data.writers[keep],
                           logits_of(strokes.model, data.paths[keep]), fitted_on=fitted_on(),
                           sure_from_at_least=reader.picture_calibration.sure_from)
    info = {**reader.info, "calibrations": {**reader.info.get("calibrations", {}), "pair": pair.to_dict()}}
    return Reader(LoadedModel(reader.picture.model, info), strokes, reader.device)


def left_out_rows(reader: Reader, trained_on: str, strokes: dict[int, LoadedModel], seed: int = 0
                  ) -> list[Comparison]:
    """The rows of the collections other than `trained_on`, their held-out writers' digits read by `reader`'s
    picture model beside each of `strokes` (stroke readers of `trained_on` only, by seed, each paired by
    `loco_reader`) as drawn, reversed and reordered: every drawing counted once for each stroke reader."""
    judged = [c for name, c in COLLECTIONS.items() if name != trained_on]
    digits = [d for c in judged for d in c.digits(c.held_out_writers)]
    labels = [d.label for d in digits]
    left_out = [loco_reader(reader, s, trained_on) for s in strokes.values()]
    seeds = ", ".join(map(str, strokes))
    readers = f"{len(strokes)} stroke readers (seeds {seeds}, each drawing read by each)" if len(strokes) > 1 else \
        f"a stroke reader (seed {seeds})"
    rows = []
    for shift in (Shift.AS_DRAWN, Shift.REVERSED, Shift.REORDERED):
        name = f"{' and '.join(c.name for c in judged)} held out, path read by {readers} of {trained_on} only, {shift.value}"
        drawings = shifted_drawings(digits, shift, seed)
        first = compare(left_out[0], name, drawings, labels)  # the picture alone is read once: the same for all
        rows.append(pooled(name, [first] + [compare(r, name, drawings, labels, first.picture) for r in left_out[1:]]))
    return rows


def row(c: Comparison) -> str:
    r, p = c.reader, c.picture

    def cells(t) -> str:
        if c.kind == "non-digits":
            return f"{100 * t.share('not_sure'):.1f}% | {t.wrong_sure}"
        return (f"{100 * t.share('top_right'):.2f}% | {100 * t.share('right'):.2f}% | {100 * t.share('not_sure'):.2f}% "
                f"| {t.wrong_sure}")

    worse = ", ".join(c.worse_than_the_picture()) or "–"
    return f"| {c.source} | {r.n} | {cells(r)} | {cells(p)} | {worse} |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.transfer", description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=str(Weights.DEFAULT.file), help="the reader (default: the shipped one)")
    parser.add_argument("--symbols", default=str(SYMBOLS), help="symbols drawn by hand (benchmarks.draw_symbols)")
    parser.add_argument("--loco", help="a folder for the stroke readers each trained on one collection")
    parser.add_argument("--loco-seeds", type=int, nargs="+", default=list(LOCO_SEEDS),
                        help="the stroke readers trained on one collection: one for each seed, their rows pooled")
    parser.add_argument("--seed", type=int, default=0, help="placements on the pad")
    parser.add_argument("--json", default=str(RESULTS))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    reader = Reader.load(args.weights, "cpu")
    comparisons = [compare(reader, name, values, labels)
                   for name, (values, labels) in {**digit_sources(args.seed),
                                                  **non_digit_sources(args.symbols, args.seed)}.items()]
    if args.loco:
        folder = Path(args.loco)
        folder.mkdir(parents=True, exist_ok=True)
        for trained_on in COLLECTIONS:
            strokes = {seed: loco_stroke_reader(trained_on, folder, seed) for seed in args.loco_seeds}
            comparisons += left_out_rows(reader, trained_on, strokes, args.seed)
    # A row for each held-out symbol, then the rows pooled: the target counts the symbols together.
    symbols = symbol_rows(comparisons)
    comparisons.insert(comparisons.index(symbols[-1]) + 1, pooled_symbols(symbols))
    lines = [f"Reader {args.weights}, beside its picture model alone (seed {args.seed}, "
             f"{time.perf_counter() - started:.0f} s)", "",
             "| digits | n | first guess | right | not sure | wrong and sure | picture: first guess | right | "
             "not sure | wrong and sure | worse than the picture |", "|---|---:|" + "---:|" * 8 + "---|"]
    lines += [row(c) for c in comparisons if c.kind == "digits"]
    lines += ["", "| not digits | n | not sure | shown as a digit | picture: not sure | shown as a digit | "
                  "worse than the picture |", "|---|---:|---:|---:|---:|---:|---|"]
    lines += [row(c) for c in comparisons if c.kind == "non-digits"]
    digits = [c.reader for c in comparisons if c.kind == "digits"]
    # The target for non-digits leaves the slash out (a fair 1); its row is shown all the same.
    others = [c.reader for c in comparisons
              if c.kind == "non-digits" and not c.source.endswith(SLASH) and c not in symbols]
    worst = {"first_guess": min(t.share("top_right") for t in digits), "right": min(t.share("right") for t in digits),
             "wrong_and_sure": max(t.share("wrong_sure") for t in digits),
             "not_sure_on_digits": max(t.share("not_sure") for t in digits),
             "sure_answers_right": min(t.right / max(t.right + t.wrong_sure, 1) for t in digits),
             "not_sure_on_non_digits_but_the_slash": min(t.share("not_sure") for t in others),
             "not_sure_on_the_worst_symbol": min(c.reader.share("not_sure") for c in symbols)}
    worse = [(c.source, c.worse_than_the_picture()) for c in comparisons if c.worse_than_the_picture()]
    lines += ["", "Worst over every source: " + ", ".join(f"{k.replace('_', ' ')} {100 * v:.2f}%"
                                                         for k, v in worst.items()),
              f"Sources where the reader reads worse than its picture model alone: {len(worse)}"]
    print("\n".join(lines))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({
        "weights": args.weights, "seed": args.seed, "worst": worst, "worse_than_the_picture": worse,
        "sources": [{"source": c.source, "kind": c.kind, "reader": c.reader.to_dict(), "picture": c.picture.to_dict()}
                    for c in comparisons]}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
