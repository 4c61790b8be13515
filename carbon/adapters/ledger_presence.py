"""Whether a ledger exists where the settings point, and whether it knows a tenant: read commands refuse a
missing ledger and an unknown tenant instead of printing zeros."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, exists, inspect, select, union
from sqlalchemy.engine import make_url

from carbon.adapters.schema import api_keys, entries, jobs

__all__ = ["known_tenants", "ledger_exists", "sqlite_file", "tenant_known"]

_TENANT_COLUMNS = (entries.c.tenant, jobs.c.tenant, api_keys.c.tenant)


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None for another database or an in-memory one)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def ledger_exists(engine: Engine) -> bool:
    """The database holds a ledger (its entries table), not merely an empty file or schema."""
    return inspect(engine).has_table(entries.name)


def tenant_known(engine: Engine, tenant: str) -> bool:
    """The tenant has an entry, a job or an API key here (index lookups, no scan)."""
    with engine.connect() as connection:
        return any(
            connection.execute(select(exists().where(column == tenant))).scalar()
            for column in _TENANT_COLUMNS
        )


def known_tenants(engine: Engine, limit: int = 10) -> list[str]:
    """Some tenants of this ledger, sorted, for an error message."""
    query = union(*(select(column) for column in _TENANT_COLUMNS))
    with engine.connect() as connection:
        return sorted(str(tenant) for tenant in connection.execute(query).scalars())[:limit]
