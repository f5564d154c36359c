#!/usr/bin/env python3
"""Keeps a uidcache current with the standard library's imaplib.

    python imaplib_sync.py CACHE_DIR --host HOST [--port N] [--ssl] --user USER
                           [--password PW] [--mailbox INBOX] [--no-qresync]

imaplib logs in and enables QRESYNC; then the commands that teach the cache something go
over imaplib's connection as raw lines (``IMAP4.send``, ``readline``, ``read``), and every
response line is replayed through ``uidcache.Session``, which applies it to a transaction
and says when to commit (at each tagged completion). The cache then holds what the server
holds: UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, the count, and UID, FLAGS and MODSEQ by
sequence number.

The sync, the way the server allows:
1. ``SELECT mailbox (QRESYNC (...))`` built from the cache: the server reports the flag
   changes and the expunges since the cached HIGHESTMODSEQ; or ``SELECT mailbox
   (CONDSTORE)`` then ``FETCH 1:* (UID FLAGS MODSEQ) (CHANGEDSINCE m)``; or a plain SELECT.
2. ``FETCH a:b (UID FLAGS MODSEQ)`` for every run of sequence numbers the cache does not
   know (new messages, or everything after a plain SELECT).
3. ``NOOP``, during which the server may report expunges it held back, so that the last
   FETCH MODSEQs may be stored.
"""

from __future__ import annotations

import argparse
import getpass
import imaplib
import re
import sys
from dataclasses import dataclass, field
from typing import Optional

import uidcache

#: The most sequence numbers one FETCH asks for.
FETCH_CHUNK = 5000

_LITERAL = re.compile(rb"~?\{(\d+)\+?\}\r\n$")


@dataclass
class Summary:
    """What a sync did."""

    mailbox: str
    method: str = ""
    commands: int = 0
    responses: int = 0
    exists: Optional[int] = None
    fetched: list[tuple[int, int]] = field(default_factory=list)

    def __str__(self) -> str:
        runs = ",".join(f"{a}:{b}" for a, b in self.fetched) or "-"
        return (
            f"{self.mailbox}: {self.method}, {self.commands} commands, "
            f"{self.responses} responses, exists {self.exists}, fetched {runs}"
        )


class Replayer:
    """Sends commands over an imaplib connection and replays every response line into a
    cache through a ``uidcache.Session``, committing where the session says."""

    def __init__(self, imap: imaplib.IMAP4, cache: uidcache.Cache, summary: Summary):
        self.imap = imap
        self.cache = cache
        self.session = uidcache.Session()
        self.tx = cache.transaction()
        self.summary = summary
        self.tags = 0

    def read_response(self) -> bytes:
        """One whole response without its final CRLF: a line, and when it announces a
        literal, the literal's bytes and the rest of the response after it."""
        data = self.imap.readline()
        while True:
            if not data:
                raise imaplib.IMAP4.abort("the server closed the connection")
            m = _LITERAL.search(data)
            if not m:
                return data[:-2] if data.endswith(b"\r\n") else data.rstrip(b"\n")
            data += self.imap.read(int(m.group(1)))
            data += self.imap.readline()

    def run(self, command: str) -> list[bytes]:
        """Sends ``command``, replays its responses; returns its untagged responses and
        raises unless it completes OK."""
        self.tags += 1
        tag = f"U{self.tags}".encode()
        line = tag + b" " + command.encode()
        self.session.command(self.tx, line)
        self.imap.send(line + b"\r\n")
        self.summary.commands += 1
        untagged: list[bytes] = []
        while True:
            response = self.read_response()
            self.summary.responses += 1
            if self.session.response(self.tx, response) == "commit":
                self.commit()
            if response.startswith(tag + b" "):
                status = response[len(tag) + 1 :].split(b" ", 1)[0].upper()
                if status != b"OK":
                    raise imaplib.IMAP4.error(f"{command}: {response.decode(errors='replace')}")
                return untagged
            untagged.append(response)

    def commit(self) -> None:
        self.tx.commit()
        self.tx = self.cache.transaction()

    def finish(self) -> None:
        """The end of the connection: commit what stands, discard an unfinished SELECT."""
        if self.session.finish() == "commit":
            self.tx.commit()
        else:
            self.tx.abort()


