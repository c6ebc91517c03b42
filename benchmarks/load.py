"""Many visitors drawing at once: predictions per second, latency, errors and memory of the app under load.

    python benchmarks/load.py [--visitors 20] [--seconds 60] [--scenarios idle,training]
                              [--procs 2] [--think-ms 0,150] [--server-env KEY=VALUE ...]
                              [--inference-threads N] [--predict-concurrency N] [--max-threads N]
                              [--switch-interval-ms MS] [--status-update-rate S] [--poll-ms MS]
                              [--via client|page] [--label NAME] [--out FILE]

For each scenario it starts the app as a separate process (`python app.py`,
127.0.0.1 on a free port, the shipped weights, MNIST from $MNIST_DATA_DIR),
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
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import multiprocessing as mp
import os
import platform
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results" / "load.json"

MAX_VISITORS = 64
MAX_SECONDS = 300
LOOPBACK = ("127.0.0.1", "localhost", "::1")
DIGIT_LABELS = {str(d) for d in range(10)}
# What the app's label may say instead of a digit (mnist_demo.app_drawing): "Not sure" is an answer for a
# whole digit; the other two only for a drawing that is not finished yet.
UNSURE_LABEL, EMPTY_LABEL, NOT_A_DIGIT_LABEL = "Not sure", "Draw a digit", "Not a digit yet"
CALL_TIMEOUT = 30.0  # seconds: a prediction that takes longer is an error
SAMPLE_EVERY = 0.2  # seconds between memory samples
TRAIN_MODEL, TRAIN_EPOCHS = "drawnet", 50
PROGRESS_RE = re.compile(r"Epoch (\d+)/\d+: batch (\d+)/(\d+)")

# With --inference-threads, --predict-concurrency, --max-threads, --switch-interval-ms or
# --status-update-rate the server is started through this instead of app.py's __main__: the same
# page and settings, with those changes (to try them without editing the app).
TWEAKED_LAUNCH = r"""
import os, sys
sys.path.insert(0, os.getcwd())
import torch
from mnist_demo.app import page as app
from mnist_demo.app.settings import AppSettings
if os.environ.get("LOAD_SWITCH_INTERVAL_MS"):
    sys.setswitchinterval(float(os.environ["LOAD_SWITCH_INTERVAL_MS"]) / 1e3)
threads = os.environ.get("LOAD_INFERENCE_THREADS")
if threads:
    torch.set_num_threads(int(threads))  # this thread's and the intra-op pool's default
    from mnist_demo.reading import predictor as _p
    _probabilities = _p.Predictor.probabilities
    def probabilities(self, x, _n=int(threads)):
        if torch.get_num_threads() != _n:  # OpenMP keeps the count per thread: set it in each worker thread
            torch.set_num_threads(_n)
        return _probabilities(self, x)
    _p.Predictor.probabilities = probabilities
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
"""


# ---------------------------------------------------------------- what visitors draw

def drawing_steps(strokes: Sequence[dict[str, Any]], every: int = 2) -> list[list[dict[str, Any]]]:
    """The pad's values while a digit is drawn: every `every` points of a stroke, each stroke's end, the whole.

    `strokes` are the pad's strokes ({"r", "points"}) of the whole digit, already placed
    on the canvas, so each prefix sits where the visitor's pen was.
    """
    steps: list[list[dict[str, Any]]] = []
    for i, stroke in enumerate(strokes):
        points = stroke["points"]
        for j in range(every, len(points), every):  # the page sends every ~150 ms while a stroke is drawn
            steps.append([*strokes[:i], {**stroke, "points": points[:j]}])
        steps.append(list(strokes[:i + 1]))  # and at the stroke's end
    return steps


def digits_to_draw(per_label: int = 3) -> list[dict[str, Any]]:
    """Held-out writers' digits (no model trained on them) as {"label", "size", "steps"}; the last step is whole."""
    for folder in (str(REPO / "tests"), str(REPO)):
        if folder not in sys.path:
            sys.path.insert(0, folder)
    from app_helpers import held_out_digits
    from mnist_demo.pen_digits import pen_sketch

    out = []
    for digit in held_out_digits(per_label=per_label):
        pad = json.loads(pen_sketch(digit.strokes).to_json())
        out.append({"label": str(digit.label), "size": pad["size"], "steps": drawing_steps(pad["strokes"])})
    return out


def pad_json(size: int, strokes: list[dict[str, Any]], version: int) -> str:
    """The pad's value as the page sends it (see mnist_demo.sketch)."""
    return json.dumps({"size": size, "version": version, "strokes": strokes}, separators=(",", ":"))


