"""Round trip of one prediction through the app's API, against a bare Gradio app's floor.

    python benchmarks/api_latency.py [--weights weights/default.safetensors] [--calls 100] [--warmup 10]
                                     [--during-training]

Serves two apps in this process: the real one (`app.build_app`) and a bare one
with the same sketchpad and output components whose function returns at once.
A gradio_client Client sends each the same drawing (a held-out writer's pen
digit as the sketchpad's background/layer/composite PNGs), alternating between
the two so both see the same machine load. Prints a markdown table of the
median and 90th percentile round trip in milliseconds, and their ratio.
With --during-training a drawnet training runs on the real app (MNIST from
$MNIST_DATA_DIR) the whole time: drawing predictions must stay quick meanwhile.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
from gradio_client import Client, handle_file  # noqa: E402
from PIL import Image  # noqa: E402

import app  # noqa: E402
from mnist_demo.app_settings import AppSettings  # noqa: E402
from mnist_demo.strokes import HELD_OUT_WRITERS, load_pen_digits, render_drawing  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bare_app() -> gr.Blocks:
    """The floor: the same input and output components, and a function that does nothing."""
    answer = ({"3": 0.97, "8": 0.02, "5": 0.01}, "Looks like a 3 (97% sure).", np.zeros((28, 28), np.uint8))
    with gr.Blocks() as demo:
        sketch = app.sketchpad()
        k = gr.Slider(1, 10, value=3, step=1)
        outputs = [gr.Label(), gr.Markdown(), gr.Image(format="png", type="numpy", image_mode="L")]
        sketch.change(lambda drawing, k: answer, [sketch, k], outputs, api_name="predict",
                      trigger_mode="always_last", concurrency_limit=4)
    return demo


def serve(demo: gr.Blocks) -> str:
    port = free_port()
    app.launch(demo, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    return f"http://127.0.0.1:{port}/"


def drawing(folder: Path) -> dict:
    digit = next(d for d in load_pen_digits() if d.writer in HELD_OUT_WRITERS and d.label == 3)
    value = render_drawing(digit.strokes)
    files = {}
    for key, image in (("background", value["background"]), ("layer", value["layers"][0]),
                       ("composite", value["composite"])):
        Image.fromarray(image).save(folder / f"{key}.png")
        files[key] = handle_file(folder / f"{key}.png")
    return {"background": files["background"], "layers": [files["layer"]], "composite": files["composite"]}


def p90(values: list[float]) -> float:
    return float(np.percentile(values, 90))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=os.environ.get("MNIST_DEMO_WEIGHTS")
                        or str(REPO / "weights" / "default.safetensors"))
    parser.add_argument("--calls", type=int, default=100, help="timed calls to each app")
    parser.add_argument("--warmup", type=int, default=10, help="untimed calls to each app first")
    parser.add_argument("--during-training", action="store_true",
                        help="time the real app's predictions while it trains a model")
    args = parser.parse_args(argv)

    ours = "mnist_demo `predict`" + (" during a training" if args.during_training else "")
    settings = AppSettings(weights=Path(args.weights), allow_training=args.during_training, max_epochs=50)
    apps = {"bare Gradio app (floor)": bare_app(), ours: app.build_app(settings)}
    urls = {name: serve(demo) for name, demo in apps.items()}
    clients = {name: Client(url, verbose=False) for name, url in urls.items()}
    times: dict[str, list[float]] = {name: [] for name in apps}
    if args.during_training:
        trainer = Client(urls[ours], verbose=False)
        training = trainer.submit(model="drawnet", epochs=50, pen_digits="no", api_name="/train")
        while not any("batch" in str(out[0]) for out in training.outputs()):  # its first batches are done
            time.sleep(0.1)
    with tempfile.TemporaryDirectory() as tmp:
        value = drawing(Path(tmp))
        for i in range(args.warmup + args.calls):
            for name, client in clients.items():  # alternate, so both see the same load
                start = time.perf_counter()
                client.predict(value, 3, api_name="/predict")
                if i >= args.warmup:
                    times[name].append((time.perf_counter() - start) * 1e3)
    if args.during_training:
        trainer.predict(api_name="/stop")
        training.result(timeout=300)
    for demo in apps.values():
        demo.close()

    print(f"Round trip of one prediction through gradio_client, {args.calls} calls each after {args.warmup} "
          f"warm-up ({platform.machine()}, {os.cpu_count()} CPUs, gradio {gr.__version__})\n")
    print("| app | median ms | p90 ms |")
    print("|---|---:|---:|")
    for name, ms in times.items():
        print(f"| {name} | {statistics.median(ms):.1f} | {p90(ms):.1f} |")
    floor, median = (statistics.median(ms) for ms in times.values())
    print(f"\nratio of medians: {median / floor:.2f}x the bare floor")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
