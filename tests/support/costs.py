"""What a piece of work costs: this thread's CPU time, which a busy machine does not inflate as it does wall time;
and what a drawing holds in memory."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from mnist_demo.reading.sketch import Sketch


def cpu_ms(work: Callable[[], object]) -> float:
    """This thread's CPU time for `work()`, ms: what it costs, not what it waited for a core."""
    start = time.thread_time()
    work()
    return 1e3 * (time.thread_time() - start)


def held_bytes(sketch: Sketch) -> int:
    """What a sketch holds in memory: its strokes, their points (an array's size counts the data it owns)."""
    return sys.getsizeof(sketch) + sys.getsizeof(vars(sketch)) + sys.getsizeof(sketch.strokes) + sum(
        sys.getsizeof(s) + sys.getsizeof(vars(s)) + sys.getsizeof(s.points) for s in sketch.strokes)