# ---------------------------------------------------------------- checking answers

@dataclass
class Call:
    start: float  # seconds since the window opened
    ms: float  # round trip
    whole: bool  # the whole digit (not a prefix)
    error: str | None = None
    label: str | None = None
    digit: int = -1  # index into the digits drawn


def check_answer(output: Any, version: int, whole: bool) -> tuple[str | None, str | None]:
    """(error or None, label) for one /predict answer to the drawing with `version`."""
    if not isinstance(output, (tuple, list)) or len(output) != 3:
        return f"not three outputs: {str(output)[:80]}", None
    label, status, preview = output
    headline = label.get("label") if isinstance(label, dict) else None
    if not isinstance(headline, str):
        return f"no label; status {str(status)[:80]!r}", None
    allowed = DIGIT_LABELS | {UNSURE_LABEL} if whole else DIGIT_LABELS | {UNSURE_LABEL, EMPTY_LABEL, NOT_A_DIGIT_LABEL}
    if headline not in allowed:
        return f"label {headline!r} for a {'whole digit' if whole else 'digit being drawn'}", headline
    if not isinstance(status, str) or not status.strip():
        return "empty status line", headline
    if f"data-version='{version}'" not in str(preview):
        return f"preview not for drawing {version}", headline
    return None, headline


# ---------------------------------------------------------------- the visitors (in load-generator processes)

class _PollSleep:
    """gradio_client.utils' `time`, with its 50 ms waits for the next server message shortened to `poll` s."""

    def __init__(self, poll: float) -> None:
        self.poll = poll

    def sleep(self, seconds: float) -> None:
        time.sleep(min(seconds, self.poll))

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def set_client_poll(poll_ms: float | None) -> None:
    """gradio_client checks for a job's next message every 50 ms (sleep-polling a deque), which adds
    0-50 ms to every round trip a browser does not see; `poll_ms` shortens that wait (None: as shipped)."""
    if poll_ms:
        from gradio_client import utils

        utils.time = _PollSleep(poll_ms / 1e3)


def make_client(url: str):
    from gradio_client import Client

    # Plain http on loopback: nothing to verify; the default builds TLS contexts on every call (CPU).
    return Client(url, verbose=False, ssl_verify=False)


class ClientVisitor:
    """A visitor through gradio_client: always the queue (/queue/join, then the answer over SSE)."""

    via = "gradio_client"

    def __init__(self, url: str) -> None:
        self.client = make_client(url)

    def predict(self, value: str) -> Any:
        return self.client.submit(value, 3, api_name="/predict").result(timeout=CALL_TIMEOUT)

    def close(self) -> None:
        self.client.close()


class PageVisitor:
    """A visitor the way the page's own JavaScript client calls /predict.

    For an event with queue=False the page POSTs to /gradio_api/run/predict on a kept-alive
    connection and reads the answer from the response, with no queue and no SSE (@gradio/client's
    skip_queue); gradio_client cannot do that and always queues. A queued event goes through
    gradio_client, whose path (/queue/join, SSE) is then the page's too.
    """

    def __init__(self, url: str) -> None:
        import uuid

        import httpx

        config = httpx.get(url + "config", timeout=30).json()
        dep = next(d for d in config["dependencies"] if d.get("api_name") == "predict")
        self.queued = dep.get("queue") is not False
        self.via = "page (queue)" if self.queued else "page (POST /run/predict)"
        if self.queued:
            self.client = ClientVisitor(url)
            return
        self.http = httpx.Client(timeout=CALL_TIMEOUT)
        self.url = url + config.get("api_prefix", "/gradio_api").strip("/") + "/run/predict"
        self.fn_index, self.inputs = dep["id"], len(dep["inputs"])
        self.session = uuid.uuid4().hex[:11]

    def predict(self, value: str) -> Any:
        if self.queued:
            return self.client.predict(value)
        data = [value, 3] + [None] * (self.inputs - 2)  # the rest: this visitor's State, kept by the server
        r = self.http.post(self.url, json={"data": data, "fn_index": self.fn_index, "session_hash": self.session})
        r.raise_for_status()
        return tuple(r.json()["data"])

    def close(self) -> None:
        (self.client if self.queued else self.http).close()


VISITORS = {"client": ClientVisitor, "page": PageVisitor}


