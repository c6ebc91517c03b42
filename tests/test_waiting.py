"""`wait_until`, the tests' one way to wait: it returns what the condition found, and fails saying what it saw."""

from __future__ import annotations

import threading

import pytest

from tests.support.waiting import wait_until


def test_it_returns_the_first_truthy_value_the_condition_gives():
    seen = iter([None, 0, "", [], ["ready"]])
    assert wait_until(lambda: next(seen), timeout=5, interval=0) == ["ready"]


def test_it_waits_for_another_thread_and_no_longer():
    done = threading.Event()
    threading.Timer(0.1, done.set).start()
    assert wait_until(done.is_set, timeout=10, interval=0.01) is True


def test_on_timeout_it_fails_with_the_message_and_what_it_last_saw():
    calls = []

    def never() -> int:
        calls.append(1)
        return 0

    with pytest.raises(AssertionError, match=r"^the lamp stayed off \(waited 0.2 s; last saw 0\)$"):
        wait_until(never, timeout=0.2, interval=0.01, message="the lamp stayed off")
    assert len(calls) >= 2  # polled, not called once


def test_a_message_can_be_worked_out_when_the_wait_fails():
    state = {"tries": 0}

    def never() -> bool:
        state["tries"] += 1
        return False

    with pytest.raises(AssertionError, match=r"tried \d+ times"):
        wait_until(never, timeout=0.1, interval=0.01, message=lambda: f"tried {state['tries']} times")


def test_an_exception_in_the_condition_ends_the_wait_at_once():
    def exited() -> bool:
        raise RuntimeError("the server exited")

    with pytest.raises(RuntimeError, match="the server exited"):
        wait_until(exited, timeout=60)
