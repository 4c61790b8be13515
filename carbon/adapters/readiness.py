"""Readiness means "can write", checked cheaply on a connection of its own.

A database that answers SELECT 1 may still refuse every write: a read-only file or a full disk (SQLite),
a standby or a read-only default (PostgreSQL). The checks: free space of the data directory's disk (and the
database file's); on PostgreSQL two settings; on SQLite a write that is rolled back (one row of
alembic_version set to itself, in memory), which fails at once on a read-only database and never waits for
the write lock: a lock held by another writer means the database is writable, only busy. The probe's
connection comes from a pool of its own, so a pool emptied by requests never starves it.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url

from carbon.adapters.sql_store import create_ledger_engine

__all__ = ["WriteReadiness"]

_PROBE_WAIT = 2.0  # seconds the probe waits for its connection or a lock


class WriteReadiness:
    """Why this process cannot write now, or None."""

    def __init__(self, url: str, data_dir: Path, min_free_bytes: int) -> None:
        self._engine: Engine = create_ledger_engine(url, lock_wait=_PROBE_WAIT, pool_size=1, max_overflow=1)
        database = make_url(url).database if self._engine.dialect.name == "sqlite" else None
        if database and database.startswith("file:"):  # a URI filename (uri=true): its path part
            database = database.removeprefix("file:").split("?")[0]
        self._file = Path(database) if database and database != ":memory:" else None
        self._data_dir = data_dir
        self._min_free = min_free_bytes

    def problem(self) -> str | None:
        """The first reason writes would fail: disk full, database read-only, database unreachable."""
        for directory in {self._data_dir, *([self._file.parent] if self._file else [])}:
            free = shutil.disk_usage(directory).free
            if free < self._min_free:
                return f"disk full: {free} bytes free, fewer than CARBON_READY_MIN_FREE_DISK_BYTES"
        with self._engine.connect() as connection:
            if self._engine.dialect.name != "postgresql":
                return _sqlite_write_problem(connection)
            standby, read_only = connection.execute(
                text("SELECT pg_is_in_recovery(), current_setting('transaction_read_only')")
            ).one()
            if standby or read_only == "on":
                return "the database refuses writes (a standby, or read-only transactions)"
        return None

    def close(self) -> None:
        """Close the probe's connections."""
        self._engine.dispose()


def _sqlite_write_problem(connection: Connection) -> str | None:
    """Try a write and roll it back, without waiting for the write lock (another writer holding it proves
    the file writable)."""
    driver = connection.connection.driver_connection
    assert isinstance(driver, sqlite3.Connection)
    driver.execute("PRAGMA busy_timeout = 0")
    try:
        driver.execute("BEGIN IMMEDIATE")
        try:
            driver.execute("UPDATE alembic_version SET version_num = version_num")
        finally:
            driver.execute("ROLLBACK")
    except sqlite3.OperationalError as error:
        code = error.sqlite_errorcode & 0xFF
        if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            return None
        if code == sqlite3.SQLITE_READONLY:
            return "the database file is read-only"
        raise
    return None
