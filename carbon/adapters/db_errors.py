"""What a database failure means to the caller: busy (retry soon), out of space, or unavailable.

A lock not free in time, a pool with no free connection, a statement cancelled by its timeout are the
service being busy, never a bug: they become 503 with Retry-After, like a full request queue. A full disk
becomes 507, a database that refuses writes or cannot be reached 503. Anything else stays unexpected.
"""

from __future__ import annotations

import errno
import sqlite3

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from carbon.errors import CarbonError, DatabaseBusyError, DatabaseUnavailableError, InsufficientStorageError

__all__ = ["BUSY_RETRY_SECONDS", "UNAVAILABLE_RETRY_SECONDS", "database_problem"]

BUSY_RETRY_SECONDS = 2.0  # a lock or a connection: usually free again within a write's time
UNAVAILABLE_RETRY_SECONDS = 10.0  # an operator's fix (free space, writable file, server back) takes longer

# PostgreSQL SQLSTATEs: lock not available, query cancelled (statement or lock timeout), deadlock,
# serialization failure, too many connections, out of memory, insufficient resources, cannot connect now
_PG_BUSY = frozenset({"55P03", "57014", "40P01", "40001", "53300", "53200", "53000", "57P03"})
_PG_DISK_FULL = "53100"
_PG_READ_ONLY = "25006"  # read-only SQL transaction: a standby, or default_transaction_read_only
_PG_GONE = frozenset({"57P01", "57P02"})  # administrator or crash shutdown
_SQLITE_BUSY = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
_SQLITE_UNAVAILABLE = frozenset({sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR})


def database_problem(error: BaseException) -> CarbonError | None:
    """The CarbonError a database failure amounts to, or None when it is not one we can name."""
    if isinstance(error, PoolTimeoutError):
        return DatabaseBusyError("every database connection is busy; retry shortly",
                                 retry_after=BUSY_RETRY_SECONDS)  # fmt: skip
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return InsufficientStorageError("the disk is full; nothing was recorded, retry later")
    cause = error.orig if isinstance(error, DBAPIError) else error  # driver calls raise the driver's own
    if isinstance(cause, sqlite3.Error):
        return _sqlite_problem(cause)
    if not type(cause).__module__.startswith("psycopg"):
        return None
    state = getattr(cause, "sqlstate", None)
    if state in _PG_BUSY:
        return DatabaseBusyError("the ledger is busy (a lock or the database was not free in time); nothing "
                                 "was recorded, retry shortly", retry_after=BUSY_RETRY_SECONDS)  # fmt: skip
    if state == _PG_DISK_FULL:
        return InsufficientStorageError("the database's disk is full; nothing was recorded, retry later")
    if state == _PG_READ_ONLY:
        return _read_only()
    invalidated = isinstance(error, DBAPIError) and error.connection_invalidated
    if state in _PG_GONE or invalidated or (state or "").startswith("08"):
        return _unreachable()
    if state is None and type(cause).__name__ == "OperationalError":  # psycopg: no server to talk to
        return _unreachable()
    return None


def _sqlite_problem(cause: sqlite3.Error) -> CarbonError | None:
    code = getattr(cause, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    if primary in _SQLITE_BUSY:
        return DatabaseBusyError("the ledger is busy (another write holds the database's write lock); "
                                 "nothing was recorded, retry shortly",
                                 retry_after=BUSY_RETRY_SECONDS)  # fmt: skip
    if primary == sqlite3.SQLITE_FULL:
        return InsufficientStorageError("the database's disk is full; nothing was recorded, retry later")
    if primary == sqlite3.SQLITE_READONLY:
        return _read_only()
    if primary in _SQLITE_UNAVAILABLE:
        return _unreachable()
    return None


def _read_only() -> CarbonError:
    return DatabaseUnavailableError("the database refuses writes (read-only); nothing was recorded",
                                    retry_after=UNAVAILABLE_RETRY_SECONDS)  # fmt: skip


def _unreachable() -> CarbonError:
    return DatabaseUnavailableError("the database cannot be reached; nothing was recorded",
                                    retry_after=UNAVAILABLE_RETRY_SECONDS)  # fmt: skip
