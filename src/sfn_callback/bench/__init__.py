"""Benchmarks of the reference system on a target (the local cloud by default)."""