def visit(client, digits: list[dict[str, Any]], first: int, rng: random.Random, think: tuple[float, float],
          opened: float, until: float, calls: list[Call]) -> None:
    """One visitor: draws digits (from index `first` on) until `until`, each call recorded in `calls`."""
    version = 0
    time.sleep(rng.uniform(0, 0.5))  # visitors do not all start in the same millisecond
    i = first
    while time.time() < until:
        d = i % len(digits)
        steps = digits[d]["steps"]
        for n, strokes in enumerate(steps):
            if time.time() >= until:
                return
            version += 1
            whole = n == len(steps) - 1
            value = pad_json(digits[d]["size"], strokes, version)
            start = time.time()
            error = label = None
            try:
                output = client.predict(value)
                error, label = check_answer(output, version, whole)
            except Exception as exc:  # noqa: BLE001 - every failure is counted, none stops the visitor
                error = f"{type(exc).__name__}: {str(exc)[:100]}"
            calls.append(Call(start - opened, (time.time() - start) * 1e3, whole, error, label, d))
            time.sleep(rng.uniform(*think))
        i += 1


def load_process(url: str, visitors: list[int], digits: list[dict[str, Any]], think: tuple[float, float],
                 seed: int, poll_ms: float | None, via: str, ready, go, results) -> None:
    """A load-generator process: its visitors' clients connect, then draw from `go`'s start to end time."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    set_client_poll(poll_ms)
    try:
        clients = {v: VISITORS[via](url) for v in visitors}
    except Exception as exc:  # noqa: BLE001
        ready.put(f"could not connect: {type(exc).__name__}: {exc}")
        return
    ready.put("ready")
    opened, until = go.get()
    calls: dict[int, list[Call]] = {v: [] for v in visitors}
    threads = [threading.Thread(target=visit, daemon=True,
                                args=(clients[v], digits, v * 7, random.Random(seed * 1000 + v), think, opened,
                                      until, calls[v]))
               for v in visitors]
    time.sleep(max(0.0, opened - time.time()))
    cpu = time.process_time()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=until - time.time() + CALL_TIMEOUT + 5)
    cpu = time.process_time() - cpu
    results.put({"visitors": visitors, "cpu_s": cpu, "finished": time.time(),
                 "via": sorted({c.via for c in clients.values()}),
                 "calls": {v: [c.__dict__ for c in cs] for v, cs in calls.items()}})
    for c in clients.values():
        c.close()


def collect(q, workers: Sequence, n: int, timeout: float) -> list[Any]:
    """`n` messages from the load processes' queue; raises if one of them dies or `timeout` passes."""
    import queue

    out, deadline = [], time.time() + timeout
    while len(out) < n:
        try:
            out.append(q.get(timeout=1.0))
        except queue.Empty:
            dead = [w for w in workers if not w.is_alive() and w.exitcode]
            if dead:
                raise RuntimeError(f"a load-generator process exited with code {dead[0].exitcode}") from None
            if time.time() > deadline:
                raise RuntimeError(f"the load-generator processes did not answer within {timeout:.0f} s") from None
    return out


# ---------------------------------------------------------------- the server process

def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def check_loopback(host: str) -> str:
    if host not in LOOPBACK:
        raise SystemExit(f"error: this load script only runs against this machine (127.0.0.1), not {host!r}")
    return host


@dataclass
class Server:
    process: subprocess.Popen
    url: str
    log: Path
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.process.pid


def server_env(port: int, weights: Path, extra: dict[str, str], tweaks: dict[str, int | None]) -> dict[str, str]:
    """The app's environment: loopback, the port, the weights, MNIST, room for a 50-epoch training."""
    env = dict(os.environ)
    env.update({"GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
                "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_DISABLE_TELEMETRY": "1",
                "MNIST_DEMO_WEIGHTS": str(weights), "MNIST_DEMO_MAX_EPOCHS": str(TRAIN_EPOCHS),
                "PYTHONUNBUFFERED": "1"})
    if os.environ.get("MNIST_DATA_DIR"):
        env["MNIST_DATA_DIR"] = os.environ["MNIST_DATA_DIR"]
    env.update(extra)
    for name, value in tweaks.items():
        if value:
            env[f"LOAD_{name.upper()}"] = str(value)
    return env


