"""Abuse: what one bad client can do to the other visitors of a live server, tried over HTTP.

    python -m benchmarks.abuse [--url URL] [--pid PID] [--seconds 30] [--visitors 10] [--out FILE]

Without --url it starts the app itself (`python app.py` on a free loopback port, as benchmarks/load.py
does, with a temporary folder of its own so that the visitors' files on the server can be looked at)
and stops it at the end. With --url it speaks HTTP only: the server's memory is measured if its process
is found (--pid, or the process listening on a loopback URL's port), and the visitors' files are
checked by downloading them again, not on the server's disk.

Each case gives rows of the markdown table printed at the end; the raw figures go to the JSON file:

1. refusals: six absurd /train recipes, each a raw JSON call as a script sends it (NaN included, which
   gradio_client will not send): refused up front (one answer, no "Starting…" before it), the message
   names the field; then the training slot is free (what the page shows the moment Train is pressed
   says "Starting…", not "Waiting") and a held-out digit sent to /predict is read right.
2. heartbeats: two visitors keep drawings (/keep_drawing) and download them; then a client opens and
   closes GET /gradio_api/heartbeat/<id>, which makes the server forget the session <id> and delete its
   files, for ids named like the server's folders, "..", "a.b" (the neighbour is "a_b": the two once
   shared a folder), the victim's folder name, then the victim's own session id. No file of anyone's
   may change but the victim's own when its id is used (that id is the session's key: whoever holds it
   is the victim); both visitors' drawings must still download, the same ones.
3. flood: one client sends drawings at every limit of the pad's value (tests.support.drawings.at_the_limits:
   200 strokes, 20,000 points, the widest brush, the largest canvas) to /predict and to /keep_drawing, back
   to back, for --seconds, while --visitors visitors draw held-out digits as the pad sends them (growing
   prefixes, then the whole digit; 0.3-0.5 s between calls) on the page's path (POST /run/predict).
   The visitors' p50/p95/p99 round trip (target p99 < 1 s, no errors), and the flooder's. It starts once the
   server is quiet (a training's end, say, starts the next training's process: seconds of a core), and case 6's
   training comes after it.
4. memory: the server's RSS (its process and its children, from /proc) sampled every 0.2 s through the
   whole run; the peak (target < 4 GB).
5. afterwards: each held-out digit is read as the quiet server read it before, the right ones right.
6. no session: raw calls to the stateful events without a session_hash are refused (the queue's join, POST
   /run/ around the queue) or get an owner of their own (a /call/ is its event's own session: two keeps do
   not share a collection, a download finds nothing, a sessionless Stop stops nobody's training, a
   training started so is stopped only by its own event id).

tests/test_training_limits.py, test_security.py and test_visitor_files.py try each of these in-process;
tests/test_abuse.py runs this suite small against a test server. Bounded: loopback only when it starts the
server, at most 120 s of flood and 32 visitors; the server it started is always stopped, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import itertools
import json
import math
import os
import platform
import random
import re
import shutil
import signal
import tempfile
import threading
import time
import uuid
from collections import Counter
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence
from urllib.parse import quote, urlsplit

import httpx

from benchmarks.load import app_version
from mnist_demo.app.collecting import COLLECTION_OUTPUTS, DOWNLOAD_OUTPUTS
from mnist_demo.app.outputs import TRAIN_OUTPUTS
from mnist_demo.app.visitor_files import folder_name
from mnist_demo.personal import loads
from mnist_demo.reading.weights import Weights
from tests.support.drawings import LIMIT_KINDS, at_the_limits
from tests.support.load.server import (
    LOOPBACK,
    MemorySampler,
    cpu_seconds,
    descendants,
    start_server,
    stop_server,
    wait_until_up,
)
from tests.support.load.stats import call_counts, over_time, percentile
from tests.support.load.visitors import CALL_TIMEOUT, Call, PageVisitor, check_answer, digits_to_draw, pad_json, visit
from tests.support.servers import REPO
from tests.support.waiting import wait_until

RESULTS = REPO / "benchmarks" / "results" / "abuse.json"
MAX_SECONDS, MAX_VISITORS = 120, 32

P99_TARGET_MS = 1000
RSS_TARGET_MB = 4096
THINK = (0.3, 0.5)  # seconds between a drawing visitor's calls: the pad sends about that often while drawing
SETTLE = 2.0  # seconds for the server to forget closed sessions (a background task after the close)

# (what was sent, the /train values, words the refusal must name)
ABSURD = (
    ("batch_size=1e9", {"batch_size": 1e9}, ("batch_size",)),
    ("batch_size=1, epochs=20", {"batch_size": 1, "epochs": 20}, ("epoch", "batch size")),
    ("lr=1e9", {"lr": 1e9}, ("lr",)),
    ("momentum=50", {"momentum": 50}, ("momentum",)),
    ("weight_decay=-5", {"weight_decay": -5}, ("weight_decay",)),
    ("lr=nan", {"lr": math.nan}, ("lr", "nan")),
)
TRAIN_MODEL = "fastnet"
# Session ids a client may close a heartbeat of: the server's own folders, dots, a name like the neighbour's.
SNEAKY = ("handwriting", "collections", "trainings", "stops", ".", "..", "../..", "a.b")
NEIGHBOUR = "a_b"  # "a.b" and "a_b" once shared a folder
QUEUED_EVENTS = ("keep_drawing", "download_drawings", "remove_all_drawings", "train")


# ---------------------------------------------------------------- a client over plain HTTP

@dataclass
class Answer:
    """What a /call/ streamed: its outputs as it went ("generating"), its final one, or the error it ended with."""

    streamed: list[list] = field(default_factory=list)
    final: list | None = None
    error: str | None = None
    event_id: str | None = None

    @property
    def last(self) -> list | None:
        return self.final if self.final is not None else (self.streamed[-1] if self.streamed else None)


    def add(self, kind: str | None, data: str) -> None:
        """One message of the event's stream ("event: <kind>", then "data: <data>")."""
        if kind == "generating":
            self.streamed.append(json.loads(data))
        elif kind == "complete":
            self.final = json.loads(data)
        elif kind == "error":
            try:  # {"error": "Not kept: …", ...} for a gr.Error
                self.error = str(json.loads(data).get("error"))
            except (ValueError, AttributeError):
                self.error = data


