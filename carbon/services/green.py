"""Green-computing use cases: carbon intensity per loan and carbon-aware windows. Nothing is recorded.

**Intensity per loan** (in the spirit of the Software Carbon Intensity specification): the platform's
energy over a period (metered, or a fleet) times the grid factor valid over the period, in whole
milligrams, divided by the loans processed (given, or the online loans the ledger counts in the period).
**Net avoided per online loan** = the branch baseline per loan minus that digital intensity. The baseline
is the lender's reported figure (the `online_loan` factor, MYbank 34.80 g) or this project's component
model (paper and travel terms only: its assumed digital term is replaced by the measured intensity).
Each loan's baseline is rounded half-to-even to the milligram, as a recorded loan is; totals are
integer sums, and per-loan figures are exact ratios of them. The digital emissions are the inventory's
(scope 2) to report; they are shown here only to net the avoided figure, never subtracted from the
inventory.

**Windows**: the series comes from the shell (an upload parsed by an adapter, or a provider function the
shell injects), so this module does no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from fractions import Fraction
from typing import Any

from carbon.core.calculate import calculate, mg_per_unit, round_mg
from carbon.core.energy_model import ENERGY_UNIT, Measure, energy_of
from carbon.core.model import Factor, Method
from carbon.core.units import MILLIGRAM, conversion_factor, exact_amount, parse_unit
from carbon.core.windows import IntensitySeries, WindowSearch, find_windows
from carbon.errors import FactorError, RequestError
from carbon.registry import FactorRegistry
from carbon.services.energy_claims import (
    FleetInput,
    QuantityInput,
    check_storable,
    exact_view,
    fleet_of,
)
from carbon.services.loan_factors import LoanFactors
from carbon.services.ports import LedgerReader
from carbon.services.views import amount_view, factor_ref_view

__all__ = [
    "DEFAULT_COMPONENT_FACTORS",
    "LoanIntensityInput",
    "WindowsInput",
    "loan_intensity",
    "windows_view",
]

# The component model's branch terms need a paper factor and one factor per travel mode. These are the
# factor ids used when a request names none (ids, not values: the values live in factors/).
DEFAULT_COMPONENT_FACTORS = {
    "paper": "gb.desnz.paper_primary.2024",
    "car": "gb.desnz.car_average.2024",
    "bus": "gb.desnz.bus_average_local.2024",
}
_PER_LOAN = parse_unit(f"{MILLIGRAM}/loan")
_G_PER_LOAN = "gCO2e/loan"
_MG_TO_G = conversion_factor(_PER_LOAN, parse_unit(_G_PER_LOAN))
_TRAVEL = "loan_model.travel."


@dataclass(frozen=True, slots=True)
class LoanIntensityInput:
    """The platform's energy over a period (metered or a fleet) and the loans it processed."""

    start: date
    end: date
    region: str
    energy: QuantityInput | None = None
    fleet: FleetInput | None = None
    loans: int | None = None
    factor_id: str | None = None
    method: Method = Method.LOCATION
    factor_release: str | None = None
    baseline: str = "reported"
    paper_factor_id: str | None = None
    travel_factor_ids: Mapping[str, str] | None = None


def _grid_factor(registry: FactorRegistry, request: LoanIntensityInput) -> Factor:
    """The pinned factor or the region's grid factor, valid over the whole period."""
    if request.factor_id is not None:
        factor = registry.factor(request.factor_id, request.factor_release)
    else:
        factor = registry.find("electricity", request.region, request.start, method=request.method,
                               release=request.factor_release)  # fmt: skip
    if not (factor.applies_on(request.start) and factor.applies_on(request.end)):
        valid = f"{factor.valid_from}..{factor.valid_to or 'open'}"
        raise FactorError(f"{factor.id} is valid {valid}; the period {request.start}..{request.end} is not "
                          "inside it: split the period")  # fmt: skip
    return factor