def start_server(weights: Path, extra_env: dict[str, str] | None = None, tweaks: dict[str, int | None] | None = None,
                 log_dir: Path | None = None) -> Server:
    """`python app.py` (or the tweaked launch) in its own process group on a free loopback port."""
    tweaks, extra_env = tweaks or {}, extra_env or {}
    port = free_port()
    env = server_env(port, weights, extra_env, tweaks)
    command = [sys.executable, "-c", TWEAKED_LAUNCH] if any(tweaks.values()) else [sys.executable, "app.py"]
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="mnist_demo-load-"))
    log = log_dir / f"server-{port}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    shown = {k: v for k, v in env.items() if k.startswith(("MNIST_", "GRADIO_", "LOAD_", "OMP_", "MKL_"))
             or k in extra_env}
    return Server(process, f"http://127.0.0.1:{port}/", log, ["python", "app.py"] if command[1] == "app.py"
                  else ["python", "-c", "<tweaked launch of app.py's page>"], shown)


def wait_until_up(server: Server, timeout: float = 120.0) -> float:
    """Seconds until the server's page answers; raises if it exits or takes longer than `timeout`."""
    started = time.time()
    while time.time() - started < timeout:
        if server.process.poll() is not None:
            raise RuntimeError(f"the server exited ({server.process.returncode}):\n{tail(server.log)}")
        try:
            with urllib.request.urlopen(server.url + "config", timeout=2) as r:
                if r.status == 200:
                    return time.time() - started
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the server did not answer within {timeout:.0f} s:\n{tail(server.log)}")


