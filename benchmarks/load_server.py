"""app.py's page, with the server tweaks benchmarks/load.py can try without editing the app.

    LOAD_INFERENCE_THREADS=1 python -m benchmarks.load_server

benchmarks/load.py starts this instead of `python app.py` when it is given any of
--inference-threads, --predict-concurrency, --max-threads, --switch-interval-ms or
--status-update-rate; it passes them as these environment variables (each optional):

    LOAD_INFERENCE_THREADS     torch threads for each prediction (set in every worker thread)
    LOAD_PREDICT_CONCURRENCY   concurrency_limit of the predict event (queued calls only)
    LOAD_MAX_THREADS           Gradio's launch(max_threads=...)
    LOAD_SWITCH_INTERVAL_MS    sys.setswitchinterval (how often the GIL is handed over)
    LOAD_STATUS_UPDATE_RATE    Gradio's queue(status_update_rate=...) in seconds

Otherwise the same page and settings as app.py (AppSettings from the environment).
"""

import os
import sys

import torch

from mnist_demo.app import page as app
from mnist_demo.app.settings import AppSettings
from mnist_demo.reading.reader import Reader


def limit_inference_threads(threads: int) -> None:
    """Readings run with `threads` torch threads, in whichever of Gradio's worker threads they run."""
    torch.set_num_threads(threads)  # this thread's and the intra-op pool's default
    _outputs = Reader.outputs

    def outputs(self, x, model=None, _n=threads):
        if torch.get_num_threads() != _n:  # OpenMP keeps the count per thread: set it in each worker thread
            torch.set_num_threads(_n)
        return _outputs(self, x, model)

    Reader.outputs = outputs


def main() -> None:
    if os.environ.get("LOAD_SWITCH_INTERVAL_MS"):
        sys.setswitchinterval(float(os.environ["LOAD_SWITCH_INTERVAL_MS"]) / 1e3)
    threads = os.environ.get("LOAD_INFERENCE_THREADS")
    if threads:
        limit_inference_threads(int(threads))
    demo = app.build_app(AppSettings.from_env())
    limit = os.environ.get("LOAD_PREDICT_CONCURRENCY")
    if limit:
        for fn in demo.fns.values():
            if fn.api_name == "predict":  # queued calls (gradio_client's) only: the page's skip the queue
                fn.concurrency_limit = int(limit)
    rate = os.environ.get("LOAD_STATUS_UPDATE_RATE")
    if rate:  # queue estimations every `rate` s instead of to every waiting event each time one starts
        _queue = demo.queue
        demo.queue = lambda *a, **k: _queue(*a, **{**k, "status_update_rate": float(rate)})
    kwargs = {}
    if os.environ.get("LOAD_MAX_THREADS"):
        kwargs["max_threads"] = int(os.environ["LOAD_MAX_THREADS"])
    app.launch(demo, **kwargs)


if __name__ == "__main__":
    main()