class Raw:
    """A client as a script calls the server, over plain HTTP, with the session id `session` (None: none sent)."""

    def __init__(self, url: str, session: str | None = None) -> None:
        self.url, self.session = url, session
        self.http = httpx.Client(timeout=4 * CALL_TIMEOUT)

    def post(self, path: str, body: Any) -> httpx.Response:
        # json.dumps, not httpx's json=: NaN goes out as Python writes it, as a script would send it.
        return self.http.post(f"{self.url}gradio_api/{path}", content=json.dumps(body),
                              headers={"Content-Type": "application/json"})

    def body(self, data: list) -> dict[str, Any]:
        return {"data": data, **({"session_hash": self.session} if self.session else {})}

    def run(self, api_name: str, *data: Any) -> httpx.Response:
        """POST /run/<api_name>: the page's way to an event that skips the queue."""
        return self.post(f"run/{api_name}", self.body(list(data)))

    def start(self, api_name: str, data: list | dict) -> httpx.Response:
        """POST /call/<api_name> with the API's inputs (a dict: /call/v2/, by name, which sends no session)."""
        if isinstance(data, dict):
            return self.post(f"call/v2/{api_name}", data)
        return self.post(f"call/{api_name}", self.body(data))

    def follow(self, api_name: str, event_id: str, enough: Callable[[Answer], bool] = lambda answer: False
               ) -> Answer:
        """The event's stream, read to its end or until `enough(what came so far)`."""
        answer, kind = Answer(event_id=event_id), None
        with self.http.stream("GET", f"{self.url}gradio_api/call/{api_name}/{event_id}") as r:
            for line in r.iter_lines():
                if line.startswith("event: "):
                    kind = line[len("event: "):]
                elif line.startswith("data: "):
                    answer.add(kind, line[len("data: "):])
                    if enough(answer):
                        break
        return answer

    def call(self, api_name: str, data: list | dict, enough: Callable[[Answer], bool] = lambda answer: False
             ) -> Answer:
        """/call/<api_name>, then its event's stream (see `follow`)."""
        started = self.start(api_name, data)
        if started.status_code != 200:
            return Answer(error=f"HTTP {started.status_code}: {started.text[:200]}")
        return self.follow(api_name, started.json()["event_id"], enough)

    def close(self) -> None:
        self.http.close()


