"""Errors map to a hierarchy under uidcache.Error: a locked cache, a damaged one, bad
arguments, misuse of handles and transactions."""

from __future__ import annotations

import os

import pytest

import uidcache
from conftest import fill


def test_every_exception_is_a_uidcache_error():
    for name in uidcache.errors.__all__:
        assert issubclass(getattr(uidcache, name), uidcache.Error)
    assert issubclass(uidcache.InvalidOperationError, ValueError)
    assert issubclass(uidcache.CacheIOError, OSError)
    assert issubclass(uidcache.UpgradeRequiredError, uidcache.CorruptError)


def test_a_second_writer_finds_the_cache_locked(cache_dir):
    with uidcache.Cache.open(cache_dir):
        with pytest.raises(uidcache.LockedError) as err:
            uidcache.Cache.open(cache_dir)
        assert err.value.path.endswith("lock")
        with pytest.raises(uidcache.LockedError):
            uidcache.Cache.open(cache_dir, lock_wait=0.05)
        # A reader needs no lock.
        with uidcache.Cache.open(cache_dir, readonly=True) as reader:
            assert reader.exists is None
    # Closed: the lock is free again.
    uidcache.Cache.open(cache_dir).close()


def test_a_damaged_index_is_reported_with_where_and_repair_fixes_it(cache_dir):
    with uidcache.Cache.open(cache_dir) as cache:
        fill(cache, 3, [(1, 10), (2, 20), (3, 30)])
    index = cache_dir / "index"
    with open(index, "r+b") as f:
        f.write(b"NOTMAGIC")
    with pytest.raises(uidcache.CorruptError) as err:
        uidcache.Cache.open(cache_dir)
    assert err.value.path == str(index)
    assert err.value.offset == 0
    assert isinstance(err.value.structure, str) and err.value.field
    with pytest.raises(uidcache.CorruptError):
        uidcache.Cache.open(cache_dir, readonly=True)
    with uidcache.Cache.open(cache_dir, repair=True) as cache:
        assert cache.repairs, "the repair says what it did"
        for _seq, uid, _flags, _modseq in cache.messages():
            assert uid in (10, 20, 30), "a repair never invents a record"


def test_a_directory_of_other_files_is_not_a_cache(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(uidcache.NotACacheError):
        uidcache.Cache.open(tmp_path)
    assert os.listdir(tmp_path) == ["notes.txt"]


def test_a_missing_cache_is_an_os_error_for_a_reader(cache_dir):
    with pytest.raises(uidcache.Error):
        uidcache.Cache.open(cache_dir, readonly=True)
    with pytest.raises(uidcache.Error):
        uidcache.Cache.open(cache_dir, create=False)


def test_bad_arguments_change_nothing(filled):
    with filled.transaction() as tx:
        with pytest.raises(uidcache.InvalidOperationError):
            tx.update_seq(13, modseq=1)
        with pytest.raises(ValueError):
            tx.learn(6, 5)  # UID 5 before UID 50 at seq 5
        with pytest.raises(uidcache.InvalidOperationError):
            tx.learn(7, 0)
        with pytest.raises(OverflowError):
            tx.set_exists(-1)
        with pytest.raises(OverflowError):
            tx.learn(1, 2**32)
        with pytest.raises(TypeError):
            tx.learn(6, 55, flags="\\Seen")
        with pytest.raises(TypeError):
            tx.learn_range(6, ["a"])
        with pytest.raises(uidcache.InvalidOperationError):
            tx.set_exists(uidcache.MAX_MESSAGES + 1)
        tx.learn(6, 55)  # the transaction still works after refusals
    assert filled.message_at(6).uid == 55
    assert filled.exists == 12
    with pytest.raises(ValueError):
        uidcache.Cache.open(filled.path, lock_wait=-1)


def test_a_reader_refuses_changes(filled):
    with uidcache.Cache.open(filled.path, readonly=True) as reader:
        assert reader.readonly
        with pytest.raises(uidcache.ReadOnlyError):
            reader.transaction()
        assert not reader.in_transaction
        assert reader.exists == 12


def test_misuse_of_handles_and_transactions(cache_dir):
    cache = uidcache.Cache.open(cache_dir, durable=False)
    tx = cache.transaction()
    with pytest.raises(uidcache.TransactionError):
        cache.transaction()
    with pytest.raises(uidcache.TransactionError):
        cache.refresh()
    tx.set_exists(2)
    tx.commit()
    with pytest.raises(uidcache.TransactionError):
        tx.set_exists(3)
    with pytest.raises(uidcache.TransactionError):
        tx.commit()
    tx2 = cache.transaction()
    with pytest.raises(uidcache.TransactionError):
        tx.abort()  # an ended transaction cannot end the next one
    tx2.abort()
    cache.close()
    assert cache.closed
    cache.close()  # twice is fine
    with pytest.raises(uidcache.ClosedError):
        _ = cache.exists
    with pytest.raises(uidcache.ClosedError):
        cache.transaction()
    with uidcache.Cache.open(cache_dir) as again:
        assert again.exists == 2


def test_a_response_that_cannot_apply_names_its_line(cache_dir):
    with uidcache.Cache.open(cache_dir, durable=False) as cache:
        session = uidcache.Session()
        tx = cache.transaction()
        assert session.response(tx, b"* 2 EXISTS") == "continue"
        with pytest.raises(uidcache.ImapError) as err:
            session.response(tx, b"* 1 FETCH (UID 5 FLAGS (\\Seen)")
        assert err.value.line == 2
        with pytest.raises(uidcache.ImapError):
            session.response(tx, b"* 3 EXPUNGE")
        tx.abort()
        assert cache.exists is None
