"""The abuse suite's client (benchmarks/abuse.py): a script's calls over plain HTTP, and the helpers its cases share.

A `Raw` client posts JSON as a script writes it (NaN included, which gradio_client will not send), with a
session id of its choice or none; an `Answer` is what a /call/ streamed. Besides: a visitor's drawings kept
and downloaded, Stop in anyone's name, held-out digits read by /predict, and a row of the suite's table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import httpx

from mnist_demo.app.collecting import COLLECTION_OUTPUTS, DOWNLOAD_OUTPUTS
from mnist_demo.personal import loads
from tests.support.load.visitors import CALL_TIMEOUT, PageVisitor, check_answer, pad_json

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


# ---------------------------------------------------------------- what a visitor does: Stop, keep, download

def stop_as(url: str, session: str | None) -> str:
    """What Stop (/run/stop) answers a client with the session id `session` (None: none sent)."""
    stopper = Raw(url, session)
    try:
        return plain(stopper.run("stop").json()["data"][0])
    finally:
        stopper.close()


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
