"""Many visitors drawing at once: predictions per second, latency, errors and memory of the app under load.

    python -m benchmarks.load [--visitors 20] [--seconds 60] [--scenarios idle,training]
                              [--procs 2] [--think-ms 0,150] [--server-env KEY=VALUE ...]
                              [--inference-threads N] [--predict-concurrency N] [--max-threads N]
                              [--switch-interval-ms MS] [--status-update-rate S] [--poll-ms MS]
                              [--via client|page] [--label NAME] [--out FILE]

For each scenario it starts the app as a separate process (`python app.py`,
or benchmarks/load_server.py when a server tweak is asked for; 127.0.0.1 on a
free port, the shipped weights, MNIST from $MNIST_DATA_DIR),
waits until it answers, then lets N visitors draw for D seconds. Each visitor
is its own `gradio_client.Client` (its own session) and draws like the Draw
tab's pad sends drawings: growing prefixes of a held-out writer's pen digit
(a few points more each time, and each stroke's end), then the whole digit,
back to back with a think time of 0-150 ms between calls, one digit after
another. In the `training` scenario one more client first starts a long
drawnet training (50 epochs on all of MNIST) and waits for its first progress;
the training runs the whole time and is stopped at the end.

With `--via page` a visitor calls /predict the way the page's JavaScript does:
for an event that skips the queue (predict has queue=False) that is a POST to
/gradio_api/run/predict on a kept-alive connection, which gradio_client never
does (it always queues); the server path, and so the numbers, differ.

The visitors run as threads spread over `--procs` load-generator processes on
the same machine as the server, so they take CPU from it: the output says how
much (client CPU, in cores). The clients are made with ssl_verify=False: on a
plain-http loopback URL there is nothing to verify, and with the default
gradio_client builds two TLS contexts per call (~85 ms of CPU a call), which
would make the load generator, not the server, the bottleneck. gradio_client
also polls every 50 ms for the server's messages, which adds 0-50 ms to each
round trip (--poll-ms shortens it; the default leaves gradio_client as it is).

Measured per scenario: predictions (completed calls) and predictions per
second, median/p90/p99/max round trip seen by the client, errors (exceptions,
timeouts, answers that are not an answer: no label, a label that is not a
digit / "Not sure" for a whole digit, a preview for another drawing),
separately from misreads (the whole digit read as another digit: the model's
mistake, not the server's) and changed answers (a whole digit answered
differently than the same server answered it with no load), the server's
peak memory (VmRSS of the server and any child processes sampled every
0.2 s; VmHWM at the end), and the server's and the clients' CPU use.

Prints a markdown table, one row per scenario, and keeps the numbers in
benchmarks/results/load.json under the run's --label (other labels stay). Bounded: at most 64 visitors, 300 seconds,
loopback only; the server process (and its process group) is always killed
at the end, also on Ctrl-C.

This file is the command line, the scenarios and the report; the load
generator itself (visitors, the server process, statistics, one scenario) is
tests.support.load, which tests/test_load.py runs small.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import signal
import subprocess
from pathlib import Path
from typing import Any, Sequence

from mnist_demo.reading.weights import Weights
from tests.support.load.scenario import run_scenario
from tests.support.load.server import check_loopback
from tests.support.load.training import TRAIN_EPOCHS, TRAIN_MODEL
from tests.support.load.visitors import VISITORS, digits_to_draw
from tests.support.servers import REPO

RESULTS = REPO / "benchmarks" / "results" / "load.json"

MAX_VISITORS = 64
MAX_SECONDS = 300


# ---------------------------------------------------------------- output

def markdown_table(results: Sequence[dict[str, Any]]) -> str:
    rows = ["| scenario | visitors | predictions/s | median ms | p99 ms | max ms | errors | misread | "
            "peak RSS MB | server CPU | client CPU | training batches/s |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        t = r.get("training")
        if r["scenario"] == "alone":
            rows.append(f"| alone (nobody drawing) | 0 | – | – | – | – | – | – | – | – | – | "
                        f"{t['batches_per_second']} |")
            continue
        rows.append(f"| {r['scenario']} | {r['visitors']} | {r['per_second']:.1f} | {r['median_ms']:.0f} | "
                    f"{r['p99_ms']:.0f} | {r['max_ms']:.0f} | {r['errors']} | {r['misread']}/{r['whole_digits']} | "
                    f"{r['peak_rss_mb']:.0f} | {r['server_cpu_cores']:.2f} | {r['client_cpu_cores']:.2f} | "
                    f"{t['batches_per_second'] if t else '–'} |")
    return "\n".join(rows)


def app_version() -> dict[str, Any]:
    """The commit the server ran, and which of the app's files differed from it (the working tree)."""
    def git(*argv: str) -> str:
        try:
            return subprocess.run(["git", *argv], cwd=REPO, capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return ""
    changed = git("status", "--porcelain", "--", "app.py", "mnist_demo", "weights").splitlines()
    return {"commit": git("rev-parse", "--short", "HEAD").strip(), "changed": [line[3:] for line in changed]}


def save_run(path: Path, report: dict[str, Any]) -> None:
    """Keep `report` in the JSON file's "runs", replacing an earlier run of the same label only."""
    runs: list[dict[str, Any]] = []
    try:
        runs = json.loads(path.read_text()).get("runs", [])
    except (OSError, ValueError, AttributeError):
        pass
    runs = [r for r in runs if r.get("label") != report["label"]] + [report]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"runs": runs}, indent=1) + "\n")


