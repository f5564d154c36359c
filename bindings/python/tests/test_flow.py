"""The client flow: open, record a SELECT, learn, update, expunge, vanish, commit, read."""

from __future__ import annotations

import uidcache


def test_a_session_learns_updates_and_reads_back(cache_dir):
    with uidcache.Cache.open(cache_dir) as cache:
        assert cache.exists is None and cache.uidvalidity is None
        with cache.transaction() as tx:
            outcome = tx.record_select(uidvalidity=42, exists=5, uidnext=60)
            assert (outcome.cleared, outcome.kept, outcome.unproven_flags) == (False, 0, False)
            tx.learn_range(1, [10, 20, 30, 40, 50])
            tx.update_seq(2, flags=["\\Seen", b"$Work"], modseq=7)
            tx.update_uid(40, flags=["\\Flagged"], modseq=9)
            tx.set_highestmodseq(9)
        assert (cache.uidvalidity, cache.uidnext, cache.highestmodseq, cache.exists) == (
            42,
            60,
            9,
            5,
        )
        m = cache.message_at(2)
        assert isinstance(m, uidcache.Message)
        assert (m.uid, m.modseq) == (20, 7)
        assert sorted(m.flags) == ["$Work", "\\Seen"]
        assert m.has_flag("\\SEEN") is True and m.has_flag("\\Draft") is False
        assert cache.message_at(1).flags is None and cache.message_at(1).has_flag("x") is None
        assert cache.message_at(6) is None
        assert cache.position_of_uid(30).kind == "placed"
        assert cache.position_of_uid(30).seq == 3
        assert cache.position_of_uid(35).kind == "absent"
        assert [r[1] for r in cache.changed_since(8)] == [40]

        with cache.transaction() as tx:
            tx.expunge(1)  # UID 10 gone; 20 is now at 1
            assert tx.remove_uid(40) == ("placed", 3)
            removed = tx.remove_uids([(45, 100)])
            assert (removed.placed, removed.from_holes, removed.unplaced) == (1, 0, 0)
        assert [(s, u) for s, u, _, _ in cache.messages()] == [(1, 20), (2, 30)]
        assert cache.exists == 2


def test_the_committed_state_survives_reopening(cache_dir):
    with uidcache.Cache.open(cache_dir) as cache:
        with cache.transaction() as tx:
            tx.record_select(uidvalidity=7, exists=3)
            tx.learn(1, 5, flags=["\\Answered"], modseq=3)
            tx.set_highestmodseq(3)
    with uidcache.Cache.open(cache_dir, readonly=True) as reader:
        assert reader.exists == 3
        assert reader.message_at(1).flags == ("\\Answered",)
        assert str(reader.qresync_param()) == "(QRESYNC (7 3 5 (1 5)))"
        assert reader.qresync_param().sample == [(1, 5)]
        assert reader.qresync_param().known_uids == "5"


def test_a_plain_select_keeps_records_by_uid_only_and_qresync_keeps_the_prefix(cache_dir):
    with uidcache.Cache.open(cache_dir, durable=False) as cache:
        with cache.transaction() as tx:
            tx.record_select(uidvalidity=1, exists=4)
            tx.learn_range(1, [1, 2, 3, 4])
            tx.set_highestmodseq(10)
        with cache.transaction() as tx:
            outcome = tx.record_select(uidvalidity=1, exists=4, vanished=[(2, 2)])
            assert outcome.kept == 3 and not outcome.cleared
        assert [u for _, u, _, _ in cache.messages()] == [1, 3, 4]
        with cache.transaction() as tx:
            outcome = tx.record_select(uidvalidity=1, exists=3)
            assert outcome.unproven_flags and outcome.kept == 0
        assert list(cache.messages()) == []
        assert cache.unplaced_count == 3
        assert cache.unplaced_message(3).uid == 3
        assert cache.position_of_uid(3).kind == "unplaced"
        with cache.transaction() as tx:
            assert tx.record_select(uidvalidity=2, exists=1).cleared
        assert cache.record_count == 0 and cache.highestmodseq is None


