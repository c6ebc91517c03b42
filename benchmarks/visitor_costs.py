"""What a visitor can make the server spend: reading a drawing, keeping one, downloading, and memory.

    python -m benchmarks.visitor_costs [--weights FILE] [--runs 3] [--out FILE]

Times (this thread's CPU, one torch thread, the least of `--runs`, so that other
work on the machine does not count) what the app's handlers do:

- /predict of a drawing at every limit of the pad's value (200 strokes, 20,000
  points, the widest brush, the largest canvas: `tests.support.drawings.at_the_limits`),
  and of 100 digits of held-out writers placed on the pad as visitors do (median);
- keeping a drawing (a held-out digit, and the densest digit at the limits) into
  an empty collection and into a full one: what the handler costs, then what
  Gradio spends sending the gallery back (its PNGs are cached by content);
- downloading a full collection (written only then);

and the memory a full collection holds (500 pad digits; drawings at the limits up to
what one file carries). Prints a markdown table; the raw figures go to `--out`
(default benchmarks/results/visitor_costs.json).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from mnist_demo.app.handlers import WebApp
from mnist_demo.handwriting.pen_digits import random_placement
from mnist_demo.personal import Collection
from mnist_demo.personal.collection import MAX_DRAWINGS, CollectionError
from mnist_demo.reading.weights import Weights
from tests.support.costs import cpu_ms, held_bytes
from tests.support.drawings import LIMIT_KINDS, at_the_limits, held_out_digits
from tests.support.servers import app_settings

RESULTS = Path(__file__).resolve().parent / "results" / "visitor_costs.json"


def least(work: Callable[[], Any], runs: int) -> float:
    work()  # warm: caches, the first call's allocations
    return min(cpu_ms(work) for _ in range(runs))


def collection_bytes(c: Collection) -> int:
    return sum(held_bytes(d.sketch) + d.image.nbytes for d in c)


def gallery_ms(collection: Collection, runs: int) -> float:
    """What Gradio spends turning the collection's gallery into what the page receives."""
    import gradio as gr

    gallery = gr.Gallery(format="png")
    value = [(d.image, str(d.label)) for d in collection]
    return least(lambda: gallery.postprocess(value), runs)


def full_of(app: WebApp, value: str, label: int) -> Collection:
    c = Collection()
    try:
        while len(c) < MAX_DRAWINGS:
            c.add(value, label)
    except CollectionError:  # one file's worth
        pass
    return c


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.visitor_costs", description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=str(Weights.DEFAULT.file))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # the model's work in this thread, where its CPU time is counted

    app, runs = WebApp(app_settings(Path(args.weights))), args.runs
    rng = np.random.default_rng(0)
    pad = [random_placement(rng, d.strokes).sketch(d.strokes).to_json() for d in held_out_digits(per_label=10)]
    limits = {kind: at_the_limits(kind) for kind in LIMIT_KINDS}
    read = {kind: least(lambda: app.predict(value, 3), runs) for kind, value in limits.items()}
    read["pad digits (median)"] = statistics.median(least(lambda: app.predict(v, 3), runs) for v in pad)

    heavy, digit = limits["dense digit"], pad[0]
    full_pad, full_heavy = full_of(app, digit, 3), full_of(app, heavy, 2)
    keep = {}
    for name, value, full in (("a pad digit", digit, full_pad), ("the densest digit at the limits", heavy, full_heavy)):
        for size, c in (("empty", Collection()), (f"{len(full)} drawings", full)):
            room = Collection(list(c)[:-1])  # one drawing short of full: the keep fits
            keep[f"{name}, into {size}"] = {"handler": least(lambda: app.handwriting.keep(value, 3, room.copy()), runs),
                                            "gallery": gallery_ms(room, runs)}
    download = {f"{len(c)} drawings": least(lambda: app.handwriting.download(c), runs) for c in (full_pad, full_heavy)}
    memory = {f"{len(c)} drawings, file {c.file_bytes / 1e6:.2f} MB": collection_bytes(c)
              for c in (full_pad, full_heavy)}

    machine = f"{platform.machine()}, torch {torch.__version__}, 1 torch thread"
    print(f"CPU ms, least of {runs} ({machine})\n\n| read (/predict) | ms |\n|---|---:|")
    print("\n".join(f"| {k} | {v:.1f} |" for k, v in read.items()))
    print("\n| keep | handler ms | gallery ms |\n|---|---:|---:|")
    print("\n".join(f"| {k} | {v['handler']:.1f} | {v['gallery']:.1f} |" for k, v in keep.items()))
    print("\n| download | ms |\n|---|---:|\n" + "\n".join(f"| {k} | {v:.1f} |" for k, v in download.items()))
    print("\n| memory of a full collection | MB |\n|---|---:|")
    print("\n".join(f"| {k} | {v / 1e6:.2f} |" for k, v in memory.items()))
    Path(args.out).write_text(json.dumps({"read_ms": read, "keep_ms": keep, "download_ms": download,
                                          "memory_bytes": memory, "machine": machine}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
