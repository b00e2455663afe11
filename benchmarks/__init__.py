"""Benchmarks: each module one command that prints a table and writes JSON (results in the README)."""

import json
import os

import numpy as np


def write_json(path, results):
    """Writes a benchmark's results, creating the folder."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(results, f, indent=2)


def rounds_summary(rounds, key="seconds_per_step"):
    """Variants timed in several rounds (each round every variant once, in turn) -> one row per variant.

    On a shared or noisy machine the same process varies by a quarter from one
    run to the next, so a variant is compared with the first one within each
    round and the ratios' median is reported, beside the median, min and max.

    Args:
        rounds: list of {variant: {key: seconds, ...} or {"error": message}}.
        key: the timing to compare (lower is faster).

    Example:
    >>> rounds_summary([{"a": {"seconds_per_step": 2.0}, "b": {"seconds_per_step": 1.0}}])["b"]["speedup"]
    2.0
    """
    variants = list(rounds[0])
    first = variants[0]
    summary = {}
    for variant in variants:
        rows = [r[variant] for r in rounds]
        times = [row[key] for row in rows if key in row]
        if not times:
            summary[variant] = {"error": rows[0].get("error", "no timing")}
            continue
        speedups = [r[first][key] / r[variant][key] for r in rounds if key in r[first] and key in r[variant]]
        summary[variant] = {key: float(np.median(times)), "min": min(times), "max": max(times), "rounds": times,
                            "speedup": float(np.median(speedups)) if speedups else None}
    return summary
