"""API keys in SQL, and the server secret their hashes are keyed with."""

from __future__ import annotations

import os
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select, update

from carbon.adapters.schema import api_keys
from carbon.adapters.sql_store import aware, write_transaction
from carbon.core.access import ApiKey, Role

__all__ = ["SqlKeys", "read_or_create_secret"]


def _key(row: Any) -> ApiKey:
    roles = frozenset(Role(part) for part in row.roles.split(",") if part)
    revoked = aware(row.revoked_at) if row.revoked_at is not None else None
    return ApiKey(row.key_id, row.prefix, row.tenant, roles, row.name, aware(row.created_at), revoked)


class SqlKeys:
    """The api_keys table over one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add_key(self, key: ApiKey, key_hash: str) -> None:
        """Insert a new key (prefixes are unique: a collision fails loudly, never overwrites)."""
        roles = ",".join(sorted(role.value for role in key.roles))
        with write_transaction(self.engine) as connection:
            connection.execute(api_keys.insert().values(
                key_id=key.key_id, prefix=key.prefix, tenant=key.tenant, roles=roles, name=key.name,
                key_hash=key_hash, created_at=key.created_at, revoked_at=key.revoked_at,
            ))  # fmt: skip

    def find_key(self, prefix: str) -> tuple[ApiKey, str] | None:
        """The key with this prefix and its stored hash."""
        with self.engine.connect() as connection:
            row = connection.execute(select(api_keys).where(api_keys.c.prefix == prefix)).first()
        return None if row is None else (_key(row), row.key_hash)

    def list_keys(self, tenant: str | None) -> list[ApiKey]:
        """Every key (of one tenant), oldest first."""
        query = select(api_keys).order_by(api_keys.c.created_at, api_keys.c.prefix)
        if tenant is not None:
            query = query.where(api_keys.c.tenant == tenant)
        with self.engine.connect() as connection:
            return [_key(row) for row in connection.execute(query)]

    def revoke_key(self, prefix: str, now: datetime) -> ApiKey | None:
        """Mark the key revoked (once: a second revocation keeps the first time)."""
        with write_transaction(self.engine) as connection:
            connection.execute(update(api_keys)
                               .where(api_keys.c.prefix == prefix, api_keys.c.revoked_at.is_(None))
                               .values(revoked_at=now))  # fmt: skip
            row = connection.execute(select(api_keys).where(api_keys.c.prefix == prefix)).first()
        return None if row is None else _key(row)


def read_or_create_secret(path: Path) -> bytes:
    """The secret in `path`, created once (0600, 32 random bytes as hex) when it does not exist."""
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        staged = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        descriptor = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(secrets.token_hex(32).encode())
        try:
            os.link(staged, path)  # atomic: a process that raced us keeps its secret, we read it
        except FileExistsError:
            pass
        finally:
            staged.unlink()
    return path.read_bytes().strip()
