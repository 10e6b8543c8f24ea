"""Synthetic image generators for tests and benchmarks (no binary fixtures)."""
