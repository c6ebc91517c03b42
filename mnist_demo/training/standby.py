"""Processes of our own for trainings: forked from a forkserver, each started before its training is asked for.

A training forked when a visitor clicks Train would first import what it needs
and load MNIST: seconds of an empty plot. A `Standby` does that beforehand and
waits for its one job; `NextProcess` keeps one standing by for the next
training. Events come back through a queue; a `StopFile` stops a job from the
parent at any time, and the job's last events (the kept model) still come back.
"""

from __future__ import annotations

import inspect
import multiprocessing
import os
import queue
import threading
import time
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Callable, Iterator


@dataclass(frozen=True)
class StopFile:
    """A stop signal two processes share: set once the file exists (what `train` asks of `stop`)."""

    path: Path

    def set(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch()

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)

    def is_set(self) -> bool:
        return os.path.exists(self.path)


class Stop:
    """A stop for a training in this process (an event) or in another (a `StopFile`), set by its visitor or by
    a deadline (`expire`: `expired` then says so)."""

    def __init__(self, path: Path) -> None:
        self.event = threading.Event()
        self.file = StopFile(path)
        self.file.clear()
        self.expired = False

    def set(self) -> None:
        self.event.set()
        self.file.set()

    def expire(self) -> None:
        self.expired = True
        self.set()


@dataclass(frozen=True)
class Failure:
    """An exception in the training process, as the parent can show it."""

    kind: str
    message: str


def _child(events: Any, received: Any, worker: Callable[..., Iterator[Any]], args: tuple[Any, ...],
           kwargs: dict[str, Any]) -> None:
    try:
        for event in worker(*args, **kwargs):
            events.put(event)
    except BaseException as exc:  # noqa: BLE001 - whatever it was, the parent says so and frees the slot
        events.put(Failure(type(exc).__name__, str(exc)))
    finally:
        events.put(None)
        # torch sends a tensor through a queue as a handle to this process's memory: stay until the
        # parent has taken the last events (the kept model), or it finds nothing there.
        received.wait(timeout=60)


_CONTEXT: Any = None


def _context() -> Any:
    """A forkserver: children forked from a clean interpreter that has imported torch once (fast starts,
    no inherited thread pool)."""
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = multiprocessing.get_context("forkserver")
        _CONTEXT.set_forkserver_preload(["mnist_demo.training.remote"])
    return _CONTEXT


def start_training_server() -> None:
    """Start the forkserver the trainings will be forked from now, at this process's priority.

    A web server that lowers its own priority afterwards (`os.nice`) leaves its trainings at the
    priority it had: readings then yield the CPU to a training, not the other way round.
    """
    from multiprocessing import forkserver

    _context()
    forkserver.ensure_running()


class TrainingProcessFailed(RuntimeError):
    """The training process raised, or died; the message says what happened."""


@dataclass(frozen=True)
class _Ready:
    """A standby's word that it has preloaded and waits for its job."""


PRELOAD_NICENESS = 19  # the lowest priority: a standby preloads with what the CPUs leave over


def _quietly(job: Callable[..., Any], args: tuple[Any, ...]) -> None:
    """`job(*args)`, work done ahead of need: its failure (e.g. no MNIST or no pen digits here) is left to whoever
    needs the work, which meets the same and says so."""
    try:
        job(*args)
    except Exception:  # noqa: BLE001
        pass


def _preload_quietly(preload: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), PRELOAD_NICENESS)
    except (OSError, AttributeError):  # not Linux (niceness is the whole process's there): at its own priority
        pass
    _quietly(preload, args)