def test_counters_plans_and_segments(filled):
    assert filled.segments() == [(True, 1, 5), (False, 6, 9), (True, 10, 12)]
    assert filled.fetch_plan(7, max=2) == (7, 8)
    assert filled.fetch_plan(6, max=1000) == (6, 9)
    assert filled.fetch_plan(3) is None
    with filled.transaction() as tx:
        tx.set_uidnext(200)
        tx.unplace(10, 12)
        assert tx.forget_uid(120)
        assert not tx.forget_uid(120)
    assert filled.uidnext == 200
    assert filled.unplaced_count == 2
    with filled.transaction() as tx:
        tx.clear()
    assert filled.record_count == 0


def test_a_transaction_commits_at_the_end_of_its_block_and_aborts_on_an_exception(cache_dir):
    with uidcache.Cache.open(cache_dir, durable=False) as cache:
        with cache.transaction() as tx:
            tx.set_exists(3)
        assert cache.exists == 3
        try:
            with cache.transaction() as tx:
                tx.set_exists(9)
                tx.learn(1, 5)
                assert cache.exists == 9, "reads on the handle see the open transaction"
                raise KeyError("boom")
        except KeyError:
            pass
        assert cache.exists == 3
        assert cache.message_at(1) is None
        assert tx.done and not cache.in_transaction
        # Explicit commit inside the block: the block's end does nothing more.
        with cache.transaction() as tx:
            tx.set_exists(4)
            tx.commit()
            assert tx.done
        assert cache.exists == 4
        # Explicit abort.
        tx = cache.transaction()
        tx.set_exists(8)
        tx.abort()
        assert cache.exists == 4
        # A transaction dropped without commit is discarded, and frees the cache.
        tx = cache.transaction()
        tx.set_exists(11)
        del tx
        assert cache.exists == 4 and not cache.in_transaction


def test_flag_names_round_trip_any_bytes(cache_dir):
    with uidcache.Cache.open(cache_dir, durable=False) as cache:
        with cache.transaction() as tx:
            tx.set_exists(1)
            tx.learn(1, 1, flags=[b"$caf\xc3\xa9", b"$raw\xff", "\\Seen"])
        flags = cache.message_at(1).flags
        assert "$café" in flags
        raw = [f for f in flags if f.startswith("$raw")][0]
        assert raw.encode("utf-8", "surrogateescape") == b"$raw\xff"
        with cache.transaction() as tx:
            tx.update_seq(1, flags=[raw])
        assert cache.message_at(1).flags == (raw,)


def test_the_session_replays_responses_into_the_cache(cache_dir):
    lines = [
        b"* 3 EXISTS",
        b"* OK [UIDVALIDITY 9] ok",
        b"* OK [UIDNEXT 31] ok",
        b"* OK [HIGHESTMODSEQ 12] ok",
        b"a1 OK [READ-WRITE] done",
        b"* 1 FETCH (UID 10 FLAGS (\\Seen) MODSEQ (5))",
        b"* 2 FETCH (UID 20 FLAGS () MODSEQ (12) BODY[] {5}\r\nhello)",
        b"* 3 FETCH (UID 30 FLAGS ($Work) MODSEQ (7))",
        b"a2 OK done",
    ]
    with uidcache.Cache.open(cache_dir, durable=False) as cache:
        session = uidcache.Session()
        tx = cache.transaction()
        session.command(tx, b"a1 SELECT INBOX (CONDSTORE)")
        commits = 0
        for line in lines:
            if line == lines[5]:
                session.command(tx, b"a2 FETCH 1:3 (UID FLAGS MODSEQ BODY[])")
            if session.response(tx, line) == "commit":
                tx.commit()
                commits += 1
                tx = cache.transaction()
        assert session.finish() == "commit"
        tx.commit()
        assert commits == 2
        assert [(s, u, f, m) for s, u, f, m in cache.messages()] == [
            (1, 10, ("\\Seen",), 5),
            (2, 20, (), 12),
            (3, 30, ("$Work",), 7),
        ]
        assert (cache.uidvalidity, cache.uidnext, cache.highestmodseq) == (9, 31, 12)
        assert session.selected_modseq == 12
        assert "uidvalidity 9" in cache.dump()
