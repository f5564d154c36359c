"""Shared fixtures: a fresh cache directory, and a cache filled with a known mailbox."""

from __future__ import annotations

import pathlib

import pytest

import uidcache


@pytest.fixture
def cache_dir(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "INBOX"


def fill(cache: uidcache.Cache, exists: int, known: list[tuple[int, int]]) -> None:
    """UIDVALIDITY 1, ``exists`` messages, ``known`` (seq, uid) pairs placed; each known
    message has MODSEQ = its UID and ``\\Seen`` when its UID is even."""
    with cache.transaction(durable=False) as tx:
        tx.set_uidvalidity(1)
        tx.set_exists(exists)
        for seq, uid in known:
            tx.learn(seq, uid, flags=["\\Seen"] if uid % 2 == 0 else [], modseq=uid)


@pytest.fixture
def filled(cache_dir: pathlib.Path):
    """A writer on 12 messages: 1..=5 known (UIDs 10..50), a hole 6..=9, 10..=12 known."""
    known = [(s, s * 10) for s in range(1, 6)] + [(s, s * 10) for s in range(10, 13)]
    with uidcache.Cache.open(cache_dir, durable=False) as cache:
        fill(cache, 12, known)
        yield cache
