"""Type stub of uidcache's native module (re-exported by ``uidcache``)."""

from __future__ import annotations

import array
import os
import pathlib
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Literal, Optional, Tuple, Union

FlagName = Union[str, bytes]
Flags = Tuple[str, ...]
Record = Tuple[int, int, Optional[Flags], Optional[int]]
"""``(seq, uid, flags, modseq)``; ``flags`` and ``modseq`` are ``None`` when never learned."""
ChangedRecord = Tuple[Optional[int], int, Optional[Flags], Optional[int]]
"""As ``Record``, with ``seq`` ``None`` for an unplaced record."""
Step = Literal["continue", "commit", "discard"]

MAX_MESSAGES: int

class Message:
    """One message as the cache knows it."""

    @property
    def uid(self) -> int: ...
    @property
    def flags(self) -> Optional[Flags]:
        """The flag names, or ``None`` when FLAGS were never learned."""
    @property
    def modseq(self) -> Optional[int]:
        """The MODSEQ, or ``None`` when never learned."""
    def has_flag(self, name: FlagName) -> Optional[bool]:
        """Whether the message has ``name`` (ASCII-case-insensitive); ``None`` without FLAGS."""

class Position:
    """Where a UID stands."""

    @property
    def kind(self) -> Literal["placed", "hole", "unplaced", "absent"]: ...
    @property
    def seq(self) -> Optional[int]:
        """The sequence number, when placed."""
    @property
    def hole(self) -> Optional[Tuple[int, int]]:
        """The ``(first, last)`` sequence numbers the UID must lie in if it exists."""

class QresyncParam:
    """``str()`` is the ``(QRESYNC (...))`` parameter of a SELECT for the cached state."""

    @property
    def uidvalidity(self) -> int: ...
    @property
    def modseq(self) -> int: ...
    @property
    def known_uids(self) -> str: ...
    @property
    def sample(self) -> list[Tuple[int, int]]: ...

class SelectOutcome:
    """What ``Transaction.record_select`` did."""

    @property
    def cleared(self) -> bool: ...
    @property
    def kept(self) -> int: ...
    @property
    def unproven_flags(self) -> bool: ...

class Removed:
    """What ``Transaction.remove_uids`` removed."""

    @property
    def placed(self) -> int: ...
    @property
    def from_holes(self) -> int: ...
    @property
    def unplaced(self) -> int: ...

class Columns:
    """The known messages of a range as parallel ``array.array`` columns (the bulk read).

    ``flags[i]`` is a flag-set ID (``0xFFFFFFFF``: FLAGS never learned) whose names are
    ``flag_sets[id]``, valid for this read only; ``modseqs[i]`` is 0 when unknown.
    """

    @property
    def seqs(self) -> array.array[int]: ...
    @property
    def uids(self) -> array.array[int]: ...
    @property
    def flags(self) -> array.array[int]: ...
    @property
    def modseqs(self) -> array.array[int]: ...
    @property
    def flag_sets(self) -> dict[int, Flags]: ...
    def __len__(self) -> int: ...

