"""Synthetic labelled corpus for the PII scanner (generator with a fixed seed; no data files)."""
