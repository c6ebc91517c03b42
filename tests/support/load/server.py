"""The app as a separate process for the load benchmark: started, awaited, stopped; its memory and CPU from /proc."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from tests.support.servers import REPO, answers, free_port, repo_on_path
from tests.support.waiting import wait_until

MAX_EPOCHS = 100  # the server lets a load run's training go on longer than any run
LOOPBACK = ("127.0.0.1", "localhost", "::1")
SAMPLE_EVERY = 0.2  # seconds between memory samples
# With any tweak (inference threads, predict concurrency, ...) the server is this module instead of app.py:
# the same page and settings, with the tweaks read from LOAD_* environment variables.
TWEAKED_SERVER = ["-m", "benchmarks.load_server"]
PLAIN_SERVER = ["app.py"]


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
    """The app's environment: loopback, the port, the weights, MNIST, room for a long training, and this
    checkout first on PYTHONPATH (benchmarks.load_server and the app are imported from it)."""
    env = repo_on_path()
    env.update({"GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
                "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_DISABLE_TELEMETRY": "1",
                "MNIST_DEMO_WEIGHTS": str(weights), "MNIST_DEMO_MAX_EPOCHS": str(MAX_EPOCHS),
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
    """`python app.py` (or `python -m benchmarks.load_server`, with tweaks), run in the repository, in its own
    process group on a free loopback port."""
    tweaks, extra_env = tweaks or {}, extra_env or {}
    port = free_port()
    env = server_env(port, weights, extra_env, tweaks)
    args = TWEAKED_SERVER if any(tweaks.values()) else PLAIN_SERVER
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="mnist_demo-load-"))
    log = log_dir / f"server-{port}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, *args], cwd=REPO, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    shown = {k: v for k, v in env.items() if k.startswith(("MNIST_", "GRADIO_", "LOAD_", "OMP_", "MKL_"))
             or k in extra_env}
    return Server(process, f"http://127.0.0.1:{port}/", log, ["python", *args], shown)


def wait_until_up(server: Server, timeout: float = 120.0) -> float:
    """Seconds until the server's page answers; raises if it exits or takes longer than `timeout`."""
    started = time.time()

    def up() -> bool:
        if server.process.poll() is not None:
            raise RuntimeError(f"the server exited ({server.process.returncode}):\n{tail(server.log)}")
        return answers(server.url)

    wait_until(up, timeout, interval=0.2, message=lambda: f"the server did not answer:\n{tail(server.log)}")
    return time.time() - started


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
