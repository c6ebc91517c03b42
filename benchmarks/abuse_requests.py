"""The abuse suite's cases of single requests (benchmarks/abuse.py): 1. absurd trainings, 2. heartbeats closed in
someone else's name, 6. calls without a session. Each returns rows of the suite's table.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Sequence
from urllib.parse import quote

import httpx

from benchmarks.abuse_client import (
    Answer,
    Raw,
    download,
    keep,
    plain,
    read,
    row,
    stop_as,
    training_slot_free,
    whole,
)
from mnist_demo.app.collecting import COLLECTION_OUTPUTS
from mnist_demo.app.outputs import TRAIN_OUTPUTS
from mnist_demo.app.visitor_files import folder_name
from tests.support.load.visitors import CALL_TIMEOUT, PageVisitor
from tests.support.waiting import wait_until

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
    # os.walk, not rglob: a folder the server deletes while it is walked is skipped, not an error (rglob
    # raised FileNotFoundError once in CI as a visitor's folder went).
    paths = sorted(Path(folder, name) for folder, _, names in os.walk(root) for name in names)
    for p in paths:
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

