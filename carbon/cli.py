"""The `carbon` command line: factors, calculations and the HTTP service."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer
import uvicorn
from pydantic import ValidationError
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy.engine import make_url

from carbon.adapters.grid_intensity import GridIntensityProvider, parse_series
from carbon.adapters.key_store import SqlKeys
from carbon.adapters.loan_files import file_checksum, guess_format, read_loan_chunks
from carbon.adapters.migrate import upgrade
from carbon.adapters.sql_store import SqlLedger, create_ledger_engine
from carbon.api import create_app
from carbon.api.app import load_key_secret
from carbon.core.access import ApiKey, Role
from carbon.core.model import Emission, Method
from carbon.errors import CarbonError, FactorValidationError, RequestError
from carbon.registry import FactorRegistry, check_release, load_registry
from carbon.registry.files import MANIFEST
from carbon.registry.seal import seal_release
from carbon.services.bulk import BulkLoanResult, calculate_loan_chunks
from carbon.services.calculations import energy_avoided, loans_avoided
from carbon.services.green import FetchSeries, WindowsInput, windows_view
from carbon.services.ingest import record_loan_file
from carbon.services.keys import issue_key, list_keys, revoke_key
from carbon.services.ledger_inputs import WriteContext
from carbon.services.report_formats import report_csv, report_html, report_xlsx
from carbon.services.reports import ReportQuery, scope_report
from carbon.services.views import bulk_view, display_amount, emission_view, factor_view, release_view
from carbon.settings import get_settings

__all__ = ["app", "main"]

app = typer.Typer(help="Carbon accounting for online lending and green computing.", no_args_is_help=True)
factors_app = typer.Typer(help="Inspect and check emission-factor releases.", no_args_is_help=True)
calculate_app = typer.Typer(help="Compute avoided emissions without recording them.", no_args_is_help=True)
app.add_typer(factors_app, name="factors")
app.add_typer(calculate_app, name="calculate")

_out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
_err = Console(stderr=True, highlight=False, soft_wrap=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
ReleaseOption = Annotated[str | None, typer.Option("--release", help="Pin a factor release.")]
OnOption = Annotated[str | None, typer.Option("--on", help="Activity date, YYYY-MM-DD.")]


@contextmanager
def _reported() -> Iterator[None]:
    """Turn a CarbonError into one line on stderr and exit code 1 (problems listed one per line)."""
    try:
        yield
    except FactorValidationError as error:
        for problem in error.problems:
            _err.print(f"carbon: {problem}", markup=False)
        _err.print(f"carbon: error: {len(error.problems)} problem(s) found", markup=False)
        raise typer.Exit(1) from None
    except CarbonError as error:
        _err.print(f"carbon: error: {error}", markup=False)
        raise typer.Exit(1) from None
    except ValidationError as error:  # only settings are validated by pydantic on the command line
        first = error.errors()[0]
        names = ".".join(str(part) for part in first["loc"])
        _err.print(f"carbon: error: CARBON_{names.upper()}: {first['msg']}", markup=False)
        raise typer.Exit(1) from None


def _registry() -> FactorRegistry:
    """The registry of the configured factors folder."""
    return load_registry(get_settings().factors_dir)


def _day(text: str | None, default: date | None = None) -> date:
    """Parse an ISO date, or fail with the CLI's one-line message."""
    if text is None:
        return default or date.today()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CarbonError(f"--on must be a date like 2021-12-31, got {text!r}") from None


def _print_json(data: Any) -> None:
    """Machine output, stable key order."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


@factors_app.command("list")
def factors_list(
    release: ReleaseOption = None,
    activity: Annotated[str | None, typer.Option(help="Only this activity.")] = None,
    region: Annotated[str | None, typer.Option(help="Only this region.")] = None,
    on: OnOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the factors of a release (the current one by default)."""
    with _reported():
        registry = _registry()
        day = _day(on) if on else None
        found = registry.factors(release, activity=activity, region=region, on=day)
        if as_json:
            _print_json([factor_view(f) for f in found])
            return
        table = Table("id", "value", "unit", "region", "valid", "book", "confidence",
                      title=f"release {registry.release(release).id}")  # fmt: skip
        for f in found:
            valid = f"{f.valid_from}..{f.valid_to or ''}"
            table.add_row(f.id, f.value_text, f.unit, f.region, valid, str(f.book), str(f.confidence))
        _out.print(table)


