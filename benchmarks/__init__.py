"""Kernel and quality benchmarks (not installed; run from the repository)."""
