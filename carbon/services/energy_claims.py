"""Energy-saving claims: a measured saving, or a baseline and an actual scenario (metered or modelled fleet).

A claim records what an auditor needs to re-derive it: both scenarios with every input and the factor
each coefficient came from, the work they were normalised to, the boundary (own data centres, scope 2
context; a supplier's, scope 3 upstream), the requested scope 2 method and the factor of the entry's
amount, and the location-based and market-based figures side by side. A method whose factor does not
exist for the region and period is shown as null with the reason: no other factor is put in its place.

Stored details keep milligrams as integers; `claim_view` renders them in the unit a reader asks for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from typing import Any, NamedTuple

from carbon.core.calculate import calculate, decimal_text
from carbon.core.energy_model import (
    ENERGY_UNIT,
    POWER_UNIT,
    CapacityTerm,
    Fleet,
    FleetEnergy,
    Measure,
    Saving,
    capacity_energy,
    energy_of,
    energy_saved,
    fleet_energy,
)
from carbon.core.model import Factor, Method
from carbon.core.units import exact_amount
from carbon.errors import FactorError, QuantityError, RequestError
from carbon.registry import FactorRegistry
from carbon.services.views import amount_view, factor_ref_view

__all__ = [
    "BOUNDARY_SCOPES",
    "CapacityInput",
    "ClaimEnergy",
    "EnergyClaimInput",
    "FleetInput",
    "QuantityInput",
    "ScenarioInput",
    "check_storable",
    "claim_details",
    "claim_energy",
    "claim_view",
    "exact_view",
    "fleet_of",
    "period_hours",
]

BOUNDARY_SCOPES = {"own_data_centre": 2, "supplier_data_centre": 3}
_MAX_KWH = 10**18  # keeps every energy a DecimalText and every emission inside a BIGINT column
_MAX_MG = 2**63
_PLACES = 18  # energies that are not terminating decimals are shown to 18 places, with the exact ratio


class QuantityInput(NamedTuple):
    """A decimal amount and its unit, as sent."""

    value: str
    unit: str


@dataclass(frozen=True, slots=True)
class CapacityInput:
    """Memory or storage: capacity and its energy coefficient, given or pinned by factor id."""

    capacity: QuantityInput
    coefficient: QuantityInput | None = None
    coefficient_factor_id: str | None = None


@dataclass(frozen=True, slots=True)
class FleetInput:
    """A fleet as sent: servers or vCPUs, power given or pinned by factor id, utilisation, duration, PUE."""

    utilisation: str
    servers: str | None = None
    vcpus: str | None = None
    min_power: QuantityInput | None = None
    max_power: QuantityInput | None = None
    min_power_factor_id: str | None = None
    max_power_factor_id: str | None = None
    duration: QuantityInput | None = None
    pue: str | None = None
    pue_factor_id: str | None = None
    memory: CapacityInput | None = None
    storage: tuple[CapacityInput, ...] = ()


@dataclass(frozen=True, slots=True)
class ScenarioInput:
    """Metered energy or a fleet, and optionally the work it did."""

    energy: QuantityInput | None = None
    fleet: FleetInput | None = None
    work: QuantityInput | None = None


@dataclass(frozen=True, slots=True)
class EnergyClaimInput:
    """An energy-saving claim: a measured saving, or a baseline and an actual scenario."""

    saving_id: str
    start: date
    end: date
    method: Method = Method.LOCATION
    region: str | None = None
    factor_id: str | None = None
    factor_release: str | None = None
    energy_saved: QuantityInput | None = None
    baseline: ScenarioInput | None = None
    actual: ScenarioInput | None = None
    boundary: str | None = None


@dataclass(frozen=True, slots=True)
class ClaimEnergy:
    """The energy a claim saved (in `unit`), its text for the ledger line, and the scenario record."""

    amount: Fraction
    unit: str
    text: str
    saving: Saving | None = None
    scenarios: dict[str, Any] = field(default_factory=dict)


def exact_view(value: Fraction, unit: str) -> dict[str, Any]:
    """An exact amount over the wire: a decimal string, or (not terminating) 18 places and the ratio."""
    try:
        return {"value": decimal_text(value), "unit": unit, "exact": None}
    except QuantityError:
        rounded = Fraction(round(value * 10**_PLACES), 10**_PLACES)
        return {
            "value": decimal_text(rounded),
            "unit": unit,
            "exact": f"{value.numerator}/{value.denominator}",
        }


def check_storable(mg: int) -> None:
    """An emission must fit the ledger's 64-bit milligram columns."""
    if abs(mg) >= _MAX_MG:
        raise QuantityError("the emission exceeds 9.2 million tCO2e; split the activity")


def _measure(quantity: QuantityInput) -> Measure:
    return Measure(exact_amount(quantity.value), quantity.unit.strip())


def _kwh(value: Fraction) -> Fraction:
    if value >= _MAX_KWH:
        raise QuantityError(f"an energy of {_MAX_KWH} {ENERGY_UNIT} or more is out of range; split the claim")
    return value


