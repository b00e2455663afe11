"""Benchmarks: each module one command that prints a table and writes JSON (results in the README)."""

import json
import os


def write_json(path, results):
    """Writes a benchmark's results, creating the folder."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(results, f, indent=2)
