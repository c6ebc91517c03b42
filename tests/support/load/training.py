"""The training visitor: one more client that keeps a long training running on the server, then stops it."""

from __future__ import annotations

import re
import time

from tests.support.load.visitors import make_client
from tests.support.waiting import wait_until

TRAIN_MODEL, TRAIN_EPOCHS = "fastnet", 20  # the Train tab's default model, long enough to outlast a run
PROGRESS_RE = re.compile(r"Epoch (\d+)/\d+: batch (\d+)/(\d+)")


class Training:
    """One more client that trains `model` for `epochs` (no pen digits), from its first progress until stopped."""

    def __init__(self, url: str, model: str = TRAIN_MODEL, epochs: int = TRAIN_EPOCHS) -> None:
        self.model, self.epochs = model, epochs
        self.client = make_client(url)
        self.job = self.client.submit(model=model, epochs=epochs, pen_digits="no", api_name="/train")

    def progress(self) -> tuple[int, int, int] | None:
        """(epoch, batch, batches per epoch) of the latest progress streamed, None before the first."""
        for output in reversed(self.job.outputs()):
            m = PROGRESS_RE.search(str(output[0]))
            if m:
                return int(m.group(1)), int(m.group(2)), int(m.group(3))
        return None

    def wait_started(self, timeout: float = 300.0) -> float:
        """Seconds until the training streams its first progress; raises if it ends first or takes too long."""
        started = time.time()

        def progressed() -> bool:
            if self.progress() is not None:
                return True
            if self.job.done():
                raise RuntimeError(f"the training ended before its first batch: {self.job.outputs()[-1:]}")
            return False

        wait_until(progressed, timeout, interval=0.1, message="no training progress")
        return time.time() - started

    def stop(self) -> str:
        """Stop it (/stop from the same session) and wait for its end; returns its last status line."""
        try:
            self.client.predict(api_name="/stop")
            return str(self.job.result(timeout=120)[1])
        except Exception as exc:  # noqa: BLE001
            return f"{type(exc).__name__}: {exc}"
        finally:
            self.client.close()


def batches_between(a: tuple[int, int, int] | None, b: tuple[int, int, int] | None) -> int:
    if a is None or b is None:
        return 0
    return (b[0] - a[0]) * a[2] + b[1] - a[1]
