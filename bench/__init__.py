"""Benchmarks: what the router costs, each figure as a ratio against a baseline of the same run."""