def stop_server(server: Server) -> None:
    """SIGTERM to the server's process group, SIGKILL after 10 s; never leaves it running."""
    if server.process.poll() is None:
        try:
            os.killpg(server.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(server.pid, signal.SIGKILL)  # children that outlived it too
    except (ProcessLookupError, PermissionError):
        pass
    server.process.wait()


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# ---------------------------------------------------------------- memory and CPU of the server (from /proc)

def descendants(pid: int) -> list[int]:
    """`pid` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU time of these processes (all their threads), from /proc/<pid>/stat."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields_ = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields_[11]) + int(fields_[12])  # utime, stime
    return total / tick


class MemorySampler:
    """Samples the VmRSS of a process tree every SAMPLE_EVERY seconds in a thread; keeps the peak."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kb = 0
        self.processes = 1
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            pids = descendants(self.pid)
            self.processes = max(self.processes, len(pids))
            self.peak_kb = max(self.peak_kb, sum(status_kb(p, "VmRSS") for p in pids))
            self._stop.wait(SAMPLE_EVERY)

    def __enter__(self) -> "MemorySampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def hwm_kb(self) -> int:
        """VmHWM (the kernel's own peak RSS) of the server and its children, read while they still run."""
        return sum(status_kb(p, "VmHWM") for p in descendants(self.pid))


# ---------------------------------------------------------------- the training visitor

class Training:
    """One more client that trains drawnet for 50 epochs, from its first progress until stopped."""

    def __init__(self, url: str) -> None:
        self.client = make_client(url)
        self.job = self.client.submit(model=TRAIN_MODEL, epochs=TRAIN_EPOCHS, pen_digits="no", api_name="/train")

    def progress(self) -> tuple[int, int, int] | None:
        """(epoch, batch, batches per epoch) of the latest progress streamed, None before the first."""
        for output in reversed(self.job.outputs()):
            m = PROGRESS_RE.search(str(output[0]))
            if m:
                return int(m.group(1)), int(m.group(2)), int(m.group(3))
        return None

    def wait_started(self, timeout: float = 300.0) -> float:
        started = time.time()
        while self.progress() is None:
            if self.job.done():
                raise RuntimeError(f"the training ended before its first batch: {self.job.outputs()[-1:]}")
            if time.time() - started > timeout:
                raise RuntimeError(f"no training progress within {timeout:.0f} s")
            time.sleep(0.1)
        return time.time() - started

    def stop(self) -> str:
        """Stop it (/stop from the same session) and wait for its end; returns its last status line."""
        try:
            self.client.predict(api_name="/stop")
            return str(self.job.result(timeout=120)[1])
        except Exception as exc:  # noqa: BLE001
            return f"{type(exc).__name__}: {exc}"
        finally:
            self.client.close()


def batches_between(a: tuple[int, int, int] | None, b: tuple[int, int, int] | None) -> int:
    if a is None or b is None:
        return 0
    return (b[0] - a[0]) * a[2] + b[1] - a[1]


# ---------------------------------------------------------------- one scenario

def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear between the closest ranks (numpy's default)."""
    if not values:
        return math.nan
    s = sorted(values)
    pos = (len(s) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


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
                 seed: int = 1, keep_calls: bool = False, log=print) -> dict[str, Any]:
    """Start a server, run `visitors` for `seconds` (with a training if name == "training"), stop it."""
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
                training = Training(server.url)
                waited = training.wait_started()
                log(f"[{name}] training {TRAIN_MODEL} for {TRAIN_EPOCHS} epochs: first progress after {waited:.1f} s")
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
    ms = [c.ms for c in calls]
    errors = [c for c in calls if c.error]
    whole = [c for c in calls if c.whole and not c.error]
    misread = [c for c in whole if c.label in DIGIT_LABELS and c.label != digits[c.digit]["label"]]
    unsure = [c for c in whole if c.label == UNSURE_LABEL]
    changed = [c for c in whole if reference[c.digit] is not None and c.label != reference[c.digit]]
    examples: dict[str, int] = {}
    for c in errors:
        examples[c.error] = examples.get(c.error, 0) + 1
    buckets = []
    step = max(1.0, seconds / 6)
    for b in range(int(math.ceil(seconds / step))):
        inside = [c.ms for c in calls if b * step <= c.start < (b + 1) * step]
        buckets.append({"from_s": round(b * step, 1), "calls": len(inside),
                        "median_ms": round(percentile(inside, 50), 1), "p99_ms": round(percentile(inside, 99), 1)})
    client_cpu = sum(o["cpu_s"] for o in outcomes)
    result = {
        "scenario": name, "visitors": visitors, "via": sorted({v for o in outcomes for v in o["via"]}),
        "seconds": round(window, 1),
        "predictions": len(calls), "per_second": round(len(calls) / window, 1),
        "median_ms": round(percentile(ms, 50), 1), "p90_ms": round(percentile(ms, 90), 1),
        "p99_ms": round(percentile(ms, 99), 1), "max_ms": round(max(ms), 1) if ms else math.nan,
        "errors": len(errors), "error_kinds": dict(sorted(examples.items(), key=lambda kv: -kv[1])[:5]),
        "whole_digits": len(whole), "misread": len(misread), "unsure": len(unsure), "changed": len(changed),
        "peak_rss_mb": round(memory.peak_kb / 1024, 1), "vmhwm_mb": round(hwm / 1024, 1),
        "server_processes": memory.processes,
        "server_cpu_cores": round(server_cpu / window, 2), "client_cpu_cores": round(client_cpu / window, 2),
        "quiet_median_ms": round(percentile(quiet_ms, 50), 1),
        "over_time": buckets,
        "server": {"command": " ".join(server.command), "pid": server.pid, "env": server.env},
    }
    if keep_calls:
        result["calls"] = [c.__dict__ for c in calls]
    if training_wanted:
        batches = batches_between(progress0, progress1)
        result["training"] = {"model": TRAIN_MODEL, "epochs": TRAIN_EPOCHS, "running_throughout": training_alive,
                              "batches_during_window": batches, "batches_per_second": round(batches / window, 2),
                              "progress_at_start": progress0, "progress_at_end": progress1, "stopped": stopped}
    return result


# ---------------------------------------------------------------- output

def markdown_table(results: Sequence[dict[str, Any]]) -> str:
    rows = ["| scenario | visitors | predictions/s | median ms | p99 ms | max ms | errors | misread | "
            "peak RSS MB | server CPU | client CPU | training batches/s |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        t = r.get("training")
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visitors", type=int, default=20, help=f"concurrent visitors (at most {MAX_VISITORS})")
    parser.add_argument("--seconds", type=float, default=60, help=f"how long they draw (at most {MAX_SECONDS})")
    parser.add_argument("--scenarios", default="idle,training",
                        help="comma-separated: idle (drawing only), training (while a training runs)")
    parser.add_argument("--procs", type=int, default=2, help="load-generator processes the visitors are spread over")
    parser.add_argument("--think-ms", default="0,150", help="min,max pause between a visitor's calls")
    parser.add_argument("--poll-ms", type=float, default=None,
                        help="shorten gradio_client's 50 ms wait between checks for a server message")
    parser.add_argument("--via", choices=sorted(VISITORS), default="client",
                        help="client: gradio_client (always queued); page: as the page's JavaScript calls "
                             "/predict (POST /run/predict when the event skips the queue)")
    parser.add_argument("--host", default="127.0.0.1", help="only loopback is allowed")
    parser.add_argument("--weights", type=Path, default=REPO / "weights" / "default.safetensors")
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
    if not scenarios or set(scenarios) - {"idle", "training"}:
        parser.error("--scenarios: idle and/or training")
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
                                    extra_env, tweaks, args.poll_ms, args.via))
        r = results[-1]
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