def plain(text: Any, width: int = 400) -> str:
    """A message on one line, without Markdown's bold, at most `width` characters."""
    line = " ".join(str(text).replace("**", "").split())
    return line if len(line) <= width else line[: width - 1] + "…"


def training_slot_free(raw: Raw) -> bool:
    """Whether no training holds the server's one slot: the page's line the moment Train is pressed says
    "Starting…", not "Waiting: another visitor's training is running"."""
    r = raw.run("before_train")
    return r.status_code == 200 and "Waiting" not in str(r.json().get("data"))


def whole(digit: dict[str, Any], version: int) -> str:
    """A held-out digit drawn whole, as the pad sends it."""
    return pad_json(digit["size"], digit["steps"][-1], version)


def read(reader: PageVisitor, digit: dict[str, Any], version: int) -> str | None:
    """The top label /predict answers for `digit` (None: no answer, or not one for this drawing)."""
    try:
        error, label = check_answer(reader.predict(whole(digit, version)), version, True)
    except Exception:  # noqa: BLE001 - an exception is an unanswered reading
        return None
    return None if error else label


def readings(reader: PageVisitor, digits: Sequence[dict[str, Any]], version: int) -> list[str | None]:
    return [read(reader, d, version + i) for i, d in enumerate(digits)]


def row(case: str, sent: str, result: str, target: str, passed: bool | None, **raw: Any) -> dict[str, Any]:
    """A row of the table; `passed` None: reported, with no target of its own."""
    return {"case": case, "sent": sent, "result": result, "target": target, "passed": passed, **raw}


# ---------------------------------------------------------------- 1. absurd trainings

def started_training(answer: Answer) -> bool:
    """Whether a /train call has said anything but a refusal: a training that began."""
    status_at = TRAIN_OUTPUTS.index("status")
    return any(not str(o[status_at]).startswith("**Not trained.**") for o in answer.streamed)


def refusals(url: str, digits: Sequence[dict[str, Any]], probe: int) -> list[dict[str, Any]]:
    """Each absurd recipe sent to /train; then whether the slot is free and `digits[probe]` is read right."""
    raw, reader = Raw(url), PageVisitor(url)
    status_at = TRAIN_OUTPUTS.index("status")
    rows = []
    try:
        for i, (sent, values, names) in enumerate(ABSURD):
            start = time.time()
            answer = raw.call("train", {"model": TRAIN_MODEL, **values}, enough=started_training)
            ms = (time.time() - start) * 1e3
            if started_training(answer):  # not refused: stop it (its owner is its event), record what it said
                stop_as(url, answer.event_id)
            said = [o[status_at] for o in answer.streamed]
            message = plain(said[-1] if said else answer.error)
            # Up front: one answer, the refusal, with nothing streamed before it (or an error, and nothing).
            up_front = (len(said) == 1 and message.startswith("Not trained.")) or (not said and bool(answer.error))
            named = all(re.search(rf"\b{re.escape(n)}\b", message, re.IGNORECASE) for n in names)
            free = training_slot_free(raw)
            label = read(reader, digits[probe], 1000 + i)
            read_right = label == digits[probe]["label"]
            result = (f"{message} ({ms:.0f} ms) · slot {'free' if free else 'TAKEN'} · /predict read a "
                      f"{digits[probe]['label']} as {label}")
            rows.append(row("1 absurd training", f"/train {sent}", result,
                            "refused up front, names " + " and ".join(names) + "; slot free; /predict right",
                            up_front and named and free and read_right, id=f"refusal {sent}", message=message,
                            answers=len(said), ms=round(ms, 1), up_front=up_front, named=named, slot_free=free,
                            probe_label=label))
    finally:
        raw.close()
        reader.close()
    return rows


