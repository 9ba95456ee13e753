"""Interleaved timing of several callables in one process."""

from __future__ import annotations

import argparse
import platform
import statistics
import time


def interleaved(callables: dict, repeats: int = 30, warmup: int = 3) -> dict:
    """Run each callable ``warmup`` times, then ``repeats`` rounds, interleaved.

    Interleaving makes every contender see the same machine state (other
    load, clock boosts), so their ratio is fair even on a shared machine.
    Returns ``{name: {"min": s, "median": s}}``.
    """
    for fn in callables.values():
        for _ in range(warmup):
            fn()
    samples = {name: [] for name in callables}
    for _ in range(repeats):
        for name, fn in callables.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return {name: {"min": min(s), "median": statistics.median(s)} for name, s in samples.items()}


def machine_header(**versions) -> str:
    parts = [f"{platform.machine()} {platform.processor() or ''}".strip(),
             f"Python {platform.python_version()}"]
    parts += [f"{name} {version}" for name, version in versions.items()]
    return " | ".join(parts)


def batch_parser(doc: str) -> argparse.ArgumentParser:
    """Parser with the batch options every benchmark takes: --rows, --n, --repeats."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=30)
    return parser
