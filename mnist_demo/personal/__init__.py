"""A visitor's own handwriting: the drawings they labelled, and a model fitted to them.

- `collection`: labelled drawings (the pad's strokes and a digit), their 28x28s;
  `collection_file`: the small file they download and upload again (`save`/`load`).
- `finetune`: fit a model to a collection through the one training engine
  (`finetune` yields the engine's events, `fit` returns the model, `finetune_elsewhere`
  runs in another process as the app's trainings do).
- `assess`: the visitor's accuracy before and after, on drawings kept out of the fit.
- `command`: `mnist-demo finetune --collection FILE`, the same from a shell.
"""

from mnist_demo.personal.collection import MAX_DRAWINGS, MAX_FILE_BYTES, Collection, CollectionError, Drawing
from mnist_demo.personal.collection_file import dumps, load, loads, save

__all__ = ["MAX_DRAWINGS", "MAX_FILE_BYTES", "Collection", "CollectionError", "Drawing", "dumps", "load", "loads",
           "save"]
