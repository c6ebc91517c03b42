"""From "Train" to the first batch of drawnet, in a new process as the app runs each training: with the
rendered pen digits and non-digits on disk (training/drawn_cache.py) and without.

    python -m benchmarks.first_batch [--model drawnet] [--data-dir ../shared/mnist] [--runs 2]

Each run starts a fresh Python process that runs the engine with the model's own recipe until its
first Progress event, and reports the seconds from the process's start. The reference in the same run:
the cache off (`MNIST_DEMO_CACHE=off`, every training renders), then a cold cache (renders and writes),
then warm ones. Results: benchmarks/results/first_batch.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

ONE_RUN = """
import time, sys
started = time.perf_counter()
import torch
torch.set_num_threads(2)
from mnist_demo.training.engine import Progress, TrainConfig, train
for event in train(TrainConfig(model=sys.argv[1], data_dir=sys.argv[2] or None, probe_seconds=None)):
    if isinstance(event, Progress):
        print(f"FIRST_BATCH {time.perf_counter() - started:.2f}")
        break
"""


def one_run(model: str, data_dir: str | None, cache: str) -> float:
    env = {**os.environ, "MNIST_DEMO_CACHE": cache}
    out = subprocess.run([sys.executable, "-c", ONE_RUN, model, data_dir or ""], env=env, capture_output=True,
                         text=True, check=True, timeout=900)
    return float(next(line.split()[1] for line in out.stdout.splitlines() if line.startswith("FIRST_BATCH")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.first_batch", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="drawnet")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "first_batch.json"))
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="first-batch-cache-") as folder:
        results = {"off": one_run(args.model, args.data_dir, "off")}
        print(f"cache off: first batch after {results['off']:.1f} s", flush=True)
        results["cold"] = one_run(args.model, args.data_dir, folder)
        print(f"cold cache (renders and writes): {results['cold']:.1f} s", flush=True)
        results["warm"] = [one_run(args.model, args.data_dir, folder) for _ in range(args.runs)]
        print("warm cache: " + ", ".join(f"{s:.1f} s" for s in results["warm"]), flush=True)
        size = sum(p.stat().st_size for p in Path(folder).glob("*.safetensors"))
    print(f"cache files: {size / 1e6:.1f} MB")
    record = {"model": args.model, "seconds_to_first_batch": results, "cache_megabytes": round(size / 1e6, 1),
              "machine": f"{platform.machine()}, 2 threads, torch {torch.__version__}"}
    Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
