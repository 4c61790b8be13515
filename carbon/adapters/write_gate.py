"""Writers of one process queue for their turn here, before they take a database connection."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from carbon.errors import DatabaseBusyError

__all__ = ["WriteGate", "busy"]

_RETRY_SECONDS = 2.0


class WriteGate:
    """The writers of this process queue here for their lock, holding no database connection: one per
    tenant on PostgreSQL (tenants write side by side), one for the whole database on SQLite (a single
    writer at a time). Waiting longer than the caller's bound is busy."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    @contextmanager
    def hold(self, key: str, wait: float) -> Iterator[float]:
        """Hold the key's turn, waiting at most `wait` seconds; yields the seconds left of the wait, for the
        database's own lock."""
        started = time.monotonic()
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        if not lock.acquire(timeout=wait):
            raise busy(wait)
        try:
            yield max(0.001, wait - (time.monotonic() - started))
        finally:
            lock.release()


def busy(wait: float) -> DatabaseBusyError:
    """The error of a write that waited `wait` seconds for its lock."""
    return DatabaseBusyError(
        f"another write of this ledger (a job, or another batch) held its lock for over {wait:g} s; nothing "
        "was recorded, retry shortly", retry_after=_RETRY_SECONDS,
    )  # fmt: skip