@factors_app.command("show")
def factors_show(factor_id: str, release: ReleaseOption = None, as_json: JsonOption = False) -> None:
    """Show one factor with its full provenance."""
    with _reported():
        view = factor_view(_registry().factor(factor_id, release))
        if as_json:
            _print_json(view)
            return
        source = view.pop("source")
        for key, value in [*view.items(), *(("source." + k, v) for k, v in source.items())]:
            if value is not None:
                _out.print(f"{key:>18}  {value}", markup=False)


@factors_app.command("releases")
def factors_releases(as_json: JsonOption = False) -> None:
    """List factor releases, newest first, marking the current one."""
    with _reported():
        registry = _registry()
        views = [release_view(r, r.id == registry.current.id) for r in registry.releases()]
        if as_json:
            _print_json(views)
            return
        for v in views:
            mark = "*" if v["current"] else " "
            _out.print(f"{mark} {v['id']}  published {v['published']}  {v['factor_count']} factors  "
                       f"sha256 {v['checksum'][:16]}", markup=False)  # fmt: skip


@factors_app.command("check")
def factors_check(
    path: Annotated[Path | None, typer.Argument(help="A release folder or a factors folder.")] = None,
) -> None:
    """Validate factor files; every problem is printed with its file and line."""
    with _reported():
        target = path or get_settings().factors_dir
        if (target / MANIFEST).is_file():
            problems = check_release(target)
            if problems:
                raise FactorValidationError(problems)
            _out.print(f"ok: release {target.name} is sound", markup=False)
            return
        registry = load_registry(target)
        count = sum(len(r.factors) for r in registry.releases())
        _out.print(f"ok: {len(registry.releases())} release(s), {count} factors, current "
                   f"{registry.current.id}", markup=False)  # fmt: skip


@factors_app.command("diff")
def factors_diff(old: str, new: str, as_json: JsonOption = False) -> None:
    """Show the factors added, removed and changed between two releases."""
    with _reported():
        diff = _registry().diff(old, new)
        if as_json:
            _print_json({
                "old": diff.old, "new": diff.new, "unchanged": diff.unchanged,
                "added": [factor_view(f) for f in diff.added],
                "removed": [factor_view(f) for f in diff.removed],
                "changed": [{"old": factor_view(a), "new": factor_view(b)} for a, b in diff.changed],
            })  # fmt: skip
            return
        for f in diff.added:
            _out.print(f"+ {f.id} {f.value_text} {f.unit}", markup=False)
        for f in diff.removed:
            _out.print(f"- {f.id} {f.value_text} {f.unit}", markup=False)
        for a, b in diff.changed:
            _out.print(f"~ {a.id} v{a.version} {a.value_text} {a.unit} -> v{b.version} "
                       f"{b.value_text} {b.unit}", markup=False)  # fmt: skip
        _out.print(f"{len(diff.added)} added, {len(diff.removed)} removed, {len(diff.changed)} "
                   f"changed, {diff.unchanged} unchanged", markup=False)  # fmt: skip


@factors_app.command("seal")
def factors_seal(path: Path) -> None:
    """Write the checksums of a release being prepared into its manifest (not for released folders)."""
    with _reported():
        for name, digest in seal_release(path).items():
            _out.print(f"{digest}  {name}", markup=False)
        problems = check_release(path)
        if problems:
            raise FactorValidationError(problems)


def _print_emission(emission: Emission, as_json: bool, unit: str) -> None:
    """Print an avoided emission with the factor, release and source behind it."""
    view = emission_view(emission, "avoided", unit)
    if as_json:
        _print_json(view)
        return
    f = emission.factor
    _out.print(f"avoided     {view['display']}  (exactly {view['emission']['value']} {unit})",
               markup=False)  # fmt: skip
    _out.print(f"activity    {view['quantity']['value']} {emission.unit}", markup=False)
    _out.print(f"factor      {f.id} v{f.version} = {f.value_text} {f.unit} ({f.confidence})",
               markup=False)  # fmt: skip
    _out.print(f"release     {f.release}", markup=False)
    _out.print(f"source      {f.source.publisher}: {f.source.document}, {f.table}", markup=False)


UnitOption = Annotated[str, typer.Option("--unit", help="Unit of the result: tCO2e, kgCO2e, gCO2e...")]


