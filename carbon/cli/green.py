"""`carbon green windows`: carbon-aware scheduling windows."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from carbon.adapters.grid_intensity import GridIntensityProvider, parse_series
from carbon.cli.common import (
    OUT,
    JsonOption,
    UnitOption,
    print_json,
    reported,
)
from carbon.errors import CarbonError
from carbon.services.green import FetchSeries, WindowsInput, windows_view
from carbon.settings import get_settings

__all__ = ["green_app"]


green_app = typer.Typer(
    help="Green computing: carbon-aware scheduling windows.", no_args_is_help=True, rich_markup_mode=None
)


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
    with reported():
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
            print_json(view)
            return
        job = f"{view['job_energy']['value']} kWh over {len(steps)} step(s) of {view['step_seconds']} s"
        OUT.print(f"job  {job}; {view['candidates']} start(s) compared", markup=False)
        rows = [("now", view["now"]), *((str(i), w) for i, w in enumerate(view["windows"], 1))]
        for label, w in rows:
            saved = f"  saves {w['saved']['value']} {unit}" if label != "now" else ""
            OUT.print(f"{label:<4} {w['start']} .. {w['end']}  {w['emissions']['value']} {unit}{saved}",
                      markup=False)  # fmt: skip
