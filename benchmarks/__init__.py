"""Benchmarks: `make bench` prints figures and ratios measured side by side."""
