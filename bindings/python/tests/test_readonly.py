"""Readers: no lock, the committed state of the moment, refresh for newer commits."""

from __future__ import annotations

import threading

import uidcache
from conftest import fill


def test_readers_see_commits_after_refresh(cache_dir):
    with uidcache.Cache.open(cache_dir, durable=False) as writer:
        fill(writer, 3, [(1, 1), (2, 2), (3, 3)])
        a = uidcache.Cache.open(cache_dir, readonly=True)
        b = uidcache.Cache.open(cache_dir, readonly=True)
        assert a.exists == b.exists == 3
        with writer.transaction() as tx:
            tx.set_exists(4)
            tx.learn(4, 9, flags=["\\Deleted"], modseq=4)
        assert a.exists == 3, "a reader keeps its snapshot until refresh"
        a.refresh()
        assert a.exists == 4 and a.message_at(4).flags == ("\\Deleted",)
        assert b.message_at(4) is None
        b.refresh()
        assert [u for _, u, _, _ in b.messages()] == [1, 2, 3, 9]
        a.close()
        b.close()


def test_a_reader_reads_while_the_writer_commits_in_another_thread(cache_dir):
    with uidcache.Cache.open(cache_dir, durable=False, journal_limit=4096) as writer:
        fill(writer, 1, [(1, 1)])
        errors = []

        def read():
            try:
                with uidcache.Cache.open(cache_dir, readonly=True) as reader:
                    for _ in range(200):
                        reader.refresh()
                        rows = list(reader.messages())
                        uids = [u for _, u, _, _ in rows]
                        assert uids == list(range(1, len(uids) + 1))
            except Exception as e:  # reported by the main thread
                errors.append(e)

        t = threading.Thread(target=read)
        t.start()
        for n in range(2, 300):
            with writer.transaction() as tx:
                tx.set_exists(n)
                tx.learn(n, n, modseq=n)
        t.join()
        assert errors == []
        assert writer.exists == 299
