"""Latency of reading one drawing: preprocess + predict of an 800x800 drawing, one call at a time.

    python -m benchmarks.latency [--weights FILE (default: the shipped weights)] [--n 300] [--threads N]

Places `n` varied pen digits on the pad (seeded: pen widths, sizes, places, as
`pen_digits.random_placement` draws them), then times, per drawing, what the app
does on each change of the Draw tab's pad (its JSON strokes parsed, drawn,
preprocessed and read, with the stroke reader beside the image model when it is
paired with it, and the saliency map beside the 28x28), the same without
the map, the same without the stroke reader, then the steps of that path alone (the JSON to ink,
preprocessing the ink), and the naive resize + model path as a reference. Prints a markdown table of the
median and 90th percentile wall time and the median CPU time in milliseconds
(CPU time stays put when other processes share the machine; wall time doesn't).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np  # noqa: E402
import torch  # noqa: E402

from mnist_demo.app.drawing import DrawTab  # noqa: E402
from mnist_demo.handwriting.pen_digits import load_pen_digits, random_placement  # noqa: E402
from mnist_demo.reading.preprocess import naive_resize, preprocess_ink  # noqa: E402
from mnist_demo.reading.reader import Reader  # noqa: E402
from mnist_demo.reading.sketch import parse_sketch  # noqa: E402
from mnist_demo.reading.weights import Weights  # noqa: E402


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def time_each(fn: Callable[[Any], Any], inputs: Sequence[Any], warmup: int = 10) -> tuple[list[float], list[float]]:
    """(wall, CPU) milliseconds of fn(x) for each input, after a few warm-up calls.

    CPU time is the process's, all threads together: on a machine busy with other work it shows
    what a call costs where wall time shows what it waited too.
    """
    for x in inputs[:warmup]:
        fn(x)
    wall, cpu = [], []
    for x in inputs:
        start, start_cpu = time.perf_counter(), time.process_time()
        fn(x)
        wall.append((time.perf_counter() - start) * 1e3)
        cpu.append((time.process_time() - start_cpu) * 1e3)
    return wall, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.latency", description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=str(Weights.DEFAULT.file))
    parser.add_argument("--n", type=int, default=300, help="drawings to time")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's own choice, which the app keeps)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--drawn", default=None, help="strokes .jsonl (default: the shipped pendigits)")
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    if not Path(args.weights).is_file():
        print(f"error: no weights at {args.weights}; pass --weights", file=sys.stderr)
        return 2
    reader = Reader.load(args.weights, args.device)  # with its stroke reader, for the shipped file
    picture_only = Reader(reader.picture, None, args.device)
    model = reader.picture.model
    device = reader.device

    rng = np.random.default_rng(args.seed)
    digits = load_pen_digits(args.drawn)
    picks = rng.choice(len(digits), size=args.n, replace=len(digits) < args.n)
    pad_values = [random_placement(rng, digits[i].strokes).sketch(digits[i].strokes).to_json() for i in picks]
    sketches = [parse_sketch(text) for text in pad_values]
    inks = [sketch.ink() for sketch in sketches]

    def naive_predict(value: Any) -> int:
        with torch.inference_mode():
            return int(model(naive_resize(value).to(device)).argmax(1))

    draw_tab = DrawTab(args.weights, args.device)
    rows = [
        ("the Draw tab's reading: the above, and the 'where it looked' map (DrawTab.read)",
         time_each(lambda text: draw_tab.read(parse_sketch(text)), pad_values)),
        ("pad's JSON: parse + draw + preprocess + read (Reader.read)",
         time_each(lambda text: reader.read(parse_sketch(text)), pad_values)),
        ("the same, the picture alone (no stroke reader beside it)",
         time_each(lambda text: picture_only.read(parse_sketch(text)), pad_values)),
        ("parse + draw: the pad's JSON to its 800x800 ink", time_each(lambda t: parse_sketch(t).ink(), pad_values)),
        ("preprocess: the ink to 28x28", time_each(preprocess_ink, inks)),
        ("preprocess + read (the ink)", time_each(reader.read, inks)),
        ("naive resize + predict (reference)", time_each(naive_predict, sketches)),
    ]
    beside = f" with {reader.strokes.name} beside it" if reader.strokes is not None else ""
    print(f"{args.n} drawings of 800x800, {reader.model_name}{beside} on {device}, {torch.get_num_threads()} torch thread(s), "
          f"torch {torch.__version__}, {platform.processor() or platform.machine()}\n")
    print("| path | median ms | p90 ms | median CPU ms |")
    print("|---|---:|---:|---:|")
    for name, (wall, cpu) in rows:
        print(f"| {name} | {statistics.median(wall):.2f} | {percentile(wall, 90):.2f} | {statistics.median(cpu):.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
