"""Benchmarks: ``make bench`` (``python -m benchmarks``) prints a table, writes results.json."""