class Cache:
    """A mailbox's cache directory, as the one writer or as a reader. A context manager
    that closes the handle at the end of the block."""

    @staticmethod
    def open(
        path: Union[str, os.PathLike[str]],
        readonly: bool = False,
        *,
        create: bool = True,
        durable: bool = True,
        lock_wait: Optional[float] = None,
        journal_limit: Optional[int] = None,
        auto_compact: bool = True,
        compact_on_drop: bool = False,
        repair: bool = False,
    ) -> Cache:
        """Opens the cache in ``path``.

        ``readonly``: a reader (no lock, any number of them; ``refresh()`` moves to newer
        commits). ``create``: a writer creates a missing cache. ``durable``: commits fsync
        (``False``: survive a process crash, not power loss). ``lock_wait``: seconds a
        writer waits for another writer's lock (``None``: ``LockedError`` at once).
        ``journal_limit``: journal bytes past which a commit checkpoints. ``repair``: a
        damaged cache is repaired (``repairs`` says what was done) instead of raising
        ``CorruptError``. Raises ``LockedError``, ``CorruptError``, ``NotACacheError``,
        ``CacheIOError``.
        """
    def __enter__(self) -> Cache: ...
    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool: ...
    def close(self) -> None:
        """Discards an open transaction, checkpoints and compacts a writer, unlocks."""
    @property
    def closed(self) -> bool: ...
    @property
    def readonly(self) -> bool: ...
    @property
    def path(self) -> pathlib.Path: ...
    @property
    def repairs(self) -> Optional[list[str]]: ...
    @property
    def in_transaction(self) -> bool: ...
    def transaction(self, durable: Optional[bool] = None) -> Transaction:
        """Starts a transaction (one at a time); raises ``ReadOnlyError`` on a reader."""
    def refresh(self) -> None:
        """A reader moves to the newest committed state."""
    def sync(self) -> None:
        """fsyncs what ``durable=False`` commits left unsynced."""
    @property
    def uidvalidity(self) -> Optional[int]: ...
    @property
    def uidnext(self) -> Optional[int]: ...
    @property
    def highestmodseq(self) -> Optional[int]: ...
    @property
    def exists(self) -> Optional[int]: ...
    @property
    def record_count(self) -> int: ...
    @property
    def unplaced_count(self) -> int: ...
    def message_at(self, seq: int) -> Optional[Message]:
        """The message at ``seq``, or ``None`` when unknown."""
    def unplaced_message(self, uid: int) -> Optional[Message]: ...
    def position_of_uid(self, uid: int) -> Position: ...
    def range(self, first: int = 1, last: Optional[int] = None) -> Iterator[Record]:
        """Known messages with ``first <= seq <= last`` (inclusive, as IMAP), ascending.

        Reads in batches; a change made through this handle between two batches raises
        ``ChangedDuringIteration``."""
    def messages(self) -> Iterator[Record]:
        """Every known message: ``range(1, None)``."""
    def changed_since(self, modseq: int) -> list[ChangedRecord]:
        """Messages with a known MODSEQ above ``modseq``: placed, then unplaced."""
    def columns(self, first: int = 1, last: Optional[int] = None) -> Columns:
        """``range`` as ``array.array`` columns: no Python object per record."""
    def segments(self) -> list[Tuple[bool, int, int]]:
        """``(known, first, last)`` runs covering ``1..=exists``."""
    def fetch_plan(self, seq: int, max: int = 1000) -> Optional[Tuple[int, int]]:
        """The aligned range of at most ``max`` unknown sequence numbers to fetch for ``seq``."""
    def qresync_param(self) -> Optional[QresyncParam]: ...
    def dump(self) -> str:
        """The cache in the ``uidcache dump`` text format."""

class Transaction:
    """Changes to a writer's cache, visible and durable together at ``commit``. A context
    manager: commits when the block ends normally, aborts when it raises."""

    def __enter__(self) -> Transaction: ...
    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool: ...
    @property
    def done(self) -> bool: ...
    @property
    def cache(self) -> Cache: ...
    def commit(self, durable: Optional[bool] = None) -> None: ...
    def abort(self) -> None: ...
    def record_select(
        self,
        *,
        uidvalidity: Optional[int] = None,
        exists: Optional[int] = None,
        uidnext: Optional[int] = None,
        vanished: Optional[Iterable[Tuple[int, int]]] = None,
    ) -> SelectOutcome:
        """Records a SELECT response; ``vanished`` (``VANISHED (EARLIER)`` ranges, ``[]``
        for none) marks a QRESYNC SELECT, ``None`` a plain one."""
    def record_uidvalidity(self, value: int) -> bool: ...
    def set_uidvalidity(self, value: Optional[int]) -> None: ...
    def set_uidnext(self, value: Optional[int]) -> None: ...
    def set_highestmodseq(self, value: Optional[int]) -> None: ...
    def set_exists(self, count: int) -> None: ...
    def clear(self) -> None: ...
    def learn_range(self, seq: int, uids: Iterable[int]) -> None: ...
    def learn(
        self,
        seq: int,
        uid: int,
        flags: Optional[Iterable[FlagName]] = None,
        modseq: Optional[int] = None,
    ) -> None: ...
    def update_seq(
        self, seq: int, flags: Optional[Iterable[FlagName]] = None, modseq: Optional[int] = None
    ) -> None: ...
    def update_uid(
        self, uid: int, flags: Optional[Iterable[FlagName]] = None, modseq: Optional[int] = None
    ) -> None: ...
    def expunge(self, seq: int) -> None: ...
    def remove_uid(
        self, uid: int
    ) -> Tuple[Literal["placed", "hole", "unplaced", "absent"], Optional[int]]: ...
    def remove_uids(self, ranges: Iterable[Tuple[int, int]]) -> Removed: ...
    def forget_uid(self, uid: int) -> bool: ...
    def unplace(self, first: int, last: int) -> None: ...

class Session:
    """One IMAP connection as the cache follows it (the session layer)."""

    def __init__(self) -> None: ...
    def command(self, tx: Transaction, line: bytes) -> None:
        """The client sent ``line`` (without CRLF)."""
    def response(self, tx: Transaction, line: bytes) -> Step:
        """The server sent ``line`` (one response, literals included, without its CRLF)."""
    def finish(self) -> Step: ...
    @property
    def holding_modseq(self) -> bool: ...
    def flags_caught_up(self, tx: Transaction) -> None: ...
    @property
    def selected_modseq(self) -> Optional[int]: ...
    @property
    def pending_modseq(self) -> Optional[int]: ...
    @property
    def last_select(self) -> Optional[SelectOutcome]: ...
