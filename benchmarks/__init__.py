"""Benchmarks with figures (not timed tests)."""