def period_hours(start: date, end: date) -> Measure:
    """Hours from the start of `start` to the end of `end` (both days inclusive)."""
    return Measure(Fraction(((end - start).days + 1) * 24), "h")


def _parameter(
    registry: FactorRegistry, factor_id: str, release: str | None, start: date, end: date
) -> Factor:
    """A model parameter pinned by id; valid over the whole period, like any factor."""
    factor = registry.factor(factor_id, release)
    if factor.is_emission_factor:
        raise FactorError(f"{factor.id} is an emission factor; a fleet needs a parameter (book parameter)")
    if not (factor.applies_on(start) and factor.applies_on(end)):
        valid = f"{factor.valid_from}..{factor.valid_to or 'open'}"
        raise FactorError(f"{factor.id} is valid {valid}; the period {start}..{end} is not inside it")
    return factor


class _Resolver:
    """Values given in the request, or parameters pinned by id, with the factors used recorded."""

    def __init__(self, registry: FactorRegistry, release: str | None, start: date, end: date) -> None:
        self.registry, self.release, self.start, self.end = registry, release, start, end

    def measure(self, given: QuantityInput | None, factor_id: str | None, what: str) -> tuple[Measure, Any]:
        if (given is None) == (factor_id is None):
            raise RequestError(f"give either {what} or {what}_factor_id, not both and not neither")
        if given is not None:
            return _measure(given), None
        assert factor_id is not None
        factor = _parameter(self.registry, factor_id, self.release, self.start, self.end)
        return Measure(factor.value, factor.unit), factor_ref_view(factor)

    def pue(self, given: str | None, factor_id: str | None) -> tuple[Fraction, Any]:
        if (given is None) == (factor_id is None):
            raise RequestError("give either pue or pue_factor_id, not both and not neither")
        if given is not None:
            return exact_amount(given), None
        assert factor_id is not None
        factor = _parameter(self.registry, factor_id, self.release, self.start, self.end)
        if factor.unit != "dimensionless":
            raise FactorError(f"{factor.id} is in {factor.unit!r}; a PUE factor is dimensionless")
        return factor.value, factor_ref_view(factor)


def _quantity_view(measure: Measure) -> dict[str, Any]:
    return exact_view(measure.amount, measure.unit)


def _capacity(
    resolver: _Resolver, term: CapacityInput, hours: Measure
) -> tuple[CapacityTerm, dict[str, Any]]:
    coefficient, ref = resolver.measure(term.coefficient, term.coefficient_factor_id, "coefficient")
    built = CapacityTerm(_measure(term.capacity), coefficient)
    energy = capacity_energy(built, hours)
    view = {"capacity": _quantity_view(built.capacity), "coefficient": _quantity_view(coefficient),
            "coefficient_factor": ref, "energy": exact_view(energy, ENERGY_UNIT)}  # fmt: skip
    return built, view


def fleet_of(
    registry: FactorRegistry, fleet: FleetInput, start: date, end: date, release: str | None = None
) -> tuple[Fleet, FleetEnergy, dict[str, Any]]:
    """Build a fleet from its input (pinned parameters looked up), its energy, and the record of both."""
    if (fleet.servers is None) == (fleet.vcpus is None):
        raise RequestError("a fleet counts either servers or vcpus, not both and not neither")
    counted, count_text = ("servers", fleet.servers) if fleet.servers is not None else ("vcpus", fleet.vcpus)
    assert count_text is not None
    resolver = _Resolver(registry, release, start, end)
    min_power, min_ref = resolver.measure(fleet.min_power, fleet.min_power_factor_id, "min_power")
    max_power, max_ref = resolver.measure(fleet.max_power, fleet.max_power_factor_id, "max_power")
    pue, pue_ref = resolver.pue(fleet.pue, fleet.pue_factor_id)
    duration = _measure(fleet.duration) if fleet.duration is not None else period_hours(start, end)
    memory = _capacity(resolver, fleet.memory, duration) if fleet.memory is not None else None
    storage = [_capacity(resolver, term, duration) for term in fleet.storage]
    count, utilisation = exact_amount(count_text), exact_amount(fleet.utilisation)
    built = Fleet(count, min_power, max_power, utilisation, duration, pue,
                  memory=memory[0] if memory else None, storage=tuple(t for t, _ in storage))  # fmt: skip
    energy = fleet_energy(built)
    _kwh(energy.total)
    view = {
        "counted": counted,
        "count": decimal_text(built.count),
        "min_power": _quantity_view(min_power),
        "min_power_factor": min_ref,
        "max_power": _quantity_view(max_power),
        "max_power_factor": max_ref,
        "utilisation": decimal_text(built.utilisation),
        "average_power": exact_view(energy.average_power, POWER_UNIT),
        "duration": _quantity_view(duration),
        "pue": decimal_text(pue),
        "pue_factor": pue_ref,
        "memory": memory[1] if memory else None,
        "storage": [v for _, v in storage],
        **{f"{name}_energy": exact_view(getattr(energy, name), ENERGY_UNIT)
           for name in ("compute", "memory", "storage", "it")},
        "energy": exact_view(energy.total, ENERGY_UNIT),
    }  # fmt: skip
    return built, energy, view


