"""Stand-ins for work the app does in the background, run in the process it starts (module-level, so that a
forkserver's child can import them)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

NOTE = "drawn-ahead.txt"  # written beside the weights the work was given


def note_drawing_ahead(weights: Path, settings: Any) -> None:
    """`finetune.draw_ahead`'s stand-in: appends a line (its process, its niceness, what it was given) to NOTE
    beside `weights`."""
    with open(Path(weights).parent / NOTE, "a") as f:
        f.write(f"{os.getpid()} {os.getpriority(os.PRIO_PROCESS, 0)} {Path(weights).name} {settings!r}\n")
