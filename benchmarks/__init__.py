"""Benchmarks: each module one command that prints a table and writes JSON (results in the README)."""
