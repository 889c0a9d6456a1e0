"""Benchmarks that measure the fork and the unpatched base side by side, in one run."""