@calculate_app.command("loans")
def calculate_loans(
    count: Annotated[int | None, typer.Option("--count", help="Number of online loans.")] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="A CSV, NDJSON or Parquet file of loans.")
    ] = None,
    file_format: Annotated[str | None, typer.Option("--format", help="csv, ndjson or parquet.")] = None,
    assume_unique: Annotated[
        bool, typer.Option("--assume-unique", help="Skip in-file duplicate detection (bounded memory).")
    ] = False,
    on: OnOption = None,
    release: ReleaseOption = None,
    region: Annotated[str, typer.Option(help="Where the loans were made.")] = "CN",
    unit: UnitOption = "tCO2e",
    as_json: JsonOption = False,
) -> None:
    """Avoided emissions of online loans against branch visits: a count on a day, or a whole file."""
    with _reported():
        if (count is None) == (file is None):
            raise CarbonError("give either --count N (with --on DATE) or --file FILE")
        if file is not None:
            result = calculate_loan_chunks(
                _registry(), read_loan_chunks(file, guess_format(file, file_format)), release=release,
                default_region=region, dedupe=not assume_unique,
            )  # fmt: skip
            _print_bulk(result, as_json, unit)
            return
        assert count is not None
        emission = loans_avoided(_registry(), count, _day(on), release=release, region=region)
        _print_emission(emission, as_json, unit)


def _print_bulk(result: BulkLoanResult, as_json: bool, unit: str) -> None:
    """Totals of a loan file by month, product and region, with the factors and the rejected rows."""
    view = bulk_view(result, unit)
    if as_json:
        _print_json(view)
        return
    _out.print(
        f"avoided     {display_amount(result.mg)}  (exactly {view['avoided']['value']} {unit})", markup=False
    )
    counts = (f"{result.rows:,} read, {result.loans_counted:,} counted ({result.online:,} online, "
              f"{result.branch:,} branch), {result.duplicates_in_file:,} duplicates, "
              f"{result.rejected_count:,} rejected")  # fmt: skip
    _out.print(f"rows        {counts}", markup=False)
    _out.print(f"release     {result.release}", markup=False)
    for f in result.factors:
        _out.print(
            f"factor      {f.id} v{f.version} = {f.value_text} {f.unit} ({f.source.publisher})", markup=False
        )
    for title, key in (("month", "by_month"), ("product", "by_product"), ("region", "by_region")):
        table = Table(title, unit, title=f"by {title}")
        for row in view[key]:
            table.add_row(row[title] or "(none)", row["amount"]["value"])
        _out.print(table)
    for rejected in result.rejected:
        _err.print(f"carbon: rejected {rejected.where}: {rejected.reason}", markup=False)


@calculate_app.command("energy")
def calculate_energy(
    saved: Annotated[str, typer.Option("--saved", help='Energy saved, like "46769.74 MWh".')],
    factor: Annotated[str | None, typer.Option("--factor", help="Pin a factor id.")] = None,
    region: Annotated[str | None, typer.Option(help="Grid region for a lookup, like CN.")] = None,
    on: OnOption = None,
    method: Annotated[Method | None, typer.Option(help="Scope 2 method of the grid factor.")] = None,
    release: ReleaseOption = None,
    unit: UnitOption = "tCO2e",
    as_json: JsonOption = False,
) -> None:
    """Avoided emissions of saved electricity, by a pinned factor or the grid factor of a region."""
    with _reported():
        day = _day(on) if on or region else None
        emission = energy_avoided(_registry(), saved, factor_id=factor, region=region, on=day,
                                  method=method, release=release)  # fmt: skip
        _print_emission(emission, as_json, unit)


@app.command("ingest")
def ingest(
    file: Annotated[Path, typer.Argument(help="A CSV, NDJSON or Parquet file of loans.")],
    file_format: Annotated[str | None, typer.Option("--format", help="csv, ndjson or parquet.")] = None,
    key: Annotated[
        str | None, typer.Option(help="Idempotency key (default: derived from the file's bytes).")
    ] = None,
    release: ReleaseOption = None,
    unit: UnitOption = "tCO2e",
    as_json: JsonOption = False,
) -> None:
    """Record a loan file into the ledger as one entry: every good, new loan, or nothing."""
    with _reported():
        settings = get_settings()
        fmt = guess_format(file, file_format)
        checksum = file_checksum(file)
        engine = create_ledger_engine(settings.resolved_database_url)
        upgrade(engine)
        ctx = WriteContext("default", key or f"file:{checksum}", checksum, datetime.now(UTC))
        with Progress(transient=True, console=_err) as bar:
            task = bar.add_task(f"recording {file.name}", total=None)
            outcome = record_loan_file(
                SqlLedger(engine), _registry(), ctx, lambda: read_loan_chunks(file, fmt), reference=file.name,
                default_region=settings.default_loan_region, release=release, unit=unit,
                progress=lambda rows: bar.advance(task, rows),
            )  # fmt: skip
        engine.dispose()
        _print_ingest(outcome.body, outcome.replayed, as_json, unit)