def _in_background(job: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        os.nice(PRELOAD_NICENESS)  # the whole process: it does nothing else
    except OSError:
        pass
    _quietly(job, args)


def in_background(job: Callable[..., Any], *args: Any, name: str = "mnist_demo-background") -> BaseProcess:
    """Run `job(*args)` (a module-level function) in a process of its own at the lowest priority, ended when
    this process exits; returns the process (started).

    Not in a thread: work that runs torch in a daemon thread when the interpreter exits aborts the whole
    process on Python < 3.14 ("terminate called without an active exception"), and a thread of a web server
    takes its readings' turns at the GIL."""
    process = _context().Process(target=_in_background, args=(job, args), name=name, daemon=True)
    process.start()
    return process


def _standby(events: Any, received: Any, jobs: Any, preload: Callable[..., Any] | None,
             preload_args: tuple[Any, ...]) -> None:
    """A standby process: preload, say so, wait for its one job (or None: not needed), run it."""
    if preload is not None:
        # In a thread of the lowest priority: a standby started as a training ends would otherwise take a core
        # from the web server (niced below its trainings) for a second or two, stalling every visitor's reading.
        # Linux sets niceness per thread, so the training that follows in this thread keeps the process's.
        loading = threading.Thread(target=_preload_quietly, args=(preload, preload_args), daemon=True)
        loading.start()
        loading.join()
    events.put(_Ready())
    forkserver = os.getppid()
    while True:
        try:
            job = jobs.get(timeout=5.0)
            break
        except queue.Empty:
            if os.getppid() != forkserver:  # the server is gone (its forkserver with it): nobody will ask
                return
    if job is not None:
        _child(events, received, *job)


class Standby:
    """A process for one training, started before the training is asked for.

    Forked from the forkserver (torch imported), it runs `preload(*args)` (e.g.
    `training.data.preload_mnist`, whose MNIST the training then finds loaded)
    and waits; `run` hands it its job and streams the job's events back. A
    standby that is not needed is `close`d. One job each: a training leaves
    nothing behind for the next.
    """

    def __init__(self, preload: Callable[..., Any] | None = None, *args: Any) -> None:
        ctx = _context()
        self._events, self._received, self._jobs = ctx.Queue(), ctx.Event(), ctx.Queue()
        self._process = ctx.Process(target=_standby, name="mnist_demo-training", daemon=True,
                                    args=(self._events, self._received, self._jobs, preload, args))
        self._process.start()
        self._ready = False
        self._taken = False

    def ready(self, timeout: float = 0.0) -> bool:
        """Whether it has preloaded and waits for its job (waiting up to `timeout` seconds to know)."""
        if not self._ready and self._process.is_alive():
            try:
                self._ready = isinstance(self._events.get(timeout=timeout), _Ready)
            except queue.Empty:
                pass
        return self._ready

    @property
    def usable(self) -> bool:
        """Not given a job yet, and alive."""
        return not self._taken and self._process.is_alive()

    def close(self) -> None:
        """End it if it was never given a job (one that was ends with its job)."""
        if not self._taken:
            self._taken = True
            self._jobs.put(None)
        self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()

    def run(self, worker: Callable[..., Iterator[Any]], *args: Any, **kwargs: Any) -> Iterator[Any]:
        """`worker(*args, **kwargs)` in this process, its events streamed back.

        The worker (`training.remote.train_elsewhere`; `personal.assess.finetune_and_assess_elsewhere` for a
        visitor's fit) is a module-level function, so the child can import it, that takes a `stop_path` and
        yields portable events. Closing this generator early stops it (through the stop file) and waits for
        the process. Raises TrainingProcessFailed when the process raises or dies.
        """
        if self._taken:
            raise RuntimeError("a standby runs one job")
        self._taken = True
        stop_path = inspect.signature(worker).bind(*args, **kwargs).arguments["stop_path"]
        self._jobs.put((worker, args, kwargs))
        events, process = self._events, self._process
        try:
            while True:
                try:
                    event = events.get(timeout=1.0)
                except queue.Empty:
                    if not process.is_alive():
                        raise TrainingProcessFailed(f"the training process ended (exit code {process.exitcode})"
                                                    ) from None
                    continue
                if event is None:
                    self._received.set()
                    return
                if isinstance(event, Failure):
                    raise TrainingProcessFailed(f"{event.kind}: {event.message}")
                if not isinstance(event, _Ready):
                    yield event
        finally:
            StopFile(Path(stop_path)).set()
            # Read what it still sends (its last events, its kept model): a process whose queue is unread
            # cannot end, and the stop file ends its training within a batch.
            deadline = time.monotonic() + 30
            while process.is_alive() and time.monotonic() < deadline and not self._received.is_set():
                try:
                    if events.get(timeout=0.5) is None:
                        break
                except queue.Empty:
                    pass
            self._received.set()
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join()


class NextProcess:
    """One `Standby` kept ready for the next job: `restock` starts one (running `preload(*args)`) unless
    one waits already, `take` hands it over (or a new one, without the preload, when none waits)."""

    def __init__(self, preload: Callable[..., Any] | None = None, *args: Any) -> None:
        self._preload, self._args = preload, args
        self._standby: Standby | None = None
        self._lock = threading.Lock()

    def restock(self) -> None:
        with self._lock:
            if self._standby is None or not self._standby.usable:
                self._standby = Standby(self._preload, *self._args)

    def take(self) -> Standby:
        with self._lock:
            standby, self._standby = self._standby, None
        return standby if standby is not None and standby.usable else Standby()

    def ready(self) -> bool:
        """Whether a standby waits, its preload done."""
        with self._lock:
            return self._standby is not None and self._standby.ready()

    def close(self) -> None:
        with self._lock:
            standby, self._standby = self._standby, None
        if standby is not None:
            standby.close()
