"""Bring a ledger database to the newest schema with Alembic (run at start-up and by `carbon db upgrade`).

Replicas starting at once, or `carbon db upgrade` run twice, must not race to create the same tables: on
PostgreSQL the migration runs under an advisory lock of its schema, taken in its own transaction, so the
second waits for the first to commit and then finds nothing left to do. On SQLite the migration's
transaction holds the database's write lock from its first statement (BEGIN IMMEDIATE), which serialises
it already.
"""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

from carbon.adapters.sql_store import write_transaction

__all__ = ["upgrade"]

_SCRIPTS = Path(__file__).resolve().parent / "migrations"
_IN_PROCESS = threading.Lock()  # Alembic's migration context is process-global: one upgrade at a time here
_MIGRATION_LOCK_SPACE = 0x6D6967  # "mig": the first key of the two-key advisory lock on a schema's migration


def upgrade(engine: Engine) -> None:
    """Apply every migration not yet applied, in one transaction, one migrating process at a time."""
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    with _IN_PROCESS, write_transaction(engine) as connection:
        if connection.dialect.name == "postgresql":
            # waits as long as the other migration takes; keyed by schema, so ledgers in other schemas of
            # the same server migrate side by side
            connection.execute(text("SELECT pg_advisory_xact_lock(:space, hashtext(current_schema()))"),
                               {"space": _MIGRATION_LOCK_SPACE})  # fmt: skip
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
