"""`carbon keys`: create, list and revoke API keys."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from carbon.adapters.key_store import SqlKeys
from carbon.api.app import load_key_secret
from carbon.cli.common import (
    ERR,
    OUT,
    JsonOption,
    known_tenant,
    ledger_engine,
    print_json,
    reported,
)
from carbon.core.access import ApiKey, Role
from carbon.services.keys import issue_key, list_keys, revoke_key
from carbon.settings import get_settings

__all__ = ["keys_app"]


keys_app = typer.Typer(
    help="API keys: one per client system, scoped to a tenant.", no_args_is_help=True, rich_markup_mode=None
)
RoleOption = Annotated[
    list[Role], typer.Option("--role", help="read, submit, admin or metrics (repeatable).")
]


@contextmanager
def _key_store(*, create: bool = True, tenant: str | None = None) -> Iterator[tuple[SqlKeys, bytes]]:
    """The key table of the configured database (migrated first) and the server secret; reading or revoking
    keys needs an existing ledger (and a tenant it knows, when one is named)."""
    with ledger_engine(create=create) as engine:
        if tenant is not None:
            known_tenant(engine, tenant)
        yield SqlKeys(engine), load_key_secret(get_settings())


def _key_row(key: ApiKey) -> dict[str, Any]:
    return {
        "prefix": key.prefix, "tenant": key.tenant, "roles": sorted(r.value for r in key.roles),
        "name": key.name, "created_at": key.created_at.isoformat(),
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
    }  # fmt: skip


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option("--tenant", help="The tenant every request with the key acts for.")],
    role: RoleOption,
    name: Annotated[str, typer.Option("--name", help="Who holds the key, for the list.")] = "",
    as_json: JsonOption = False,
) -> None:
    """Create a key; it is printed once (only its keyed hash is stored)."""
    with reported(), _key_store() as (store, secret):
        issued = issue_key(store, secret, tenant, role, name, datetime.now(UTC))
    if as_json:
        print_json({"key": issued.plaintext, **_key_row(issued.key)})
        return
    sys.stdout.write(issued.plaintext + "\n")
    roles = ", ".join(_key_row(issued.key)["roles"])
    ERR.print(f"created {issued.key.prefix} for tenant {tenant} ({roles}); store it now: it cannot be shown "
              "again", markup=False)  # fmt: skip


@keys_app.command("list")
def keys_list(
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant's keys.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Every key with its prefix, tenant, roles and state (never the key itself)."""
    with reported(), _key_store(create=False, tenant=tenant) as (store, _):
        rows = [_key_row(key) for key in list_keys(store, tenant)]
    if as_json:
        print_json(rows)
        return
    table = Table("prefix", "tenant", "roles", "name", "created", "revoked")
    for row in rows:
        table.add_row(row["prefix"], row["tenant"], ",".join(row["roles"]), row["name"], row["created_at"],
                      row["revoked_at"] or "")  # fmt: skip
    OUT.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key: Annotated[str, typer.Argument(help="The key's prefix (cbk_xxxxxxxx) or the key.")],
) -> None:
    """Revoke a key: the next request that sends it is refused with 401."""
    with reported(), _key_store(create=False) as (store, _):
        revoked = revoke_key(store, key, datetime.now(UTC))
    OUT.print(f"revoked {revoked.prefix} (tenant {revoked.tenant})", markup=False)