# ---------------------------------------------------------------- 2. heartbeats closed in someone else's name

def close_heartbeat(url: str, session: str) -> str:
    """Open GET /gradio_api/heartbeat/<session>, read its first line, hang up: what a closing page does.
    Every character but letters and digits is escaped, dots too (a client would resolve "..", the server
    decodes it back). Returns the status and the first line."""
    path = quote(session, safe="").replace(".", "%2E")
    with httpx.stream("GET", f"{url}gradio_api/heartbeat/{path}", timeout=CALL_TIMEOUT) as r:
        first = next(r.iter_lines(), "") if r.status_code == 200 else r.read()[:60].decode(errors="replace")
    return f"{r.status_code} {first.strip()}"


def files_on_disk(root: Path | None) -> dict[str, tuple[int, int, str]] | None:
    """Every file under the visitors' root: (size, mtime in ns, SHA-256), by path; None when not known."""
    if root is None:
        return None
    out = {}
    for p in sorted(root.rglob("*")):
        try:
            if p.is_file():
                st = p.stat()
                out[str(p.relative_to(root))] = (st.st_size, st.st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
        except OSError:  # gone meanwhile: it is missing from the listing, which is what counts
            pass
    return out


def changed_files(before: dict | None, after: dict | None, except_owner: str | None = None) -> list[str] | None:
    """The files removed, added or changed between two listings, but those of `except_owner`'s folders."""
    if before is None or after is None:
        return None
    mine = folder_name(except_owner) if except_owner is not None else None
    return sorted(p for p in set(before) | set(after)
                  if before.get(p) != after.get(p) and not (mine and mine in Path(p).parts))


def keep(visitor: Raw, digits: Sequence[dict[str, Any]]) -> list[tuple[str, int]]:
    """Keep each digit with its label through /keep_drawing; the collection's listing after the last."""
    listing_at = COLLECTION_OUTPUTS.index("listing")
    answer = Answer()
    for i, d in enumerate(digits):
        answer = visitor.call("keep_drawing", [whole(d, i), int(d["label"])])
        if answer.error or answer.last is None:
            raise RuntimeError(f"/keep_drawing failed: {answer.error}")
    return sorted((d["id"], d["label"]) for d in answer.last[listing_at]["drawings"])


def download(visitor: Raw) -> list[tuple[str, int]] | str:
    """The visitor's drawings as /download_drawings hands them over (the file fetched and read), or what it
    said instead of a file."""
    answer = visitor.call("download_drawings", [])
    if answer.error or answer.last is None:
        return f"error: {plain(answer.error, 120)}"
    file, message = (answer.last[DOWNLOAD_OUTPUTS.index(n)] for n in ("file", "message"))
    if not file:
        return f"no file: {plain(message, 120)}"
    got = visitor.http.get(file["url"])
    if got.status_code != 200:
        return f"the file's URL answered {got.status_code}"
    return sorted((d.id, d.label) for d in loads(got.content))


def heartbeat_trick(url: str, digits: Sequence[dict[str, Any]], files_root: Callable[[], Path | None],
                    log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    victim, neighbour = Raw(url, uuid.uuid4().hex[:11]), Raw(url, NEIGHBOUR)
    try:
        kept = {"victim": keep(victim, digits[:3]), "neighbour": keep(neighbour, digits[3:5])}
        first = {"victim": download(victim), "neighbour": download(neighbour)}  # writes each one's file
        root = files_root()
        before = files_on_disk(root)
        ids = [*SNEAKY, folder_name(victim.session)]
        beats = {sid: close_heartbeat(url, sid) for sid in ids}
        time.sleep(SETTLE)  # no sign of a forgotten id but its files going: there are none to go
        after = files_on_disk(root)
        touched = changed_files(before, after)
        again = {"victim": download(victim), "neighbour": download(neighbour)}
        still = all(again[w] == first[w] == kept[w] for w in kept)
        on_disk = "not visible (a server of --url)" if touched is None else \
            f"{len(touched)} of {len(before)} visitor files changed{': ' + ', '.join(touched) if touched else ''}"
        log(f"[heartbeats] {beats}; {on_disk}")
        shown = [f"'{s}'" for s in SNEAKY] + ["the victim's folder name (SHA-256 of its id)"]
        rows = [row("2 heartbeats", "open+close /heartbeat/<id> for " + ", ".join(shown),
                    f"{on_disk}; victim's {len(kept['victim'])} and neighbour's {len(kept['neighbour'])} drawings "
                    f"{'download again, the same' if still else 'NOT the same: ' + str(again)}",
                    "no file touched; drawings still there", (touched is None or not touched) and still,
                    id="heartbeats: sneaky ids", heartbeats=beats, files_before=len(before or {}), touched=touched,
                    kept=kept, downloaded=again)]

        # The victim's own id: it ends the victim's session, and its files go, but nobody else's.
        mine = folder_name(victim.session)
        before = files_on_disk(root)  # the downloads again wrote both files anew
        beat = close_heartbeat(url, victim.session)
        went: bool | None = None  # whether the victim's file went: the sign that the server forgets on a close
        if root is None:
            time.sleep(SETTLE)
        else:
            try:
                went = wait_until(lambda: not any(mine in Path(p).parts for p in files_on_disk(root)), 30, 0.1)
            except AssertionError:
                went = False
        after_own = files_on_disk(root)
        others = changed_files(before, after_own, except_owner=victim.session)
        again_own = {"victim": download(victim), "neighbour": download(neighbour)}
        still_own = all(again_own[w] == kept[w] for w in kept)
        if went is None:
            result = "the victim's file on disk: not visible"
        elif went:
            result = "the victim's file deleted (its session ended: the id is its key)"
        else:
            result = "the victim's file NOT deleted (did the server see the close?)"
        if others is not None:
            result += f"; {len(others)} other files changed" + (": " + ", ".join(others) if others else "")
        result += "; the victim's drawings " + ("still in its session, download again" if still_own
                                                else f"LOST: {again_own}")
        rows.append(row("2 heartbeats", "open+close /heartbeat/<the victim's own session id>", result,
                        "no other visitor's file touched; victim's drawings still there",
                        (others is None or not others) and still_own and went is not False,
                        id="heartbeats: the victim's id", heartbeat=beat, victim_file_went=went,
                        touched_others=others, downloaded=again_own))
    finally:
        victim.close()
        neighbour.close()
    return rows


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


# ---------------------------------------------------------------- 6. calls without a session

def sessionless(url: str, digits: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    raw = Raw(url)
    listing_at = COLLECTION_OUTPUTS.index("listing")
    rows = []
    try:
        config = raw.http.get(url + "config").json()
        index = {d.get("api_name"): d["id"] for d in config["dependencies"]}
        joined = raw.post("queue/join", {"data": [whole(digits[0], 0), 0, None], "fn_index": index["keep_drawing"]})
        rows.append(row("6 no session", "POST /queue/join (keep_drawing) with no session_hash",
                        f"HTTP {joined.status_code}: {plain(joined.text, 80)}", "refused",
                        400 <= joined.status_code < 500, id="no session: queue/join", status=joined.status_code))
        around = {name: raw.run(name).status_code for name in QUEUED_EVENTS}
        rows.append(row("6 no session", "POST /run/<queued event> around the queue: " + ", ".join(QUEUED_EVENTS),
                        ", ".join(f"{n}: HTTP {s}" for n, s in around.items()), "refused (404: join the queue)",
                        all(s == 404 for s in around.values()), id="no session: /run/ around the queue",
                        statuses=around))
        counts = []
        for d in digits[:2]:
            answer = raw.call("keep_drawing", [whole(d, 0), int(d["label"])])
            counts.append(len(answer.last[listing_at]["drawings"]) if answer.last else answer.error)
        nothing = download(raw)
        rows.append(row("6 no session", "/call/keep_drawing twice, then /call/download_drawings, no session_hash",
                        f"each keep's collection holds {counts} drawing(s); download: {nothing}",
                        "each call its own owner: 1 and 1, no file",
                        counts == [1, 1] and isinstance(nothing, str) and nothing.startswith("no file"),
                        id="no session: /call/ collection", counts=counts, download=nothing))
        rows.append(sessionless_training(raw))
    finally:
        raw.close()
    return rows


def stop_as(url: str, session: str | None) -> str:
    """What Stop (/run/stop) answers a client with the session id `session` (None: none sent)."""
    stopper = Raw(url, session)
    try:
        return plain(stopper.run("stop").json()["data"][0])
    finally:
        stopper.close()


def sessionless_training(raw: Raw) -> dict[str, Any]:
    """A training started by /call/train with no session: its owner is its own event, which nobody's Stop
    reaches but a Stop that names that event as its session."""
    sent = ("/call/train (mlp-50, 1 epoch), no session_hash; /run/stop with no session, then with its event id "
            "as the session")
    target = "its own owner: a sessionless Stop stops nothing, its event id stops it"
    started = raw.start("train", {"model": "mlp-50", "epochs": 1})  # the rest the recipe's own
    if started.status_code != 200:
        return row("6 no session", sent, f"HTTP {started.status_code}: {plain(started.text, 120)}", target,
                   False, id="no session: /call/train")
    event = started.json()["event_id"]
    follower, stream = Raw(raw.url), []  # its stream read in a thread, on a connection of its own
    reader = threading.Thread(daemon=True, target=lambda: stream.append(follower.follow("train", event)))
    reader.start()
    try:
        began = wait_until(lambda: not training_slot_free(raw) or bool(stream), 120, 0.2, "the training never began")
        anyone, itself = stop_as(raw.url, None), stop_as(raw.url, event)
        reader.join(timeout=120)
        freed = wait_until(lambda: training_slot_free(raw), 60, 0.2, "the slot stayed taken")
    except AssertionError as exc:
        return row("6 no session", sent, plain(exc, 200), target, False, id="no session: /call/train")
    finally:
        follower.close()
    last = stream[0].last if stream else None
    ended = plain(last[TRAIN_OUTPUTS.index("status")], 160) if last else "no end seen"
    ok = bool(began) and "No training of yours" in anyone and "Stopping" in itself and freed
    return row("6 no session", sent, f"trained as its own owner; sessionless stop: \"{anyone}\"; stop as its event: "
                                     f"\"{itself}\"; it ended: {ended}; slot free after", target, ok,
               id="no session: /call/train", stop_without_session=anyone, stop_as_event=itself, ended=ended)


# ---------------------------------------------------------------- the whole run

def run_suite(url: str, pid: int | None, files_root: Callable[[], Path | None], seconds: float = 30,
              visitors: int = 10, log: Callable[[str], None] = print, after_training: bool = False) -> dict[str, Any]:
    """Every case against the server at `url` (its process `pid`, None if not known; its visitors' files under
    `files_root()`, None if not visible) with its memory sampled throughout; {"rows": [...], "figures": {...}}."""
    started = time.time()
    with MemorySampler(pid) if pid else nullcontext() as sampler:
        rows, figures = cases(url, files_root, seconds, visitors, pid, log, after_training)
        hwm = sampler.hwm_kb() / 1024 if sampler else None
    if sampler:
        peak = sampler.peak_kb / 1024
        rows.append(row("4 memory", f"server RSS (process {pid} and its children) every 0.2 s, the whole run",
                        f"peak {peak:.0f} MB over {sampler.processes} process(es); VmHWM {hwm:.0f} MB",
                        f"< {RSS_TARGET_MB} MB", peak < RSS_TARGET_MB, id="memory", peak_rss_mb=round(peak, 1),
                        vmhwm_mb=round(hwm, 1), processes=sampler.processes))
    else:
        rows.append(row("4 memory", "server RSS", "not measured: the server's process was not found (--pid)",
                        f"< {RSS_TARGET_MB} MB", False, id="memory"))
    rows.sort(key=lambda r: r["case"][0])  # by case; stable: in the order tried within one
    return {"rows": rows, "figures": {**figures, "wall_s": round(time.time() - started, 1)}}


def cases(url: str, files_root: Callable[[], Path | None], seconds: float, visitors: int, pid: int | None,
          log: Callable[[str], None], after_training: bool = False) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The cases in turn: refusals, heartbeats, the flood, calls without a session, then the readings after.
    `after_training`: the calls without a session (one trains) before the flood, which then starts as the
    training ends, without waiting for the server to settle."""
    digits = digits_to_draw(per_label=1)  # one held-out digit of each label: prefixes, then the whole
    reader = PageVisitor(url)
    try:
        quiet = readings(reader, digits, 1)
        right = [i for i, d in enumerate(digits) if quiet[i] == d["label"]]
        if not right:
            raise RuntimeError(f"the quiet server read none of the held-out digits right: {quiet}")
        log(f"quiet server: {len(right)}/{len(digits)} held-out digits read right")
        rows = refusals(url, digits, right[0])
        log("refusals: " + ", ".join(f"{r['sent']}: {'ok' if r['passed'] else 'FAILED'}" for r in rows))
        rows += heartbeat_trick(url, digits, files_root, log)
        if after_training:
            rows += sessionless(url, digits)
        settled = 0.0 if after_training else settle(pid)
        log(f"flood: {visitors} visitors and a flooder for {seconds:.0f} s (after {settled:.1f} s for the server "
            "to settle)…")
        flood_rows, flood_figures = flood(url, digits, quiet, seconds, visitors, pid)
        flood_figures["settled_s"] = round(settled, 1)
        rows += flood_rows
        if not after_training:
            rows += sessionless(url, digits)  # it trains: after the flood, unless its end is what is measured
        after = readings(reader, digits, 5000)
    finally:
        reader.close()
    still_right = all(after[i] == digits[i]["label"] for i in right)
    rows.append(row("5 afterwards", "each held-out digit drawn whole to /predict",
                    f"{sum(a == d['label'] for a, d in zip(after, digits))}/{len(digits)} read right (the quiet "
                    f"server before: {len(right)}/{len(digits)}); {sum(a != q for a, q in zip(after, quiet))} "
                    "answers changed", "every digit read right before still read right, no answer changed",
                    still_right and after == quiet, id="read right after", before=quiet, after=after))
    return rows, {"flood": flood_figures, "held_out_labels": [d["label"] for d in digits]}


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    def cell(text: Any) -> str:
        return plain(text, 600).replace("|", "\\|")

    lines = ["| case | what was sent | result | target | pass |", "|---|---|---|---|---|"]
    for r in rows:
        mark = "–" if r["passed"] is None else ("yes" if r["passed"] else "**NO**")
        lines.append(f"| {cell(r['case'])} | {cell(r['sent'])} | {cell(r['result'])} | {cell(r['target'])} | {mark} |")
    return "\n".join(lines)


def listening_pid(url: str) -> int | None:
    """The process listening on a loopback URL's port (from /proc), if it runs on this machine."""
    parts = urlsplit(url)
    if parts.hostname not in LOOPBACK or not parts.port:
        return None
    sockets = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == parts.port:  # 0A: LISTEN
                sockets.add(f"socket:[{f[9]}]")
    owners = set()
    for fd in Path("/proc").glob("[0-9]*/fd/*"):
        try:
            if os.readlink(fd) in sockets:
                owners.add(int(fd.parts[2]))
        except OSError:
            pass
    return min(owners, default=None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.abuse", description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running server (default: start `python app.py` on a loopback port)")
    parser.add_argument("--pid", type=int, help="the --url server's process, for its memory (default: found by port)")
    parser.add_argument("--seconds", type=float, default=30, help=f"the flood's length (at most {MAX_SECONDS})")
    parser.add_argument("--visitors", type=int, default=10, help=f"visitors drawing (at most {MAX_VISITORS})")
    parser.add_argument("--weights", type=Path, default=Weights.DEFAULT.file, help="the server's (when started)")
    parser.add_argument("--right-after-training", action="store_true",
                        help="start the flood as a training ends (the server then readies the next one)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="JSON file to write ('-' for none)")
    args = parser.parse_args(argv)
    if not 1 <= args.seconds <= MAX_SECONDS:
        parser.error(f"--seconds must be 1 to {MAX_SECONDS}")
    if not 1 <= args.visitors <= MAX_VISITORS:
        parser.error(f"--visitors must be 1 to {MAX_VISITORS}")
    if not os.environ.get("MNIST_DATA_DIR") and (REPO.parent / "shared" / "mnist").is_dir():
        os.environ["MNIST_DATA_DIR"] = str(REPO.parent / "shared" / "mnist")

    server = folder = None
    if args.url:
        url = args.url.rstrip("/") + "/"
        pid = args.pid or listening_pid(url)

        def files_root() -> Path | None:
            return None
    else:
        # The server's temporary files (the visitors' folders among them) in a folder of this run's.
        folder = Path(tempfile.mkdtemp(prefix="mnist_demo-abuse-"))
        server = start_server(args.weights, {"TMPDIR": str(folder)})
        url, pid = server.url, server.pid

        def files_root() -> Path | None:
            return next(folder.glob("mnist_demo-visitors-*"), None)
    try:
        if server:
            print(f"server up in {wait_until_up(server):.1f} s at {url} (pid {pid}, log {server.log})")
        report = run_suite(url, pid, files_root, args.seconds, args.visitors, after_training=args.right_after_training)
    finally:
        if server:
            stop_server(server)
        if folder:
            shutil.rmtree(folder, ignore_errors=True)
    rows = report["rows"]
    print()
    print(markdown_table(rows))
    failed = [r["id"] for r in rows if r["passed"] is False]
    print(f"\n{len(failed)} of {sum(r['passed'] is not None for r in rows)} targets missed"
          + (": " + ", ".join(failed) if failed else "") + f"; the run took {report['figures']['wall_s']:.0f} s")
    if str(args.out) != "-":
        from importlib.metadata import version

        report = {"date": datetime.date.today().isoformat(), "app": app_version(),
                  "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                              "python": platform.python_version(), "gradio": version("gradio")},
                  "server": "started: python app.py" if server else url, "seconds": args.seconds,
                  "visitors": args.visitors, "right_after_training": args.right_after_training, "targets_missed": failed, **report}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1, default=str) + "\n")
        print(f"wrote {args.out}")
    return 1 if failed else 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt  # SIGTERM too: unwind through main's finally, which stops the server


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        code = main()
    except KeyboardInterrupt:  # the server was stopped by main's finally
        code = 130
    raise SystemExit(code)
