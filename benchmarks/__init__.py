"""Benchmarks users can run (`gap bench ...`); results go to benchmarks/results/."""
