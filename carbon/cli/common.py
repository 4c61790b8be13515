"""What every command shares: the consoles, one-line errors, options and small parsers."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from carbon.adapters.db_errors import database_problem
from carbon.adapters.ledger_presence import known_tenants, ledger_exists, sqlite_file, tenant_known
from carbon.adapters.migrate import upgrade
from carbon.adapters.sql_store import create_ledger_engine
from carbon.errors import CarbonError, FactorValidationError, NotFoundError
from carbon.registry import FactorRegistry, load_registry
from carbon.services.keys import check_tenant
from carbon.settings import Settings, get_settings

__all__ = [
    "ERR",
    "OUT",
    "JsonOption",
    "OnOption",
    "ReleaseOption",
    "UnitOption",
    "known_tenant",
    "ledger_engine",
    "load_factors",
    "parse_day",
    "print_json",
    "reported",
    "safe_url",
]

OUT = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
ERR = Console(stderr=True, highlight=False, soft_wrap=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
ReleaseOption = Annotated[str | None, typer.Option("--release", help="Pin a factor release.")]
OnOption = Annotated[str | None, typer.Option("--on", help="Activity date, YYYY-MM-DD.")]
TenantOption = Annotated[
    str, typer.Option("--tenant", help="The tenant whose ledger this is (as its API keys name it).")
]
UnitOption = Annotated[str, typer.Option("--unit", help="Unit of the result: tCO2e, kgCO2e, gCO2e...")]


@contextmanager
def reported() -> Iterator[None]:
    """Turn a CarbonError into one line on stderr and exit code 1 (problems listed one per line)."""
    try:
        yield
    except FactorValidationError as error:
        for problem in error.problems:
            ERR.print(f"carbon: {problem}", markup=False)
        ERR.print(f"carbon: error: {len(error.problems)} problem(s) found", markup=False)
        raise typer.Exit(1) from None
    except CarbonError as error:
        ERR.print(f"carbon: error: {error}", markup=False)
        raise typer.Exit(1) from None
    except ValidationError as error:  # only settings are validated by pydantic on the command line
        first = error.errors()[0]
        names = ".".join(str(part) for part in first["loc"])
        ERR.print(f"carbon: error: CARBON_{names.upper()}: {first['msg']}", markup=False)
        raise typer.Exit(1) from None
    except Exception as error:  # a full disk, a read-only or locked database: what it is, in one line
        _database_line(error)
        raise


def _database_line(error: Exception) -> None:
    """Exit 1 with one line when a database failure has a name (busy, disk full, read-only)."""
    named = database_problem(error)
    if named is not None:
        ERR.print(f"carbon: error: {named}", markup=False)
        raise typer.Exit(1) from None


def load_factors() -> FactorRegistry:
    """The registry of the configured factors folder."""
    return load_registry(get_settings().factors_dir)


@contextmanager
def ledger_engine(*, create: bool = True) -> Iterator[Engine]:
    """The configured ledger database, migrated, and closed again whatever happens; stderr names it.

    A read command passes `create=False`: where no ledger exists yet it stops with one line instead of
    creating an empty one and printing zeros.
    """
    settings = get_settings()
    url = settings.resolved_database_url
    ERR.print(f"carbon: ledger {safe_url(url)} ({_ledger_source(settings)})", markup=False)
    file = sqlite_file(url)
    if not create and file is not None and not file.exists():  # connecting would create the file
        raise NotFoundError(_no_ledger(str(file)))
    engine = create_ledger_engine(url, lock_wait=settings.db_lock_wait_seconds)
    try:
        if not create and not ledger_exists(engine):
            raise NotFoundError(_no_ledger(safe_url(url)))
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()


def known_tenant(engine: Engine, tenant: str) -> str:
    """The tenant, if this ledger has an entry, a job or a key of it; else one line naming some it has."""
    check_tenant(tenant)
    if not tenant_known(engine, tenant):
        some = ", ".join(known_tenants(engine)) or "none yet"
        raise NotFoundError(
            f"tenant {tenant!r} has no entries, jobs or API keys in this ledger (tenants: {some})"
        )
    return tenant


def _ledger_source(settings: Settings) -> str:
    """Which setting chose the ledger."""
    if settings.database_url:
        return "CARBON_DATABASE_URL"
    return "CARBON_DATA_DIR" if "data_dir" in settings.model_fields_set else "the per-user data directory"


def _no_ledger(where: str) -> str:
    return (f"no ledger at {where}; a read command does not create one (point CARBON_DATA_DIR or "
            "CARBON_DATABASE_URL at the service's ledger, or record something first)")  # fmt: skip


def parse_day(text: str | None, default: date | None = None) -> date:
    """Parse an ISO date, or fail with the CLI's one-line message."""
    if text is None:
        return default or date.today()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CarbonError(f"--on must be a date like 2021-12-31, got {text!r}") from None


def print_json(data: Any) -> None:
    """Machine output, stable key order."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def safe_url(url: str) -> str:
    """A database URL without its password, for logs."""
    return make_url(url).render_as_string(hide_password=True)
