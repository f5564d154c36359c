#!/usr/bin/env python3
"""Iteration speed of the Python package (issue 15's target: 1M records at >= 5M/s).

    python bench/iterate.py [N]          (N records, default 1,000,000)

Builds a cache of N messages (UIDs 3, 6, 9, ...; every 7th with FLAGS and MODSEQ) in a
temporary directory, then times, best of 5 runs each:
- list:      `for r in rows: pass` over a Python list of the same N tuples (the baseline:
             the fastest any Python iteration over N objects can be);
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


def best(f, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


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
            rows = list(cache.messages())
            assert len(rows) == n

            def over_list() -> None:
                for _r in rows:
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

            base = best(over_list)
            print(f"records: {n:,}")
            print(f"{'what':<12}{'seconds':>10}{'M records/s':>14}{'x baseline':>12}")
            for name, f, count in [
                ("list", over_list, n),
                ("range", over_range, n),
                ("unpack", unpacking, n),
                ("columns", columns, n),
                ("message_at", message_at, lookups),
            ]:
                t = best(f)
                per = t / count
                print(
                    f"{name:<12}{t:>10.4f}{count / t / 1e6:>14.2f}{per / (base / n):>12.2f}"
                )


if __name__ == "__main__":
    main()
