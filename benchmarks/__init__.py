"""Benchmarks: each runs as a module from the repository root, e.g. `python -m benchmarks.load`.

They share helpers with the tests (`tests.support`); results go to benchmarks/results/.
"""
