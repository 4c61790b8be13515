"""`carbon calculate`: avoided emissions of loans and energy savings, nothing recorded."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from carbon.adapters.loan_files import guess_format, read_loan_chunks
from carbon.cli.common import (
    ERR,
    OUT,
    JsonOption,
    OnOption,
    ReleaseOption,
    UnitOption,
    load_factors,
    parse_day,
    print_json,
    reported,
)
from carbon.core.model import Emission, Method
from carbon.errors import CarbonError
from carbon.services.bulk import BulkLoanResult, calculate_loan_chunks
from carbon.services.calculations import energy_avoided, loans_avoided
from carbon.services.views import bulk_view, display_amount, emission_view

__all__ = ["calculate_app"]


calculate_app = typer.Typer(
    help="Compute avoided emissions without recording them.", no_args_is_help=True, rich_markup_mode=None
)


def _print_emission(emission: Emission, as_json: bool, unit: str) -> None:
    """Print an avoided emission with the factor, release and source behind it."""
    view = emission_view(emission, "avoided", unit)
    if as_json:
        print_json(view)
        return
    f = emission.factor
    OUT.print(f"avoided     {view['display']}  (exactly {view['emission']['value']} {unit})",
              markup=False)  # fmt: skip
    OUT.print(f"activity    {view['quantity']['value']} {emission.unit}", markup=False)
    OUT.print(f"factor      {f.id} v{f.version} = {f.value_text} {f.unit} ({f.confidence})",
              markup=False)  # fmt: skip
    OUT.print(f"release     {f.release}", markup=False)
    OUT.print(f"source      {f.source.publisher}: {f.source.document}, {f.table}", markup=False)


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
    with reported():
        if (count is None) == (file is None):
            raise CarbonError("give either --count N (with --on DATE) or --file FILE")
        if file is not None:
            result = calculate_loan_chunks(
                load_factors(), read_loan_chunks(file, guess_format(file, file_format)), release=release,
                default_region=region, dedupe=not assume_unique,
            )  # fmt: skip
            _print_bulk(result, as_json, unit)
            return
        assert count is not None
        emission = loans_avoided(load_factors(), count, parse_day(on), release=release, region=region)
        _print_emission(emission, as_json, unit)


def _print_bulk(result: BulkLoanResult, as_json: bool, unit: str) -> None:
    """Totals of a loan file by month, product and region, with the factors and the rejected rows."""
    view = bulk_view(result, unit)
    if as_json:
        print_json(view)
        return
    OUT.print(
        f"avoided     {display_amount(result.mg)}  (exactly {view['avoided']['value']} {unit})", markup=False
    )
    counts = (f"{result.rows:,} read, {result.loans_counted:,} counted ({result.online:,} online, "
              f"{result.branch:,} branch), {result.duplicates_in_file:,} duplicates, "
              f"{result.rejected_count:,} rejected")  # fmt: skip
    OUT.print(f"rows        {counts}", markup=False)
    OUT.print(f"release     {result.release}", markup=False)
    for f in result.factors:
        OUT.print(
            f"factor      {f.id} v{f.version} = {f.value_text} {f.unit} ({f.source.publisher})", markup=False
        )
    for title, key in (("month", "by_month"), ("product", "by_product"), ("region", "by_region")):
        table = Table(title, unit, title=f"by {title}")
        for row in view[key]:
            table.add_row(row[title] or "(none)", row["amount"]["value"])
        OUT.print(table)
    for rejected in result.rejected:
        ERR.print(f"carbon: rejected {rejected.where}: {rejected.reason}", markup=False)


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
    with reported():
        day = parse_day(on) if on or region else None
        emission = energy_avoided(load_factors(), saved, factor_id=factor, region=region, on=day,
                                  method=method, release=release)  # fmt: skip
        _print_emission(emission, as_json, unit)