def _energy(registry: FactorRegistry, request: LoanIntensityInput) -> tuple[Fraction, dict[str, Any] | None]:
    if (request.energy is None) == (request.fleet is None):
        raise RequestError("give either the metered energy or a fleet, not both and not neither")
    if request.energy is not None:
        return energy_of(Measure(exact_amount(request.energy.value), request.energy.unit.strip())), None
    assert request.fleet is not None
    _, energy, view = fleet_of(registry, request.fleet, request.start, request.end, request.factor_release)
    return energy.total, view


def _rate(values: list[tuple[Fraction, str]]) -> Fraction:
    """The product of amounts with units, in mgCO2e per loan (DimensionError if it is not that)."""
    amount, unit = Fraction(1), parse_unit("dimensionless")
    for value, text in values:
        amount, unit = amount * value, unit * parse_unit(text)
    return amount * conversion_factor(unit, _PER_LOAN)


def _parameter(registry: FactorRegistry, activity: str, day: date, release: str | None) -> Factor:
    return registry.find(activity, "GLOBAL", day, release=release)


def _component_terms(
    registry: FactorRegistry, request: LoanIntensityInput, release: str
) -> list[dict[str, Any]]:
    """Paper and travel terms of the component model, each in mgCO2e per loan with its factors."""
    day = request.start
    chosen = {**DEFAULT_COMPONENT_FACTORS, **(request.travel_factor_ids or {})}
    if request.paper_factor_id is not None:
        chosen["paper"] = request.paper_factor_id
    sheets = _parameter(registry, "loan_model.paper_sheets", day, release)
    mass = _parameter(registry, "loan_model.sheet_mass", day, release)
    paper = registry.factor(chosen["paper"], release)
    terms = [("paper", [sheets, mass, paper])]
    modes = [f for f in registry.factors(release, on=day) if f.activity.startswith(_TRAVEL)]
    for distance in sorted(modes, key=lambda f: f.activity):
        mode = distance.activity.removeprefix(_TRAVEL)
        if mode not in chosen:
            raise RequestError(
                f"the component model has a {mode} term: name its factor in component_factors.travel"
            )
        terms.append((f"travel.{mode}", [distance, registry.factor(chosen[mode], release)]))
    return [
        {"name": name, "mg": _rate([(f.value, f.unit) for f in factors]), "factors": factors}
        for name, factors in terms
    ]


def _baseline(
    registry: FactorRegistry, request: LoanIntensityInput, release: str
) -> tuple[int, dict[str, Any]]:
    """Milligrams per branch loan (rounded once, as a recorded loan is) and the baseline's record."""
    if request.baseline == "component_model":
        terms = _component_terms(registry, request, release)
        per_loan = round_mg(sum((t["mg"] for t in terms), Fraction(0)))
    else:
        factor = LoanFactors(registry, release, request.region).factor(request.region, request.start)
        if not factor.applies_on(request.end):
            raise FactorError(f"{factor.id} is valid {factor.valid_from}..{factor.valid_to}; the period ends "
                              f"{request.end}: split the period")  # fmt: skip
        per_loan = round_mg(mg_per_unit(factor, "loan"))
        terms = [{"name": "reported", "mg": Fraction(per_loan), "factors": [factor]}]
    view = {
        "basis": request.baseline,
        "per_loan": exact_view(per_loan * _MG_TO_G, _G_PER_LOAN),
        "terms": [{"name": t["name"], "per_loan": exact_view(t["mg"] * _MG_TO_G, _G_PER_LOAN),
                   "factors": [factor_ref_view(f) for f in t["factors"]]} for t in terms],
    }  # fmt: skip
    return per_loan, view