def parse_env(pairs: Sequence[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"error: --server-env takes KEY=VALUE, not {pair!r}")
        out[key] = value
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__.splitlines()[0])
    parser.add_argument("--visitors", type=int, default=20, help=f"concurrent visitors (at most {MAX_VISITORS})")
    parser.add_argument("--seconds", type=float, default=60, help=f"how long they draw (at most {MAX_SECONDS})")
    parser.add_argument("--scenarios", default="idle,training",
                        help="comma-separated: idle (drawing only), training (while a training runs), "
                             "alone (the training with nobody drawing: its reference speed)")
    parser.add_argument("--train-model", default=TRAIN_MODEL, help=f"the training's model (default {TRAIN_MODEL})")
    parser.add_argument("--train-epochs", type=int, default=TRAIN_EPOCHS,
                        help=f"its epochs (default {TRAIN_EPOCHS}: it outlasts the run)")
    parser.add_argument("--procs", type=int, default=2, help="load-generator processes the visitors are spread over")
    parser.add_argument("--think-ms", default="0,150", help="min,max pause between a visitor's calls")
    parser.add_argument("--poll-ms", type=float, default=None,
                        help="shorten gradio_client's 50 ms wait between checks for a server message")
    parser.add_argument("--via", choices=sorted(VISITORS), default="client",
                        help="client: gradio_client (always queued); page: as the page's JavaScript calls "
                             "/predict (POST /run/predict when the event skips the queue)")
    parser.add_argument("--host", default="127.0.0.1", help="only loopback is allowed")
    parser.add_argument("--weights", type=Path, default=Weights.DEFAULT.file)
    parser.add_argument("--per-label", type=int, default=3, help="held-out digits of each label to draw")
    parser.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment for the server, e.g. MNIST_DEMO_TRAIN_THREADS=1 (repeatable)")
    parser.add_argument("--inference-threads", type=int, help="torch threads for predictions in the server")
    parser.add_argument("--predict-concurrency", type=int, help="concurrency_limit of the predict event")
    parser.add_argument("--max-threads", type=int, help="Gradio's launch(max_threads=...)")
    parser.add_argument("--switch-interval-ms", type=float, help="the server's sys.setswitchinterval (GIL hand-over)")
    parser.add_argument("--status-update-rate", type=float,
                        help="Gradio's queue(status_update_rate=...) in seconds (default 'auto': at each event start)")
    parser.add_argument("--label", default="as shipped",
                        help="name of this run in the JSON; a run of another name stays there beside it")
    parser.add_argument("--out", type=Path, default=RESULTS, help="JSON file to write ('-' for none)")
    args = parser.parse_args(argv)

    check_loopback(args.host)
    if not 1 <= args.visitors <= MAX_VISITORS:
        parser.error(f"--visitors must be 1 to {MAX_VISITORS}")
    if not 1 <= args.seconds <= MAX_SECONDS:
        parser.error(f"--seconds must be 1 to {MAX_SECONDS}")
    if not 1 <= args.procs <= args.visitors:
        parser.error("--procs must be 1 to --visitors")
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    if not scenarios or set(scenarios) - {"idle", "training", "alone"}:
        parser.error("--scenarios: idle, training and/or alone")
    think = tuple(float(x) / 1e3 for x in args.think_ms.split(","))
    if len(think) != 2 or not 0 <= think[0] <= think[1] <= 5:
        parser.error("--think-ms: min,max in milliseconds, at most 5000")
    if not os.environ.get("MNIST_DATA_DIR") and (REPO.parent / "shared" / "mnist").is_dir():
        os.environ["MNIST_DATA_DIR"] = str(REPO.parent / "shared" / "mnist")
    extra_env = parse_env(args.server_env)
    tweaks = {"inference_threads": args.inference_threads, "predict_concurrency": args.predict_concurrency,
              "max_threads": args.max_threads, "switch_interval_ms": args.switch_interval_ms,
              "status_update_rate": args.status_update_rate}

    digits = digits_to_draw(args.per_label)
    calls_per_digit = sum(len(d["steps"]) for d in digits) / len(digits)
    who = ("gradio_client visitors" if args.via == "client"
           else "visitors calling /predict as the page's JavaScript does")
    how = (f"{args.visitors} {who} as threads in {args.procs} load-generator process(es) on the "
           f"same {os.cpu_count()}-CPU machine as the server; each draws {len(digits)} held-out digits in turn, "
           f"{calls_per_digit:.1f} calls a digit (prefixes while drawing, then the whole digit), "
           f"{args.think_ms} ms think time between calls")
    print(how)
    results = []
    for name in scenarios:
        results.append(run_scenario(name, args.visitors, args.seconds, args.procs, digits, think, args.weights,
                                    extra_env, tweaks, args.poll_ms, args.via, train_model=args.train_model,
                                    train_epochs=args.train_epochs))
        r = results[-1]
        if name == "alone":
            print(f"[alone] training with nobody drawing: {r['training']}")
            continue
        print(f"[{name}] {r['predictions']} predictions, {r['errors']} errors {r['error_kinds'] or ''}, "
              f"p99 {r['p99_ms']:.0f} ms, over time: "
              + ", ".join(f"{b['from_s']:.0f}s: {b['calls']} p99 {b['p99_ms']:.0f}" for b in r["over_time"]))
        if "training" in r:
            print(f"[{name}] training: {r['training']}")
    print()
    print(markdown_table(results))

    if str(args.out) != "-":
        from importlib.metadata import version

        report = {
            "date": datetime.date.today().isoformat(), "label": args.label, "app": app_version(),
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                        "torch": version("torch"), "gradio": version("gradio"),
                        "gradio_client": version("gradio_client")},
            "load": how, "visitors": args.visitors, "seconds": args.seconds, "procs": args.procs,
            "think_ms": args.think_ms, "server_env": extra_env, "tweaks": {k: v for k, v in tweaks.items() if v},
            "results": results,
        }
        save_run(args.out, report)
        print(f"\nwrote {args.out}")
    return 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt  # SIGTERM too: unwind through the finally blocks that stop the servers


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:  # the servers were stopped by run_scenario's finally
        raise SystemExit(130)
