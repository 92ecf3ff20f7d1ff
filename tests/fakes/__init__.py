"""Fake provider servers that tests (and benchmarks) start on random local ports."""
