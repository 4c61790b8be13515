"""`carbon ingest`, `carbon db upgrade` and `carbon report`: the ledger from the command line."""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress

from carbon.adapters.account_store import SqlAccounts
from carbon.adapters.loan_files import file_checksum, guess_format, read_loan_chunks
from carbon.adapters.sql_store import SqlLedger
from carbon.books.accounts import Accounts
from carbon.cli.common import (
    ERR,
    OUT,
    JsonOption,
    ReleaseOption,
    TenantOption,
    UnitOption,
    known_tenant,
    ledger_engine,
    load_factors,
    print_json,
    reported,
    safe_url,
)
from carbon.errors import RequestError
from carbon.services.ingest import record_loan_file
from carbon.services.keys import check_tenant
from carbon.services.ledger_inputs import WriteContext
from carbon.services.report_formats import report_csv, report_html, report_xlsx
from carbon.services.reports import ReportQuery, scope_report
from carbon.settings import get_settings

__all__ = ["db_app", "ingest", "report"]


def ingest(
    file: Annotated[Path, typer.Argument(help="A CSV, NDJSON or Parquet file of loans.")],
    file_format: Annotated[str | None, typer.Option("--format", help="csv, ndjson or parquet.")] = None,
    key: Annotated[
        str | None, typer.Option(help="Idempotency key (default: derived from the file's bytes).")
    ] = None,
    release: ReleaseOption = None,
    unit: UnitOption = "tCO2e",
    tenant: TenantOption = "default",
    as_json: JsonOption = False,
) -> None:
    """Record a loan file into the ledger as one entry: every good, new loan, or nothing."""
    with reported():
        settings = get_settings()
        fmt = guess_format(file, file_format)
        checksum = file_checksum(file)
        ctx = WriteContext(check_tenant(tenant), key or f"file:{checksum}", checksum, datetime.now(UTC))
        with ledger_engine() as engine, Progress(transient=True, console=ERR) as bar:
            task = bar.add_task(f"recording {file.name}", total=None)
            ledger = SqlLedger(engine, lock_wait=settings.db_lock_wait_seconds)
            outcome = record_loan_file(
                ledger, load_factors(), ctx,
                lambda: read_loan_chunks(file, fmt),
                reference=file.name,
                default_region=settings.default_loan_region, release=release, unit=unit,
                progress=lambda rows: bar.advance(task, rows), subledger=Accounts(SqlAccounts(ledger)),
            )  # fmt: skip
        _print_ingest(outcome.body, outcome.replayed, as_json, unit)


def _print_ingest(body: dict[str, Any], replayed: bool, as_json: bool, unit: str) -> None:
    """What a recorded file counted, and the rows it did not."""
    if as_json:
        print_json(body)
        return
    state = "replayed (recorded before)" if replayed else "recorded"
    OUT.print(f"{state}  entry {body['entry_id']}", markup=False)
    OUT.print(f"avoided   {body['avoided']['value']} {unit}", markup=False)
    read, counted = body["loans_received"], body["loans_counted"]
    duplicates, rejected = body["duplicates_count"], body["rejected_count"]
    summary = f"{read:,} read, {counted:,} counted, {duplicates:,} duplicates, {rejected:,} rejected"
    OUT.print(f"loans     {summary}", markup=False)
    for row in body["rejected"]:
        ERR.print(f"carbon: rejected {row['where']}: {row['reason']}", markup=False)


db_app = typer.Typer(help="The ledger database.", no_args_is_help=True, rich_markup_mode=None)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the ledger database named by the settings."""
    with reported(), ledger_engine():
        settings = get_settings()
        OUT.print(f"ok: database at {safe_url(settings.resolved_database_url)} is up to date", markup=False)


def report(
    start: Annotated[str, typer.Option("--from", help="First activity day, YYYY-MM-DD.")],
    end: Annotated[str, typer.Option("--to", help="Last activity day, YYYY-MM-DD.")],
    report_format: Annotated[str, typer.Option("--format", help="json, csv, xlsx or html.")] = "json",
    output: Annotated[Path | None, typer.Option("--output", help="Write here (default: stdout).")] = None,
    entity: Annotated[str | None, typer.Option("--entity", help="Only this entity.")] = None,
    release: Annotated[str | None, typer.Option("--release", help="Only lines of this release.")] = None,
    restate_with: Annotated[
        str | None, typer.Option("--restate-with", help="Also recompute under this release.")
    ] = None,
    unit: UnitOption = "tCO2e",
    tenant: TenantOption = "default",
) -> None:
    """The scope report (inventory by scope, avoided beside it) as JSON, CSV, XLSX or an HTML page."""
    with reported():
        if report_format not in ("json", "csv", "xlsx", "html"):
            raise RequestError(f"--format must be json, csv, xlsx or html, not {report_format!r}")
        if report_format == "xlsx" and output is None:
            raise RequestError("an XLSX report needs --output FILE")
        days = _report_day(start, "--from"), _report_day(end, "--to")
        with ledger_engine(create=False) as engine:
            query = ReportQuery(known_tenant(engine, tenant), *days, entity, release, restate_with, unit)
            view = scope_report(SqlLedger(engine), load_factors(), query)
        data: bytes = {
            "json": lambda: (json.dumps(view, indent=2, ensure_ascii=False) + "\n").encode(),
            "csv": lambda: report_csv(view).encode(),
            "xlsx": lambda: report_xlsx(view),
            "html": lambda: report_html(view).encode(),
        }[report_format]()
        if output is None:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        else:
            output.write_bytes(data)
            ERR.print(
                f"wrote {output} ({report_format}, digest {view['digest']['value'][:12]})", markup=False
            )


def _report_day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise RequestError(f"{option} must be a date YYYY-MM-DD, not {text!r}") from None
