"""Simulated visitors: what they draw, how they call /predict, how an answer is checked, where they run.

Kept light (no torch, no gradio at import): the load-generator processes are started with "spawn"
and import this module before their visitors connect.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Sequence

from tests.support.waiting import wait_until

DIGIT_LABELS = {str(d) for d in range(10)}
# What the app's label may say instead of a digit (mnist_demo.app.drawing): "Not sure" is an answer for a
# whole digit; the other two only for a drawing that is not finished yet.
UNSURE_LABEL, EMPTY_LABEL, NOT_A_DIGIT_LABEL = "Not sure", "Draw a digit", "Not a digit yet"
CALL_TIMEOUT = 30.0  # seconds: a prediction that takes longer is an error


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
    from mnist_demo.handwriting.pen_digits import centred
    from tests.support.drawings import held_out_digits

    out = []
    for digit in held_out_digits(per_label=per_label):
        pad = json.loads(centred().sketch(digit.strokes).to_json())
        out.append({"label": str(digit.label), "size": pad["size"], "steps": drawing_steps(pad["strokes"])})
    return out


def pad_json(size: int, strokes: list[dict[str, Any]], version: int) -> str:
    """The pad's value as the page sends it (see mnist_demo.reading.sketch)."""
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


# ---------------------------------------------------------------- the visitors' clients

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


# ---------------------------------------------------------------- drawing, in load-generator processes

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

    out: list[Any] = []

    def all_in() -> bool:
        if len(out) < n:
            try:
                out.append(q.get(timeout=1.0))  # the wait: a second at most, then a look at the processes
            except queue.Empty:
                dead = [w for w in workers if not w.is_alive() and w.exitcode]
                if dead:
                    raise RuntimeError(f"a load-generator process exited with code {dead[0].exitcode}") from None
        return len(out) >= n

    wait_until(all_in, timeout, interval=0,
               message=lambda: f"the load-generator processes did not answer ({len(out)} of {n} messages)")
    return out
