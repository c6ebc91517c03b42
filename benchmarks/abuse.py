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

The cases live in benchmarks/abuse_requests.py (1, 2, 6) and benchmarks/abuse_flood.py (3), their client
in benchmarks/abuse_client.py. tests/test_training_limits.py, test_security.py and test_visitor_files.py try
each of these in-process; tests/test_abuse.py runs this suite small against a test server. Bounded: loopback
only when it starts the server, at most 120 s of flood and 32 visitors; the server it started is always
stopped, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable, Sequence
from urllib.parse import urlsplit

from benchmarks.abuse_client import plain, readings, row
from benchmarks.abuse_flood import flood, settle
from benchmarks.abuse_requests import heartbeat_trick, refusals, sessionless
from benchmarks.load import app_version
from mnist_demo.reading.weights import Weights
from tests.support.load.server import LOOPBACK, MemorySampler, start_server, stop_server, wait_until_up
from tests.support.load.visitors import PageVisitor, digits_to_draw
from tests.support.servers import REPO

RESULTS = REPO / "benchmarks" / "results" / "abuse.json"
MAX_SECONDS, MAX_VISITORS = 120, 32
RSS_TARGET_MB = 4096


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
                  "visitors": args.visitors, "right_after_training": args.right_after_training,
                  "targets_missed": failed, **report}
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
