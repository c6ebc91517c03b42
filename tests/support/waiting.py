"""Waiting for something to happen: poll the condition awaited, never sleep a guessed while.

A test that sleeps "long enough" for a thread to start or a file to change passes on a quiet machine and
fails on a busy one, or waits longer than it needs to. `wait_until` waits for the condition itself,
as long as it takes and no longer, and says what it last saw when it gives up.
"""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")

TIMEOUT = 30.0  # seconds: generous, for a busy 2-core machine; a condition that holds returns at once


def wait_until(condition: Callable[[], T], timeout: float = TIMEOUT, interval: float = 0.05,
               message: str | Callable[[], str] = "the condition did not hold") -> T:
    """Call `condition()` every `interval` seconds until it returns something truthy, and return that.

    After `timeout` seconds raises AssertionError: `message` (or what `message()` says then) and the
    value the condition last returned. An exception the condition raises goes through at once (a
    condition can so end the wait early, e.g. when the process it waits on has exited).
    `interval` may be 0 for a condition that blocks by itself (reading a line, a queue with a timeout).
    """
    deadline = time.monotonic() + timeout
    while True:
        seen = condition()
        if seen:
            return seen
        if time.monotonic() >= deadline:
            said = message() if callable(message) else message
            raise AssertionError(f"{said} (waited {timeout:g} s; last saw {seen!r})")
        time.sleep(interval)
