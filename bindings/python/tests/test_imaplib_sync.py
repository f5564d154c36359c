"""examples/imaplib_sync.py against a throwaway Dovecot: the cache equals the server's
state (the fixture's `truth` oracle) after a first sync, after changes synced through
QRESYNC, through CONDSTORE, and after the mailbox was recreated (a new UIDVALIDITY).

The Dovecot comes from the Rust test `tools/uidcache-cli/tests/python.rs`, which passes
its directory in UIDCACHE_TEST_IMAP_DIR and the fixture's client scripts in
UIDCACHE_TEST_IMAP_CLIENT; without them the test skips (fails with
UIDCACHE_REQUIRE_DOVECOT=1).
"""

from __future__ import annotations

import imaplib
import os
import pathlib
import subprocess
import sys

import pytest

import uidcache

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "examples"))
import imaplib_sync  # noqa: E402

SERVER = os.environ.get("UIDCACHE_TEST_IMAP_DIR")
CLIENT = os.environ.get("UIDCACHE_TEST_IMAP_CLIENT")

if not (SERVER and CLIENT):
    if os.environ.get("UIDCACHE_REQUIRE_DOVECOT") == "1":
        raise RuntimeError("UIDCACHE_REQUIRE_DOVECOT=1 but no Dovecot was handed to pytest")
    pytest.skip(
        "no IMAP server: run through tools/uidcache-cli/tests/python.rs", allow_module_level=True
    )


def client(script: str, mailbox: str, *args: str) -> str:
    out = subprocess.run(
        [os.path.join(CLIENT, script), SERVER, "--mailbox", mailbox, *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout


def connect() -> imaplib.IMAP4:
    port = int(pathlib.Path(SERVER, "port").read_text().split()[0])
    imap = imaplib.IMAP4("127.0.0.1", port)
    imap.login("test", "test")
    return imap


def synced(cache_dir: pathlib.Path, mailbox: str, qresync: bool = True) -> imaplib_sync.Summary:
    imap = connect()
    try:
        with uidcache.Cache.open(cache_dir) as cache:
            summary = imaplib_sync.sync(imap, cache, mailbox, qresync=qresync)
    finally:
        imap.logout()
    with uidcache.Cache.open(cache_dir, readonly=True) as reader:
        assert reader.dump() == client("truth", mailbox), summary
    return summary


def test_imaplib_keeps_the_cache_equal_to_the_server(tmp_path):
    mailbox = "PySync"
    client("populate", mailbox, "300")
    cache_dir = tmp_path / mailbox
    first = synced(cache_dir, mailbox)
    assert first.fetched == [(1, 300)] and first.exists == 300

    client("mutate", mailbox, "append", "7", "add", "\\Seen $Work", "1:40", "expunge", "10%")
    again = synced(cache_dir, mailbox)
    assert again.method == "qresync"
    assert again.fetched and again.fetched[0][0] > 200, "only the new messages are fetched"

    client("mutate", mailbox, "--seed", "2", "remove", "\\Seen", "1:20", "expunge", "5%",
           "append", "3")
    plain = synced(cache_dir, mailbox, qresync=False)
    assert plain.method == "condstore"

    client("mutate", mailbox, "recreate", "append", "12")
    recreated = synced(cache_dir, mailbox)
    assert recreated.exists == 12