def _scenario(
    registry: FactorRegistry, scenario: ScenarioInput, claim: EnergyClaimInput, name: str
) -> tuple[Fraction, dict[str, Any]]:
    """A scenario's energy in kWh and its record."""
    if (scenario.energy is None) == (scenario.fleet is None):
        raise RequestError(
            f"the {name} scenario is either metered energy or a fleet, not both and not neither"
        )
    fleet_view = None
    if scenario.energy is not None:
        kwh = _kwh(energy_of(_measure(scenario.energy)))
    else:
        assert scenario.fleet is not None
        _, energy, fleet_view = fleet_of(
            registry, scenario.fleet, claim.start, claim.end, claim.factor_release
        )
        kwh = energy.total
    return kwh, {
        "basis": "metered" if scenario.energy is not None else "fleet",
        "energy": exact_view(kwh, ENERGY_UNIT),
        "metered": _quantity_view(_measure(scenario.energy)) if scenario.energy is not None else None,
        "work": _quantity_view(_measure(scenario.work)) if scenario.work is not None else None,
        "fleet": fleet_view,
    }


def claim_energy(registry: FactorRegistry, claim: EnergyClaimInput) -> ClaimEnergy:
    """The energy a claim saved: as measured, or the baseline (for the actual's work) minus the actual."""
    scenarios = claim.baseline is not None or claim.actual is not None
    if (claim.energy_saved is not None) == scenarios:
        raise RequestError(
            "give either energy_saved, or a baseline and an actual scenario: exactly one of them"
        )
    if claim.energy_saved is not None:
        value, unit = claim.energy_saved
        return ClaimEnergy(exact_amount(value), unit, value.strip())
    if claim.baseline is None or claim.actual is None:
        raise RequestError("a scenario claim needs both a baseline and an actual scenario")
    if claim.boundary is None:
        raise RequestError("a scenario claim needs its boundary: own_data_centre or supplier_data_centre")
    baseline, baseline_view = _scenario(registry, claim.baseline, claim, "baseline")
    actual, actual_view = _scenario(registry, claim.actual, claim, "actual")
    works = [_measure(s.work) if s.work is not None else None for s in (claim.baseline, claim.actual)]
    saving = energy_saved(baseline, actual, works[0], works[1])
    text = exact_view(saving.saved, ENERGY_UNIT)["value"]
    return ClaimEnergy(
        saving.saved, ENERGY_UNIT, text, saving, {"baseline": baseline_view, "actual": actual_view}
    )


def _figure(registry: FactorRegistry, claim: EnergyClaimInput, energy: ClaimEnergy, region: str,
            method: Method) -> dict[str, Any]:  # fmt: skip
    """One method's figure, or null with the reason when its factor does not exist for region and period."""
    try:
        factor = registry.find(
            "electricity", region, claim.start, method=method, release=claim.factor_release
        )
    except FactorError as error:
        return {"mg": None, "factor": None, "reason": str(error)}
    if not factor.applies_on(claim.end):
        reason = f"{factor.id} is valid {factor.valid_from}..{factor.valid_to}; the period ends {claim.end}"
        return {"mg": None, "factor": None, "reason": reason}
    mg = calculate(energy.amount, energy.unit, factor).mg
    return {"mg": mg, "factor": factor_ref_view(factor), "reason": None}


def claim_details(
    registry: FactorRegistry, claim: EnergyClaimInput, energy: ClaimEnergy, factor: Factor
) -> dict[str, Any]:
    """The stored record of a claim (milligrams as integers)."""
    region = claim.region or factor.region
    saving = energy.saving
    return {
        "basis": "scenarios" if saving is not None else "measured",
        "boundary": claim.boundary,
        "scope": BOUNDARY_SCOPES.get(claim.boundary or ""),
        "method": str(claim.method),
        "energy_saved": exact_view(energy.amount, energy.unit),
        "baseline": energy.scenarios.get("baseline"),
        "actual": energy.scenarios.get("actual"),
        "baseline_for_actual_work": exact_view(saving.baseline_for_actual_work, ENERGY_UNIT)
        if saving
        else None,
        "work_ratio": exact_view(saving.work_ratio, "dimensionless") if saving else None,
        "factor": factor_ref_view(factor),
        "region": region,
        "figures": {
            str(m): _figure(registry, claim, energy, region, m) for m in (Method.LOCATION, Method.MARKET)
        },
    }


def claim_view(details: dict[str, Any], unit: str) -> dict[str, Any]:
    """A stored claim for the wire: each figure's milligrams as an exact amount in `unit`."""
    figures = {
        method: {"amount": None if f["mg"] is None else amount_view(f["mg"], unit), "factor": f["factor"],
                 "reason": f["reason"]}
        for method, f in details["figures"].items()
    }  # fmt: skip
    return {**details, "figures": figures}
