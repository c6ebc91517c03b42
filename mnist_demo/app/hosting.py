"""Where the app runs: a ZeroGPU Space, other Spaces hardware, or a laptop.

On ZeroGPU hardware Hugging Face sets SPACES_ZERO_GPU=true and the `spaces`
package gives a GPU only inside functions decorated with `spaces.GPU`, for at
most the duration the decorator asks for (60 s by default, a few minutes at
most; each visitor has a daily quota of GPU time). There, a training runs in
such a function (`training.remote.train_elsewhere`, in a worker process) with
a duration that fits the epochs asked for; readings stay on the CPU and spend
no quota. Anywhere else `spaces.GPU` returns the function as it is
(spaces/zero/decorator.py), and the app trains in its own process as always.
"""

from __future__ import annotations

import math
import os
from typing import Any, Callable, Iterator, Mapping

from mnist_demo.training.budget import estimated_steps, pen_samples
from mnist_demo.training.engine import TrainConfig
from mnist_demo.training.remote import train_elsewhere

ZERO_GPU_ENV = "SPACES_ZERO_GPU"
MAX_GPU_SECONDS = 300  # the most ZeroGPU grants one call (less for visitors who are not logged in)
SETUP_SECONDS = 20  # worker start, CUDA, loading MNIST
PEN_RENDER_SECONDS = 1.5e-3  # CPU time to place and preprocess one pen digit
STEP_SECONDS = 4e-3  # a training step of a small CNN on a ZeroGPU slice, with room to spare
MARGIN = 1.5


def on_zerogpu(env: Mapping[str, str] | None = None) -> bool:
    """True on a ZeroGPU Space (read as the `spaces` package reads it)."""
    env = os.environ if env is None else env
    return env.get(ZERO_GPU_ENV, "").lower() in ("1", "t", "true")


def estimated_gpu_seconds(config: TrainConfig, train_limit: int | None = None) -> int:
    """What a training should need on a ZeroGPU slice, with a margin (not capped)."""
    recipe = config.resolved_recipe()
    steps = estimated_steps(recipe, train_limit)
    # A small uploaded picture takes about as long to draw as a pad rendering.
    drawings = pen_samples(recipe) + recipe.uploads
    return math.ceil(SETUP_SECONDS + drawings * PEN_RENDER_SECONDS + MARGIN * steps * STEP_SECONDS)


def gpu_seconds(config: TrainConfig, data_dir: str | None = None, stop_path: str = "",
                train_limit: int | None = None, test_limit: int | None = None) -> int:
    """How long to ask ZeroGPU for: the estimate, at most MAX_GPU_SECONDS.

    Takes `train_elsewhere`'s arguments, as `spaces.GPU(duration=...)` calls it with them.
    """
    return min(MAX_GPU_SECONDS, estimated_gpu_seconds(config, train_limit))


def gpu_training(env: Mapping[str, str] | None = None) -> Callable[..., Iterator[Any]] | None:
    """`train_elsewhere` inside `spaces.GPU` on a ZeroGPU Space; None elsewhere (train in this process)."""
    if not on_zerogpu(env):
        return None
    import spaces  # there on every ZeroGPU Space; only imported there

    return spaces.GPU(train_elsewhere, duration=gpu_seconds)
