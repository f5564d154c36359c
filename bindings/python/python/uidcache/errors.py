"""The exceptions of uidcache: every one is a ``uidcache.Error``.

The native module raises these by the engine's error kind; details travel as attributes
(``path``, ``offset``, ``structure`` and ``field`` on corruption; ``path``, ``op`` and
``errno`` on a failed file operation; ``line`` on an error of the IMAP layer).
"""

from __future__ import annotations


class Error(Exception):
    """Base class of every uidcache error."""


class LockedError(Error):
    """Another process holds the writer lock: open read-only, or pass ``lock_wait``."""

    path: str


class CorruptError(Error):
    """A cache file contradicts the format spec: ``path``, ``offset``, ``structure`` and
    ``field`` say where. ``Cache.open(path, repair=True)`` repairs it."""

    path: str
    offset: int
    structure: str
    field: str


class UpgradeRequiredError(CorruptError):
    """A file was written by an older format version that this code cannot read."""


class NotACacheError(Error):
    """A writer was asked to open a directory that holds other files; nothing was touched."""

    path: str


class PoisonedError(Error):
    """An earlier write or fsync failed: close the handle and open the cache again."""


class ReadOnlyError(Error):
    """A change was asked of a handle opened read-only."""


class InvalidOperationError(Error, ValueError):
    """A call's arguments contradict the mailbox state (a sequence number out of range,
    UIDs out of order, ...); nothing was changed."""


class InvariantError(Error):
    """An internal consistency rule failed (a bug, or damage checksums could not see)."""


class CacheIOError(Error, OSError):
    """A file operation failed: ``op``, ``path`` and ``errno`` say which."""

    path: str
    op: str


class RepairError(Error):
    """``Cache.open(..., repair=True)`` could not repair the cache."""


class ClosedError(Error):
    """A call on a closed cache."""


class TransactionError(Error):
    """A transaction used out of turn: a second one opened while one is open, or a call
    on one that was committed or aborted."""


class ChangedDuringIteration(Error, RuntimeError):
    """The handle that an iterator reads changed (a transaction call, commit, abort or
    refresh) between two batches of the iteration."""


class ImapError(Error):
    """A server response that cannot be applied to the cache; ``line`` counts responses
    fed to the session. The transaction must be aborted."""

    line: int


class UnreportedExpungeError(ImapError):
    """After a QRESYNC SELECT the server has fewer messages than the cache knows in a row:
    resynchronize with a plain SELECT."""


__all__ = [
    "Error",
    "LockedError",
    "CorruptError",
    "UpgradeRequiredError",
    "NotACacheError",
    "PoisonedError",
    "ReadOnlyError",
    "InvalidOperationError",
    "InvariantError",
    "CacheIOError",
    "RepairError",
    "ClosedError",
    "TransactionError",
    "ChangedDuringIteration",
    "ImapError",
    "UnreportedExpungeError",
]