def _print_ingest(body: dict[str, Any], replayed: bool, as_json: bool, unit: str) -> None:
    """What a recorded file counted, and the rows it did not."""
    if as_json:
        _print_json(body)
        return
    state = "replayed (recorded before)" if replayed else "recorded"
    _out.print(f"{state}  entry {body['entry_id']}", markup=False)
    _out.print(f"avoided   {body['avoided']['value']} {unit}", markup=False)
    read, counted = body["loans_received"], body["loans_counted"]
    duplicates, rejected = body["duplicates_count"], body["rejected_count"]
    summary = f"{read:,} read, {counted:,} counted, {duplicates:,} duplicates, {rejected:,} rejected"
    _out.print(f"loans     {summary}", markup=False)
    for row in body["rejected"]:
        _err.print(f"carbon: rejected {row['where']}: {row['reason']}", markup=False)


db_app = typer.Typer(help="The ledger database.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the ledger database named by the settings."""
    with _reported():
        settings = get_settings()
        upgrade(create_ledger_engine(settings.resolved_database_url))
        _out.print(f"ok: database at {_safe_url(settings.resolved_database_url)} is up to date", markup=False)


keys_app = typer.Typer(help="API keys: one per client system, scoped to a tenant.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
RoleOption = Annotated[list[Role], typer.Option("--role", help="read, submit or admin (repeatable).")]


@contextmanager
def _key_store() -> Iterator[tuple[SqlKeys, bytes]]:
    """The key table of the configured database (migrated first) and the server secret."""
    settings = get_settings()
    engine = create_ledger_engine(settings.resolved_database_url)
    try:
        upgrade(engine)
        yield SqlKeys(engine), load_key_secret(settings)
    finally:
        engine.dispose()


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
    with _reported(), _key_store() as (store, secret):
        issued = issue_key(store, secret, tenant, role, name, datetime.now(UTC))
    if as_json:
        _print_json({"key": issued.plaintext, **_key_row(issued.key)})
        return
    sys.stdout.write(issued.plaintext + "\n")
    roles = ", ".join(_key_row(issued.key)["roles"])
    _err.print(f"created {issued.key.prefix} for tenant {tenant} ({roles}); store it now: it cannot be shown "
               "again", markup=False)  # fmt: skip


@keys_app.command("list")
def keys_list(
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant's keys.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Every key with its prefix, tenant, roles and state (never the key itself)."""
    with _reported(), _key_store() as (store, _):
        rows = [_key_row(key) for key in list_keys(store, tenant)]
    if as_json:
        _print_json(rows)
        return
    table = Table("prefix", "tenant", "roles", "name", "created", "revoked")
    for row in rows:
        table.add_row(row["prefix"], row["tenant"], ",".join(row["roles"]), row["name"], row["created_at"],
                      row["revoked_at"] or "")  # fmt: skip
    _out.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key: Annotated[str, typer.Argument(help="The key's prefix (cbk_xxxxxxxx) or the key.")],
) -> None:
    """Revoke a key: the next request that sends it is refused with 401."""
    with _reported(), _key_store() as (store, _):
        revoked = revoke_key(store, key, datetime.now(UTC))
    _out.print(f"revoked {revoked.prefix} (tenant {revoked.tenant})", markup=False)


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (CARBON_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (CARBON_PORT).")] = None,
) -> None:
    """Check the factors, create or migrate the database, and serve the HTTP API."""
    with _reported():
        settings = get_settings()
        registry = load_registry(settings.factors_dir)
        application = create_app(settings, registry)
        _err.print(f"carbon: serving on http://{host or settings.host}:{port or settings.port} "
                   f"(factors {registry.current.id}, database {_safe_url(settings.resolved_database_url)})",
                   markup=False)  # fmt: skip
    # uvicorn finishes in-flight requests on SIGTERM, then raises the signal again: exit 0 after that drain
    signal.signal(signal.SIGTERM, _drained)
    # our logging (JSON lines, one access line per request with its id) stays in place: no uvicorn config
    uvicorn.run(application, host=host or settings.host, port=port or settings.port, log_config=None,
                access_log=False, timeout_graceful_shutdown=30)  # fmt: skip


def _drained(_signum: int, _frame: FrameType | None) -> None:
    """Exit 0: the graceful shutdown that SIGTERM asked for has completed."""
    raise SystemExit(0)


def _safe_url(url: str) -> str:
    """A database URL without its password, for logs."""
    return make_url(url).render_as_string(hide_password=True)


green_app = typer.Typer(help="Green computing: carbon-aware scheduling windows.", no_args_is_help=True)
app.add_typer(green_app, name="green")


def _moment(text: str, option: str) -> datetime:
    """An ISO 8601 time with its zone, or the CLI's one-line error."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CarbonError(f"{option} must be a time like 2026-11-22T08:00:00+08:00, got {text!r}") from None
    if moment.tzinfo is None:
        raise CarbonError(f"{option} needs a time zone (Z or +08:00), got {text!r}")
    return moment


def _profile(text: str) -> tuple[tuple[str, ...], str]:
    """'1.5,2,2 kWh' into its steps and unit."""
    numbers, _, unit = text.strip().rpartition(" ")
    steps = tuple(n.strip() for n in numbers.split(","))
    if not unit or not numbers or not all(steps):
        raise CarbonError(f'--profile is energy per step and a unit, like "1.5,2,2 kWh"; got {text!r}')
    return steps, unit


def _provider_fetch() -> FetchSeries | None:
    """The configured grid-intensity provider's fetch (None when CARBON_GRID_INTENSITY_URL is unset)."""
    settings = get_settings()
    if settings.grid_intensity_url is None:
        return None
    provider = GridIntensityProvider(settings.grid_intensity_url, timeout=settings.grid_intensity_timeout,
                                     retries=settings.grid_intensity_retries,
                                     backoff=settings.grid_intensity_backoff, cache_seconds=0)  # fmt: skip
    return provider.fetch


@green_app.command("windows")
def green_windows(
    profile: Annotated[str, typer.Option("--profile", help='Job energy per series step: "1.5,2,2 kWh".')],
    deadline: Annotated[str, typer.Option("--deadline", help="Finish by, like 2026-11-23T06:00:00Z.")],
    series: Annotated[
        Path | None, typer.Option("--series", help="Grid intensity: CSV (start,intensity,unit) or JSON.")
    ] = None,
    series_format: Annotated[str | None, typer.Option("--format", help="csv or json (by suffix).")] = None,
    region: Annotated[
        str | None, typer.Option(help="Region of the series (fetched without --series).")
    ] = None,
    now: Annotated[str | None, typer.Option("--now", help="Start from (default: the clock).")] = None,
    top: Annotated[int, typer.Option("--top", help="How many start times to list.")] = 3,
    unit: UnitOption = "gCO2e",
    as_json: JsonOption = False,
) -> None:
    """The lowest-emission start times for a job, and what each saves against starting now."""
    with _reported():
        uploaded = None
        if series is not None:
            fmt = series_format or series.suffix.lstrip(".").lower()
            uploaded = parse_series(series.read_bytes(), fmt, region)
        steps, profile_unit = _profile(profile)
        start = _moment(now, "--now") if now else datetime.now(UTC)
        request = WindowsInput(
            steps, profile_unit, _moment(deadline, "--deadline"), start, top, uploaded, region
        )
        view = windows_view(request, None if uploaded else _provider_fetch(), unit)
        if as_json:
            _print_json(view)
            return
        job = f"{view['job_energy']['value']} kWh over {len(steps)} step(s) of {view['step_seconds']} s"
        _out.print(f"job  {job}; {view['candidates']} start(s) compared", markup=False)
        rows = [("now", view["now"]), *((str(i), w) for i, w in enumerate(view["windows"], 1))]
        for label, w in rows:
            saved = f"  saves {w['saved']['value']} {unit}" if label != "now" else ""
            _out.print(f"{label:<4} {w['start']} .. {w['end']}  {w['emissions']['value']} {unit}{saved}",
                       markup=False)  # fmt: skip


@app.command("report")
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
) -> None:
    """The scope report (inventory by scope, avoided beside it) as JSON, CSV, XLSX or an HTML page."""
    with _reported():
        if report_format not in ("json", "csv", "xlsx", "html"):
            raise RequestError(f"--format must be json, csv, xlsx or html, not {report_format!r}")
        if report_format == "xlsx" and output is None:
            raise RequestError("an XLSX report needs --output FILE")
        settings = get_settings()
        engine = create_ledger_engine(settings.resolved_database_url)
        upgrade(engine)
        days = _report_day(start, "--from"), _report_day(end, "--to")
        query = ReportQuery("default", *days, entity, release, restate_with, unit)
        view = scope_report(SqlLedger(engine), _registry(), query)
        engine.dispose()
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
            _err.print(
                f"wrote {output} ({report_format}, digest {view['digest']['value'][:12]})", markup=False
            )


def _report_day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise RequestError(f"{option} must be a date YYYY-MM-DD, not {text!r}") from None


def main() -> None:
    """Console entry point."""
    app()
