"""Round trip of one prediction through the app's API, against a bare Gradio app's floor.

    python -m benchmarks.api_latency [--weights FILE (default: the shipped weights)] [--calls 100] [--warmup 10]
                                     [--during-training]

Serves two apps, each in its own process as in real use (a client in the
server's process would fight it for the GIL): the real one (`app.build_app`)
and a bare one with the same pad and output components and event options,
whose function returns at once.
A gradio_client Client sends each the same drawing (a held-out writer's pen
digit as the Draw tab's pad sends it: JSON strokes), alternating between
the two so both see the same machine load. Prints a markdown table of the
median and 90th percentile round trip in milliseconds, and their ratio.
With --during-training a drawnet training runs on the real app (MNIST from
$MNIST_DATA_DIR) the whole time: drawing predictions must stay quick meanwhile.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
from gradio_client import Client  # noqa: E402

from mnist_demo.app import page as app  # noqa: E402
from mnist_demo.app.drawing import preview_html  # noqa: E402
from mnist_demo.app.drawpad import DrawPad  # noqa: E402
from mnist_demo.app.settings import AppSettings  # noqa: E402
from mnist_demo.handwriting.pen_digits import HELD_OUT_WRITERS, centred, load_pen_digits  # noqa: E402
from mnist_demo.reading.weights import Weights  # noqa: E402
from tests.support.servers import (  # noqa: E402
    REPO,
    answers,
    free_port,  # noqa: E402
    repo_on_path,
)
from tests.support.waiting import wait_until  # noqa: E402


def bare_app() -> gr.Blocks:
    """The floor: the same input and output components and event options, and a function that does nothing."""
    answer = ({"3": 0.97, "8": 0.02, "5": 0.01}, "Looks like a 3 (97% sure).", preview_html(np.zeros((28, 28))))
    with gr.Blocks() as demo:
        pad = DrawPad()
        k = gr.Slider(1, 10, value=3, step=1)
        outputs = [gr.Label(), gr.Markdown(), gr.HTML()]
        pad.change(lambda drawing, k: answer, [pad, k], outputs, api_name="predict",
                   trigger_mode="always_last", show_progress="hidden", queue=False)
    return demo


def serve_in_subprocess(which: str, weights: str, training: bool) -> tuple[subprocess.Popen, str]:
    """Start `python -m benchmarks.api_latency --serve which` on a free port; returns (process, URL) once it answers."""
    port = free_port()
    cmd = [sys.executable, "-m", "benchmarks.api_latency", "--serve", which, "--port", str(port), "--weights", weights]
    if training:
        cmd.append("--during-training")
    proc = subprocess.Popen(cmd, cwd=REPO, env=repo_on_path(), stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"

    def up() -> bool:
        if proc.poll() is not None:
            raise SystemExit(f"the {which} app did not start (exit code {proc.returncode})")
        return answers(url)

    try:
        wait_until(up, 120, interval=0.3, message=f"the {which} app did not answer")
    except AssertionError as exc:
        proc.kill()
        raise SystemExit(str(exc)) from None
    return proc, url


def serve(which: str, port: int, weights: str, training: bool) -> None:
    """The --serve mode: one app, in the foreground, until killed."""
    settings = AppSettings(weights=Path(weights), allow_training=training, max_epochs=50)
    demo = bare_app() if which == "bare" else app.build_app(settings)
    app.launch(demo, server_name="127.0.0.1", server_port=port, quiet=True)


def drawing() -> str:
    digit = next(d for d in load_pen_digits() if d.writer in HELD_OUT_WRITERS and d.label == 3)
    return centred().sketch(digit.strokes).to_json()


def p90(values: list[float]) -> float:
    return float(np.percentile(values, 90))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.api_latency", description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=os.environ.get("MNIST_DEMO_WEIGHTS")
                        or str(Weights.DEFAULT.file))
    parser.add_argument("--calls", type=int, default=100, help="timed calls to each app")
    parser.add_argument("--warmup", type=int, default=10, help="untimed calls to each app first")
    parser.add_argument("--during-training", action="store_true",
                        help="time the real app's predictions while it trains a model")
    parser.add_argument("--serve", choices=["bare", "ours"], help=argparse.SUPPRESS)  # a server process
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.port, args.weights, args.during_training)
        return 0

    ours = "mnist_demo `predict`" + (" during a training" if args.during_training else "")
    servers = {"bare Gradio app (floor)": serve_in_subprocess("bare", args.weights, False),
               ours: serve_in_subprocess("ours", args.weights, args.during_training)}
    try:
        times = measure(args, {name: url for name, (_, url) in servers.items()}, ours)
    finally:
        for proc, _ in servers.values():
            proc.kill()
            proc.wait()

    print(f"Round trip of one prediction through gradio_client, {args.calls} calls each after {args.warmup} "
          f"warm-up ({platform.machine()}, {os.cpu_count()} CPUs, gradio {gr.__version__})\n")
    print("| app | median ms | p90 ms |")
    print("|---|---:|---:|")
    for name, ms in times.items():
        print(f"| {name} | {statistics.median(ms):.1f} | {p90(ms):.1f} |")
    floor, median = (statistics.median(ms) for ms in times.values())
    print(f"\nratio of medians: {median / floor:.2f}x the bare floor")
    return 0


def measure(args: argparse.Namespace, urls: dict[str, str], ours: str) -> dict[str, list[float]]:
    clients = {name: Client(url, verbose=False) for name, url in urls.items()}
    times: dict[str, list[float]] = {name: [] for name in urls}
    if args.during_training:
        trainer = Client(urls[ours], verbose=False)
        training = trainer.submit(model="drawnet", epochs=50, pen_digits="no", api_name="/train")
        wait_until(lambda: any("batch" in str(out[0]) for out in training.outputs()), 300, interval=0.1,
                   message="the training streamed no batch")  # its first batches are done
    value = drawing()
    for i in range(args.warmup + args.calls):
        for name, client in clients.items():  # alternate, so both see the same load
            start = time.perf_counter()
            client.predict(value, 3, api_name="/predict")
            if i >= args.warmup:
                times[name].append((time.perf_counter() - start) * 1e3)
    if args.during_training:
        trainer.predict(api_name="/stop")
        training.result(timeout=300)
    return times


if __name__ == "__main__":
    raise SystemExit(main())
