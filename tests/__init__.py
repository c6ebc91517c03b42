"""The tests: a package, so that they and the benchmarks import the helpers in `tests.support`."""