def loan_intensity(
    registry: FactorRegistry,
    reader: LedgerReader,
    tenant: str,
    request: LoanIntensityInput,
    unit: str = "tCO2e",
) -> dict[str, Any]:
    """Carbon intensity per loan over the period and the net avoided per online loan, exactly."""
    if request.end < request.start:
        raise RequestError(f"period end {request.end} is before its start {request.start}")
    parse_unit(unit)
    release = registry.release(request.factor_release).id
    factor = _grid_factor(registry, request)
    kwh, fleet_view = _energy(registry, request)
    digital_mg = calculate(kwh, ENERGY_UNIT, factor).mg
    check_storable(digital_mg)
    loans = request.loans
    if loans is None:
        loans = reader.online_loan_count(tenant, request.start, request.end)
    if loans < 1:
        raise RequestError(f"no online loans in the ledger for {request.start}..{request.end}: give `loans`")
    per_loan_mg, baseline = _baseline(registry, request, release)
    gross = per_loan_mg * loans
    check_storable(gross)
    return {
        "period": {"start": request.start.isoformat(), "end": request.end.isoformat()},
        "loans": loans,
        "loans_source": "ledger" if request.loans is None else "request",
        "energy": exact_view(kwh, ENERGY_UNIT),
        "fleet": fleet_view,
        "emissions": amount_view(digital_mg, unit),
        "intensity": exact_view(Fraction(digital_mg, loans) * _MG_TO_G, _G_PER_LOAN),
        "factor": factor_ref_view(factor),
        "method": str(factor.method) if factor.method else None,
        "baseline": baseline,
        "net_avoided_per_loan": exact_view(Fraction(gross - digital_mg, loans) * _MG_TO_G, _G_PER_LOAN),
        "avoided_gross": amount_view(gross, unit),
        "avoided_net": amount_view(gross - digital_mg, unit),
        "factor_release": release,
    }


# --- carbon-aware windows -------------------------------------------------------------------------------

FetchSeries = Callable[[str, datetime, datetime], IntensitySeries]


@dataclass(frozen=True, slots=True)
class WindowsInput:
    """A job to place and where its series comes from (an uploaded series, or a region to fetch)."""

    profile: tuple[str, ...]
    profile_unit: str
    deadline: datetime
    now: datetime
    top: int = 3
    series: IntensitySeries | None = None
    region: str | None = None


def _series(request: WindowsInput, fetch: FetchSeries | None) -> tuple[IntensitySeries, str]:
    if request.series is not None:
        return request.series, "upload"
    if request.region is None:
        raise RequestError("give a series (series or series_csv), or a region to fetch from the provider")
    if fetch is None:
        raise RequestError(
            "no grid-intensity provider is configured (CARBON_GRID_INTENSITY_URL): upload a series"
        )
    if request.deadline <= request.now:
        raise RequestError(
            f"the deadline {request.deadline.isoformat()} is not after now {request.now.isoformat()}"
        )
    return fetch(request.region, request.now, request.deadline), "provider"


def windows_view(request: WindowsInput, fetch: FetchSeries | None, unit: str = "gCO2e") -> dict[str, Any]:
    """The lowest-emission start times for the job, with what each saves against starting now."""
    parse_unit(unit)
    series, source = _series(request, fetch)
    try:
        found = find_windows(series, [exact_amount(e) for e in request.profile], request.profile_unit,
                             request.deadline, now=request.now, top=request.top)  # fmt: skip
    except OverflowError:
        raise RequestError("a time of the series, now or the deadline is out of range") from None
    return _search_view(found, series, source, unit)


def _search_view(found: WindowSearch, series: IntensitySeries, source: str, unit: str) -> dict[str, Any]:
    def window(w: Any) -> dict[str, Any]:
        return {"start": w.start.isoformat(), "end": w.end.isoformat(), "emissions": amount_view(w.mg, unit),
                "saved": amount_view(w.saved_mg, unit)}  # fmt: skip

    return {
        "source": source,
        "region": series.region,
        "series_unit": series.unit,
        "step_seconds": int(found.step.total_seconds()),
        "candidates": found.candidates,
        "job_energy": exact_view(found.energy, ENERGY_UNIT),
        "now": window(found.now),
        "windows": [window(w) for w in found.best],
    }
