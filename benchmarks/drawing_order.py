"""Does reading the pen's path break for people who draw in another direction or order?

    python -m benchmarks.drawing_order [--seed 11] [--json benchmarks/results/drawing_order.json]

The stroke reader learned from writers who mostly draw a 0 counter-clockwise,
a 7 from its top left, a 4's strokes in one order. A visitor may not. This
reads the calibration writers' digits (in no training and no held-out
measurement) placed on the pad as visitors draw them, as drawn and changed
in ways no collection holds: every stroke drawn backwards, the strokes in
the opposite order, each stroke lifted half-way (two strokes). Each change
is read by the shipped pair (drawnet with strokenet beside it) and, as the
reference in the same run, by drawnet alone, which sees only the picture
and so cannot tell the difference. Prints a markdown table; `--json` keeps it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from mnist_demo.base.status import Status
from mnist_demo.handwriting.pen_digits import COLLECTIONS, random_placement
from mnist_demo.reading.reader import Reader
from mnist_demo.reading.sketch import parse_sketch
from mnist_demo.reading.weights import Weights

Strokes = Sequence[Sequence[tuple[float, float]]]


def _halves(strokes: Strokes) -> list:
    return [part for s in strokes for part in ([s[:len(s) // 2 + 1], s[len(s) // 2:]] if len(s) > 3 else [s])]


CHANGES: dict[str, Callable[[Strokes], Strokes]] = {
    "as drawn": lambda s: s,
    "every stroke drawn backwards": lambda s: [t[::-1] for t in s],
    "the strokes in the opposite order": lambda s: list(s)[::-1],
    "each stroke lifted half-way": _halves,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.drawing_order", description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=11, help="placements on the pad")
    parser.add_argument("--json", help="save the figures here")
    args = parser.parse_args(argv)

    shipped = Weights.DEFAULT.load("cpu")
    readers = {"drawnet + strokenet (shipped)": shipped, "drawnet alone (reference)": Reader(shipped.picture)}
    digits = [d for c in COLLECTIONS.values() for d in c.digits(c.calibration_writers)]
    labels = np.array([d.label for d in digits])
    rows = []
    print(f"{len(digits)} digits of the calibration writers, placed on the pad as visitors draw (seed {args.seed})\n")
    print("| drawn | read by | top guess right | right | not sure | wrong and sure |")
    print("|---|---|---:|---:|---:|---:|")
    for change_name, change in CHANGES.items():
        rng = np.random.default_rng(args.seed)  # the same placements for every change
        sketches = []
        for d in digits:
            strokes = change(d.strokes)
            sketches.append(parse_sketch(random_placement(rng, strokes).sketch(strokes).to_json()))
        for reader_name, reader in readers.items():
            results = reader.read_batch(sketches)
            top = np.array([-1 if r.digit is None else r.digit for r in results])
            sure = np.array([r.status is Status.OK for r in results])
            row = {"drawn": change_name, "read_by": reader_name, "n": len(digits),
                   "top_right": float(np.mean(top == labels)), "right": float(np.mean(sure & (top == labels))),
                   "not_sure": int(np.sum(~sure)), "wrong_sure": int(np.sum(sure & (top != labels)))}
            rows.append(row)
            print(f"| {change_name} | {reader_name} | {100 * row['top_right']:.2f}% | {100 * row['right']:.2f}% | "
                  f"{row['not_sure']} | {row['wrong_sure']} |", flush=True)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"seed": args.seed, "rows": rows}, indent=1))
        print(f"\nsaved {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
