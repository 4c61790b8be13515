"""Bring a ledger database to the newest schema with Alembic (run at start-up and by `carbon db upgrade`)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from carbon.adapters.sql_store import write_transaction

__all__ = ["upgrade"]

_SCRIPTS = Path(__file__).resolve().parent / "migrations"


def upgrade(engine: Engine) -> None:
    """Apply every migration not yet applied, in one transaction."""
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    with write_transaction(engine) as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
