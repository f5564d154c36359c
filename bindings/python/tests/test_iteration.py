"""Range iteration: the rows of a page in order, holes skipped, agreement with point
lookups across batch boundaries, the bulk columns, and a change during iteration."""

from __future__ import annotations

import array

import pytest

import uidcache
from conftest import fill


def test_range_yields_the_known_rows_and_skips_holes(filled):
    assert [(s, u) for s, u, _, _ in filled.range(4, 10)] == [(4, 40), (5, 50), (10, 100)]
    assert [s for s, _, _, _ in filled.messages()] == [1, 2, 3, 4, 5, 10, 11, 12]
    assert list(filled.range(6, 9)) == []
    assert list(filled.range(3, 2)) == []
    assert [s for s, *_ in filled.range(0, 2)] == [1, 2]
    assert [s for s, *_ in filled.range(12)] == [12]
    assert list(filled.range(13, 2**32 - 1)) == []
    seq, uid, flags, modseq = next(iter(filled.range(2, 2)))
    assert (seq, uid, flags, modseq) == (2, 20, ("\\Seen",), 20)
    assert next(iter(filled.range(1, 1)))[2] is next(iter(filled.range(2, 2)))[2]


def test_iteration_agrees_with_point_lookups_across_batches(cache_dir):
    n = 70_000  # several batches (256, 1024, 4096, 16384, 65536)
    with uidcache.Cache.open(cache_dir, durable=False) as cache:
        with cache.transaction() as tx:
            tx.set_uidvalidity(1)
            tx.set_exists(n + 10)
            tx.learn_range(1, list(range(5, 5 + 3 * n, 3)))
            for seq in range(1, n + 1, 997):
                tx.update_seq(seq, flags=["\\Seen", f"$k{seq % 3}"], modseq=seq)
        rows = list(cache.messages())
        assert len(rows) == n
        assert [r[0] for r in rows] == list(range(1, n + 1))
        for seq in [1, 255, 256, 257, 1280, 1281, 5377, 21761, 21762, n]:
            m = cache.message_at(seq)
            assert rows[seq - 1] == (seq, m.uid, m.flags, m.modseq)
        # Flag tuples are shared between messages with the same set.
        seen = [r[2] for r in rows if r[2] and "$k1" in r[2]]
        assert len(seen) > 2 and all(t is seen[0] for t in seen)
        cols = cache.columns()
        assert len(cols) == n
        assert isinstance(cols.uids, array.array) and cols.uids.typecode == "I"
        assert list(cols.seqs) == [r[0] for r in rows]
        assert list(cols.uids) == [r[1] for r in rows]
        assert list(cols.modseqs) == [r[3] or 0 for r in rows]
        names = [None if f == 0xFFFFFFFF else cols.flag_sets[f] for f in cols.flags]
        assert names == [r[2] for r in rows]
        part = cache.columns(100, 199)
        assert list(part.seqs) == list(range(100, 200))


def test_a_change_through_the_handle_during_iteration_stops_it(filled):
    it = filled.range(1, 12)
    first = next(it)
    assert first[0] == 1
    rest = list(it)  # the first batch already holds the page
    assert len(rest) == 7
    with uidcache.Cache.open(filled.path.parent / "big", durable=False) as cache:
        fill(cache, 2000, [(s, s) for s in range(1, 2001)])
        it = cache.messages()
        for _ in range(10):
            next(it)
        with cache.transaction() as tx:
            tx.expunge(1)
        with pytest.raises(uidcache.ChangedDuringIteration):
            list(it)


def test_changed_since_lists_placed_then_unplaced_changes(filled):
    with filled.transaction() as tx:
        tx.unplace(11, 12)
    rows = filled.changed_since(35)
    assert [(s, u) for s, u, _, _ in rows] == [(4, 40), (5, 50), (10, 100), (None, 110), (None, 120)]
    assert filled.changed_since(120) == []
