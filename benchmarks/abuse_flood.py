"""The abuse suite's flood (benchmarks/abuse.py, case 3): one client sends drawings at the limits of the pad's
value to /predict and /keep_drawing, back to back, while visitors draw; the round trips of both, their
statistics, and the wait for a quiet server before it.
"""

from __future__ import annotations

import itertools
import math
import random
import re
import threading
import time
import uuid
from collections import Counter
from typing import Any, Callable, Sequence

from benchmarks.abuse_client import Raw, plain, row
from tests.support.drawings import LIMIT_KINDS, at_the_limits
from tests.support.load.server import cpu_seconds, descendants
from tests.support.load.stats import call_counts, over_time, percentile
from tests.support.load.visitors import CALL_TIMEOUT, Call, PageVisitor, visit
from tests.support.waiting import wait_until

P99_TARGET_MS = 1000
THINK = (0.3, 0.5)  # seconds between a drawing visitor's calls: the pad sends about that often while drawing


# ---------------------------------------------------------------- 3. a flood of drawings at the limits

def settle(pid: int | None, timeout: float = 30.0) -> float:
    """Seconds until the server's processes use under a third of a core for half a second, so that the flood
    measures the flood (a training's end, say, starts the next one's process: seconds of a core); no wait
    without a pid. Gives up after `timeout`."""
    started = time.time()

    def quiet() -> bool:
        pids = descendants(pid)
        before = cpu_seconds(pids)
        time.sleep(0.5)
        return cpu_seconds(pids) - before < 0.5 / 3

    if pid:
        try:
            wait_until(quiet, timeout, 0)
        except AssertionError:
            pass
    return time.time() - started


def outcome(message: Any) -> str:
    """A refusal's kind: its words, the numbers in it left out."""
    return "refused: " + re.sub(r"\d[\d,.]*", "#", plain(message, 70))


def hammer(send: Callable[[str], str], values: Sequence[str], until: float, out: list[tuple[float, str]]) -> None:
    """Send `values` in turn, back to back, until `until`: (round trip ms, outcome) of each."""
    for value in itertools.cycle(values):
        if time.time() >= until:
            return
        start = time.time()
        try:
            said = send(value)
        except Exception as exc:  # noqa: BLE001 - counted, and the flood goes on
            said = f"error: {type(exc).__name__}: {str(exc)[:80]}"
        out.append(((time.time() - start) * 1e3, said))


def flooder_stats(calls: list[tuple[float, str]], window: float) -> dict[str, Any]:
    ms = [c[0] for c in calls]
    return {"calls": len(calls), "per_second": round(len(calls) / window, 2),
            **{f"p{q}_ms": round(percentile(ms, q), 1) for q in (50, 95, 99)},
            "max_ms": round(max(ms), 1) if ms else math.nan,
            "outcomes": dict(Counter(c[1] for c in calls).most_common(8))}


def flood(url: str, digits: list[dict[str, Any]], reference: list[str | None], seconds: float, visitors: int,
          pid: int | None, seed: int = 1) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """`visitors` drawing while one client floods /predict and /keep_drawing with drawings at the limits."""
    drawings = [at_the_limits(kind) for kind in LIMIT_KINDS]
    flooder = PageVisitor(url)  # its readings the page's way; its keeps through the queue, in the same session
    keeper = Raw(url, getattr(flooder, "session", uuid.uuid4().hex[:11]))
    clients = [PageVisitor(url) for _ in range(visitors)]

    def predicted(value: str) -> str:
        label, status, _ = flooder.predict(value)
        return "read" if isinstance(label, dict) and label.get("label") else outcome(status)

    def kept(value: str) -> str:
        answer = keeper.call("keep_drawing", [value, 2])
        return outcome(answer.error) if answer.error else "kept"

    opened = time.time() + 0.5
    until = opened + seconds
    calls: list[list[Call]] = [[] for _ in clients]
    flooded: dict[str, list[tuple[float, str]]] = {"predict": [], "keep_drawing": []}
    threads = [threading.Thread(target=visit, daemon=True,
                                args=(c, digits, v * 7, random.Random(seed * 1000 + v), THINK, opened, until, calls[v]))
               for v, c in enumerate(clients)]
    threads += [threading.Thread(target=hammer, args=(send, drawings, until, flooded[name]), daemon=True)
                for name, send in (("predict", predicted), ("keep_drawing", kept))]
    pids = descendants(pid) if pid else []
    cpu0 = cpu_seconds(pids)
    time.sleep(max(0.0, opened - time.time()))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=until - time.time() + 4 * CALL_TIMEOUT)
    window = time.time() - opened
    server_cpu = (cpu_seconds(pids) - cpu0) / window if pids else None
    for c in [flooder, keeper, *clients]:
        c.close()

    all_calls = [c for cs in calls for c in cs]
    drawn = call_counts(all_calls, digits, reference, window)
    drawn["p95_ms"] = round(percentile([c.ms for c in all_calls], 95), 1)
    drawn["p50_ms"] = drawn["median_ms"]
    drawn["over_time"] = over_time(all_calls, seconds)
    hammered = {name: flooder_stats(cs, window) for name, cs in flooded.items()}
    figures = {"seconds": round(window, 1), "visitors": visitors, "think_s": THINK, "visitors_calls": drawn,
               "flooder": hammered, "limit_kinds": list(LIMIT_KINDS),
               "server_cpu_cores": None if server_cpu is None else round(server_cpu, 2)}
    errors = drawn["errors"] + sum(n for cs in flooded.values() for o, n in Counter(c[1] for c in cs).items()
                                   if o.startswith("error"))

    def latency(s: dict[str, Any]) -> str:
        return f"p50 {s['p50_ms']:.0f} / p95 {s['p95_ms']:.0f} / p99 {s['p99_ms']:.0f} ms (max {s['max_ms']:.0f})"

    rows = [row("3 flood", f"{visitors} visitors drawing held-out digits, a call each {THINK[0]}-{THINK[1]} s, "
                           f"for {window:.0f} s beside the flood",
                f"{drawn['predictions']} calls, {latency(drawn)}, {drawn['errors']} errors"
                f"{' ' + str(drawn['error_kinds']) if drawn['errors'] else ''}, "
                f"{drawn['misread']}/{drawn['whole_digits']} whole digits misread"
                + (f"; server CPU {server_cpu:.2f} cores" if server_cpu is not None else ""),
                f"p99 < {P99_TARGET_MS} ms, no errors", drawn["p99_ms"] < P99_TARGET_MS and drawn["errors"] == 0,
                id="flood: drawing visitors")]
    for name, s in hammered.items():
        rows.append(row("3 flood", f"flooder: /{name} back to back, drawings at the limits "
                                   f"({', '.join(LIMIT_KINDS)})",
                        f"{s['calls']} calls ({s['per_second']}/s), {latency(s)}; "
                        + "; ".join(f"{o}: {n}" for o, n in s["outcomes"].items()),
                        "reported (answered or refused, never an error)",
                        None if not any(o.startswith("error") for o in s["outcomes"]) else False,
                        id=f"flood: flooder {name}"))
    figures["errors"] = errors
    return rows, figures