def quote(mailbox: str) -> str:
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'


def capabilities(imap: imaplib.IMAP4) -> set[str]:
    """The capabilities after login (servers list CONDSTORE and QRESYNC only then, and
    imaplib keeps the ones it read before)."""
    typ, data = imap.capability()
    if typ != "OK" or not data or not isinstance(data[0], bytes):
        return {c.upper() for c in imap.capabilities}
    return {c.upper() for c in data[0].decode("ascii", "replace").split()}


def sync(
    imap: imaplib.IMAP4, cache: uidcache.Cache, mailbox: str = "INBOX", qresync: bool = True
) -> Summary:
    """Brings ``cache`` (a writer) up to date with ``mailbox`` over the logged-in ``imap``."""
    caps = capabilities(imap)
    use_qresync = qresync and "QRESYNC" in caps
    condstore = "CONDSTORE" in caps or "QRESYNC" in caps
    if use_qresync and imap.state != "SELECTED":
        imap.enable("QRESYNC")
    summary = Summary(mailbox)
    r = Replayer(imap, cache, summary)
    try:
        param = cache.qresync_param() if use_qresync else None
        if param is not None:
            summary.method = "qresync"
            r.run(f"SELECT {quote(mailbox)} {param}")
        elif condstore:
            summary.method = "condstore"
            r.run(f"SELECT {quote(mailbox)} (CONDSTORE)")
            modseq = cache.highestmodseq
            if r.session.holding_modseq and modseq is not None:
                # The records a plain SELECT kept lost their positions; the flags changed
                # since the cached HIGHESTMODSEQ come back with their UIDs.
                r.run(f"FETCH 1:* (UID FLAGS MODSEQ) (CHANGEDSINCE {modseq})")
        else:
            summary.method = "plain"
            r.run(f"SELECT {quote(mailbox)}")
        items = "(UID FLAGS MODSEQ)" if condstore else "(UID FLAGS)"
        holes = [(a, b) for known, a, b in cache.segments() if not known]
        for first, last in holes:
            for a in range(first, last + 1, FETCH_CHUNK):
                b = min(a + FETCH_CHUNK - 1, last)
                r.run(f"FETCH {a}:{b} {items}")
                summary.fetched.append((a, b))
        if r.session.holding_modseq:
            # Every message's flags were fetched above: the kept records are current.
            r.session.flags_caught_up(r.tx)
        r.run("NOOP")
        summary.exists = cache.exists
    except BaseException:
        r.tx.abort()
        raise
    r.finish()
    return summary


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("cache_dir")
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int)
    p.add_argument("--ssl", action="store_true", help="implicit TLS (imaps)")
    p.add_argument("--user", required=True)
    p.add_argument("--password", help="default: asked on the terminal")
    p.add_argument("--mailbox", default="INBOX")
    p.add_argument("--no-qresync", action="store_true", help="never QRESYNC")
    args = p.parse_args(argv)
    password = args.password if args.password is not None else getpass.getpass()
    if args.ssl:
        imap: imaplib.IMAP4 = imaplib.IMAP4_SSL(args.host, args.port or 993)
    else:
        imap = imaplib.IMAP4(args.host, args.port or 143)
    try:
        imap.login(args.user, password)
        with uidcache.Cache.open(args.cache_dir) as cache:
            print(sync(imap, cache, args.mailbox, qresync=not args.no_qresync))
    except (uidcache.Error, imaplib.IMAP4.error) as e:
        print(f"imaplib_sync: {e}", file=sys.stderr)
        return 1
    finally:
        try:
            imap.logout()
        except (imaplib.IMAP4.error, OSError):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
