"""Helpers for this project's tests and benchmarks, not for the app: import them, never a test module.

Benchmarks import them too, so they run as modules from the repository root (`python -m benchmarks.load`).

- `servers`: the app served from this process for a test, its settings, a free port, the repository's paths.
- `drawings`: digits of held-out writers (no model trained on them), as the Draw tab's pad sends them and samples
  a pen; drawings at every limit of the pad's value.
- `images`: bad and unusual image files (truncated, headers only, odd modes) of a drawn 7.
- `sketchpads`: drawings as a `gr.Sketchpad` hands them over (background, layers, composite).
- `browser`: Debian's Chromium through Playwright, and strokes drawn on a page by mouse or finger.
- `costs`: what a piece of work costs in CPU time (a busy machine inflates wall time), what a drawing holds.
- `waiting`: `wait_until`, the one way a test waits for something to happen (never a bare sleep).
- `load`: `benchmarks/load.py`'s load generator: simulated visitors, the server process, statistics.

Nothing in the app (`mnist_demo`) imports this package; it is not shipped with it.
"""
