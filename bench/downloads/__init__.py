"""Helpers of bench/bench_downloads.py: the two clip sets and the memory sampler."""
