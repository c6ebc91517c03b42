"""One load scenario end to end: a fresh server, the visitors drawing for D seconds (and a training), the numbers."""

from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path
from typing import Any

from tests.support.load.server import (
    MemorySampler,
    cpu_seconds,
    descendants,
    start_server,
    stop_server,
    tail,
    wait_until_up,
)
from tests.support.load.stats import call_counts, over_time, percentile
from tests.support.load.training import TRAIN_EPOCHS, TRAIN_MODEL, Training, batches_between
from tests.support.load.visitors import (
    CALL_TIMEOUT,
    Call,
    check_answer,
    collect,
    load_process,
    make_client,
    pad_json,
)


def quiet_answers(url: str, digits: list[dict[str, Any]]) -> tuple[list[str | None], list[float]]:
    """Each whole digit read once by one gradio_client visitor with nothing else running.

    Returns the answers to compare the loaded server's with, and the round trips ("quiet" latency).
    """
    client = make_client(url)
    labels, ms = [], []
    try:
        for i, d in enumerate(digits, 1):
            start = time.time()
            output = client.predict(pad_json(d["size"], d["steps"][-1], i), 3, api_name="/predict")
            ms.append((time.time() - start) * 1e3)
            error, label = check_answer(output, i, True)
            labels.append(None if error else label)
    finally:
        client.close()
    return labels, ms


def run_scenario(name: str, visitors: int, seconds: float, procs: int, digits: list[dict[str, Any]],
                 think: tuple[float, float], weights: Path, extra_env: dict[str, str],
                 tweaks: dict[str, int | None], poll_ms: float | None = None, via: str = "client",
                 seed: int = 1, keep_calls: bool = False, log=print, train_model: str = TRAIN_MODEL,
                 train_epochs: int = TRAIN_EPOCHS) -> dict[str, Any]:
    """Start a server, run `visitors` for `seconds` (with a training if name == "training"), stop it.

    "alone" is the reference for the training's speed: the same training, no visitors.
    """
    if name == "alone":
        return training_alone(seconds, weights, extra_env, tweaks, train_model, train_epochs, log)
    training_wanted = name == "training"
    server = start_server(weights, extra_env, tweaks)
    ctx = mp.get_context("spawn")
    workers: list = []
    training: Training | None = None
    try:
        up = wait_until_up(server)
        log(f"[{name}] server up in {up:.1f} s at {server.url} (pid {server.pid}, log {server.log})")
        reference, quiet_ms = quiet_answers(server.url, digits)
        if server.process.poll() is not None:  # e.g. its port was taken meanwhile, and another server answered
            raise RuntimeError(f"the server exited ({server.process.returncode}):\n{tail(server.log)}")
        with MemorySampler(server.pid) as memory:
            # The load processes start (and their visitors connect) while the training gets going.
            ready, go, results = ctx.Queue(), ctx.Queue(), ctx.Queue()
            groups = [list(range(p, visitors, procs)) for p in range(min(procs, visitors))]
            for g in groups:
                w = ctx.Process(target=load_process, daemon=True,
                                args=(server.url, g, digits, think, seed, poll_ms, via, ready, go, results))
                w.start()
                workers.append(w)
            if training_wanted:
                training = Training(server.url, train_model, train_epochs)
                waited = training.wait_started()
                log(f"[{name}] training {train_model} for {train_epochs} epochs: first progress after {waited:.1f} s")
            for message in collect(ready, workers, len(groups), 120):
                if message != "ready":
                    raise RuntimeError(message)
            opened = time.time() + 1.0
            until = opened + seconds
            for _ in groups:
                go.put((opened, until))
            time.sleep(max(0.0, opened - time.time()))
            pids = descendants(server.pid)
            cpu0, progress0 = cpu_seconds(pids), training.progress() if training else None
            log(f"[{name}] {visitors} visitors drawing for {seconds:.0f} s…")
            outcomes = collect(results, workers, len(groups), seconds + CALL_TIMEOUT + 120)
            closed = max(o["finished"] for o in outcomes)
            window = closed - opened
            server_cpu = cpu_seconds(pids) - cpu0
            progress1 = training.progress() if training else None
            training_alive = training is not None and not training.job.done()
            hwm = memory.hwm_kb()
        stopped = training.stop() if training else None
    finally:
        for w in workers:
            w.join(timeout=5)
            if w.is_alive():
                w.kill()
        stop_server(server)

    calls = [Call(**c) for o in outcomes for cs in o["calls"].values() for c in cs]
    client_cpu = sum(o["cpu_s"] for o in outcomes)
    result = {
        "scenario": name, "visitors": visitors, "via": sorted({v for o in outcomes for v in o["via"]}),
        "seconds": round(window, 1),
        **call_counts(calls, digits, reference, window),
        "peak_rss_mb": round(memory.peak_kb / 1024, 1), "vmhwm_mb": round(hwm / 1024, 1),
        "server_processes": memory.processes,
        "server_cpu_cores": round(server_cpu / window, 2), "client_cpu_cores": round(client_cpu / window, 2),
        "quiet_median_ms": round(percentile(quiet_ms, 50), 1),
        "over_time": over_time(calls, seconds),
        "server": {"command": " ".join(server.command), "pid": server.pid, "env": server.env},
    }
    if keep_calls:
        result["calls"] = [c.__dict__ for c in calls]
    if training_wanted:
        batches = batches_between(progress0, progress1)
        result["training"] = {"model": train_model, "epochs": train_epochs, "running_throughout": training_alive,
                              "batches_during_window": batches, "batches_per_second": round(batches / window, 2),
                              "progress_at_start": progress0, "progress_at_end": progress1, "stopped": stopped}
    return result


def training_alone(seconds: float, weights: Path, extra_env: dict[str, str], tweaks: dict[str, int | None],
                   train_model: str, train_epochs: int, log=print) -> dict[str, Any]:
    """The training's speed with nobody drawing: batches a second over `seconds`, on a fresh server."""
    server = start_server(weights, extra_env, tweaks)
    try:
        log(f"[alone] server up in {wait_until_up(server):.1f} s at {server.url}")
        training = Training(server.url, train_model, train_epochs)
        log(f"[alone] training {train_model}: first progress after {training.wait_started():.1f} s")
        time.sleep(1.0)  # past the first batches, as the loaded scenario is
        start, progress0 = time.time(), training.progress()
        time.sleep(seconds)
        window, progress1 = time.time() - start, training.progress()
        alive = not training.job.done()
        stopped = training.stop()
    finally:
        stop_server(server)
    batches = batches_between(progress0, progress1)
    return {"scenario": "alone", "visitors": 0, "seconds": round(window, 1),
            "training": {"model": train_model, "epochs": train_epochs, "running_throughout": alive,
                         "batches_during_window": batches, "batches_per_second": round(batches / window, 2),
                         "progress_at_start": progress0, "progress_at_end": progress1, "stopped": stopped}}
