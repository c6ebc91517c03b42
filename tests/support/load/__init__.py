"""The load generator behind `benchmarks/load.py` and `tests/test_load.py`: many visitors drawing at once.

- `visitors`: what a visitor draws, how it calls /predict (gradio_client or the page's way), how an
  answer is checked, and the load-generator processes the visitors run in.
- `training`: the one more client that keeps a training running on the server.
- `server`: the app as a separate process on a loopback port, and its memory and CPU from /proc.
- `stats`: percentiles and the counts of one scenario's calls.
- `scenario`: one scenario end to end (a server, the visitors for D seconds, the numbers).

docs/load.md describes the benchmark and its columns.
"""
