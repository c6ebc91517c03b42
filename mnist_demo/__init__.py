"""mnist_demo: draw a digit, let networks trained on MNIST read it, retrain one live.

The library does all the work; `app.py` (Gradio) and `python -m mnist_demo` (CLI)
are thin front ends over it. In Python:

    from mnist_demo import Reader, Weights, parse_sketch, train, TrainConfig
    reader = Weights.DEFAULT.load()                       # the Draw tab's reader
    reader.read(parse_sketch(pad_json)).message           # "Looks like a 7"
    for event in train(TrainConfig(model="fastnet")): ... # the one training engine

The subpackages stack in one direction, each importing only those below it:
`base` (MNIST's format, the stroke features, the recipe, statuses), `models`
(the registry, the weights file format), `reading` (a drawing to an answer),
`handwriting` (pen digits and how drawings vary), `training`, `personal` (a
visitor's own drawings), then `app` and `cli`.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# The public names, imported when first used: `import mnist_demo` stays light.
_EXPORTS = {
    "Reader": "mnist_demo.reading.reader",
    "Prediction": "mnist_demo.reading.reader",
    "Calibration": "mnist_demo.reading.calibration",
    "Weights": "mnist_demo.reading.weights",
    "parse_sketch": "mnist_demo.reading.sketch",
    "Sketch": "mnist_demo.reading.sketch",
    "preprocess": "mnist_demo.reading.preprocess",
    "Status": "mnist_demo.base.status",
    "Recipe": "mnist_demo.base.recipe",
    "train": "mnist_demo.training.engine",
    "TrainConfig": "mnist_demo.training.engine",
    "REGISTRY": "mnist_demo.models.registry",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'mnist_demo' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
