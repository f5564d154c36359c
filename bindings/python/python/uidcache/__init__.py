"""uidcache: an IMAP client's mailbox state on disk (UIDs, FLAGS, MODSEQ by sequence number),
crash-safe, one writer and any number of readers per mailbox.

>>> import uidcache, tempfile
>>> with uidcache.Cache.open(tempfile.mkdtemp()) as cache:
...     with cache.transaction() as tx:
...         tx.set_uidvalidity(1234)
...         tx.set_exists(3)
...         tx.learn_range(1, [10, 11, 15])
...         tx.update_seq(2, flags=["\\\\Seen"], modseq=7)
...     cache.message_at(2)
Message(uid=11, flags=('\\\\Seen',), modseq=7)
"""

from __future__ import annotations

from uidcache._native import (
    MAX_MESSAGES,
    Cache,
    Columns,
    Message,
    Position,
    QresyncParam,
    Removed,
    SelectOutcome,
    Session,
    Transaction,
)
from uidcache.errors import *  # noqa: F401,F403
from uidcache.errors import __all__ as _errors

__all__ = [
    "MAX_MESSAGES",
    "Cache",
    "Columns",
    "Message",
    "Position",
    "QresyncParam",
    "Removed",
    "SelectOutcome",
    "Session",
    "Transaction",
    *_errors,
]
