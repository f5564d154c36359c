#!/usr/bin/env python3
"""Iteration speed of the Python package (issue 15's target: 1M records at >= 5M/s).

    python bench/iterate.py [N]          (N records, default 1,000,000)

Builds a cache of N messages (UIDs 3, 6, 9, ...; every 7th with FLAGS and MODSEQ) in a
temporary directory, closes it and opens it read-only (a client reading what it synced),
then times each figure (CPU time of the process) in 7 interleaved rounds and keeps each
one's best (the machine is shared: interleaving exposes every figure to the same load):
- list:      `for r in rows: pass` over a Python list of the same N tuples (baseline 1:
             the fastest any Python iteration over N objects can be);
- genexpr:   `for r in ((i, 3 * i, None, None) for i in ...): pass` (baseline 2: what
             making an equivalent tuple per record costs in Python itself);
- range:     `for r in cache.messages(): pass`;
- unpack:    `for seq, uid, flags, modseq in cache.messages(): pass`;
- columns:   `cache.columns()` (four array.array columns, no object per record);
- message_at: `cache.message_at(seq)` for 100,000 sequence numbers (point lookups).
Prints records per second and each figure's ratio to the baseline.
"""

from __future__ import annotations

import sys
import tempfile
import time

import uidcache


def timed(f) -> tuple[float, float]:
    """CPU seconds of this process, and wall seconds: on a shared machine, wall time also
    counts the time other processes held the CPU."""
    cpu, wall = time.process_time(), time.perf_counter()
    f()
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory() as d:
        with uidcache.Cache.open(d, durable=False) as cache:
            with cache.transaction() as tx:
                tx.set_uidvalidity(1)
                tx.set_exists(n)
                tx.learn_range(1, list(range(3, 3 * n + 1, 3)))
                for seq in range(1, n + 1, 7):
                    tx.update_seq(seq, flags=["\\Seen"], modseq=seq)
        with uidcache.Cache.open(d, readonly=True) as cache:
            rows = list(cache.messages())
            assert len(rows) == n

            def over_list() -> None:
                for _r in rows:
                    pass

            def genexpr() -> None:
                for _r in ((i, 3 * i, None, None) for i in range(1, n + 1)):
                    pass

            def over_range() -> None:
                for _r in cache.messages():
                    pass

            def unpacking() -> None:
                for _seq, _uid, _flags, _modseq in cache.messages():
                    pass

            def columns() -> None:
                assert len(cache.columns()) == n

            lookups = min(n, 100_000)
            step = max(1, n // lookups)

            def message_at() -> None:
                for seq in range(1, lookups * step + 1, step):
                    cache.message_at(seq)

            figures = [
                ("list", over_list, n),
                ("genexpr", genexpr, n),
                ("range", over_range, n),
                ("unpack", unpacking, n),
                ("columns", columns, n),
                ("message_at", message_at, lookups),
            ]
            best = {name: float("inf") for name, _, _ in figures}
            wall = dict(best)
            for _ in range(7):
                for name, f, _ in figures:
                    cpu, w = timed(f)
                    best[name] = min(best[name], cpu)
                    wall[name] = min(wall[name], w)
            per_list = best["list"] / n
            per_gen = best["genexpr"] / n
            print(f"records: {n:,} (CPU time; wall-clock M/s in the last column)")
            print(
                f"{'what':<12}{'seconds':>10}{'M/s':>9}{'x list':>9}{'x genexpr':>11}"
                f"{'wall M/s':>10}"
            )
            for name, _, count in figures:
                t = best[name]
                per = t / count
                print(
                    f"{name:<12}{t:>10.4f}{count / t / 1e6:>9.2f}"
                    f"{per / per_list:>9.2f}{per / per_gen:>11.2f}"
                    f"{count / wall[name] / 1e6:>10.2f}"
                )


if __name__ == "__main__":
    main()
