"""Energy of a server fleet over a period, and energy saved between two scenarios, in exact arithmetic.

The model is Cloud Carbon Footprint's, kept exact: a server (or vCPU) draws its idle power plus the
utilised share of the span to its full-load power, ``average power = min + utilisation x (max - min)``;
the fleet's IT energy is ``count x average power x duration`` plus, where the user has them, memory
(``capacity x duration x energy per GB-hour``) and storage (``capacity x duration x energy per TB-hour``);
the data centre's energy is the IT energy times the PUE. Every quantity carries its unit and is checked
against the one pint registry: a power in kWh or a memory coefficient without a per-byte unit is an error
that names the expected dimension. Results are exact fractions of a kilowatt-hour; nothing is rounded.

A saving compares a baseline with an actual scenario. When both state the work they did (loans served,
requests, ...), the baseline is scaled to the actual's work first, so the saving is for the same work.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from carbon.core.units import Unit, conversion_factor, describe_dimension, parse_unit
from carbon.errors import DimensionError, QuantityError

__all__ = [
    "ENERGY_UNIT",
    "POWER_UNIT",
    "CapacityTerm",
    "Fleet",
    "FleetEnergy",
    "Measure",
    "Saving",
    "average_power",
    "capacity_energy",
    "energy_of",
    "energy_saved",
    "fleet_energy",
]

ENERGY_UNIT = "kWh"
POWER_UNIT = "W"
_ENERGY = parse_unit(ENERGY_UNIT)
_POWER = parse_unit(POWER_UNIT)
_TIME = parse_unit("h")
_INFORMATION_NAMES = ("byte", "bit")


@dataclass(frozen=True, slots=True)
class Measure:
    """An exact, non-negative amount with its unit, as it entered the service."""

    amount: Fraction
    unit: str

    def __post_init__(self) -> None:
        if self.amount < 0:
            raise QuantityError(f"amount must not be negative, got {self.amount} {self.unit}")
        parse_unit(self.unit)


@dataclass(frozen=True, slots=True)
class CapacityTerm:
    """Memory or storage: a capacity (GB, TB) and the energy it draws per unit of capacity and time."""

    capacity: Measure
    coefficient: Measure


@dataclass(frozen=True, slots=True)
class Fleet:
    """Servers or vCPUs over a period: power per unit at idle and at full load, utilisation, PUE."""

    count: Fraction
    min_power: Measure
    max_power: Measure
    utilisation: Fraction
    duration: Measure
    pue: Fraction
    memory: CapacityTerm | None = None
    storage: tuple[CapacityTerm, ...] = ()


@dataclass(frozen=True, slots=True)
class FleetEnergy:
    """A fleet's energy by term, exact, in ENERGY_UNIT (average power per unit in POWER_UNIT)."""

    average_power: Fraction
    compute: Fraction
    memory: Fraction
    storage: Fraction
    it: Fraction
    total: Fraction


@dataclass(frozen=True, slots=True)
class Saving:
    """Energy saved: the baseline scaled to the actual's work (`work_ratio`), minus the actual."""

    baseline: Fraction
    baseline_for_actual_work: Fraction
    actual: Fraction
    saved: Fraction
    work_ratio: Fraction


def _in(measure: Measure, target: Unit) -> Fraction:
    """The measure's amount in `target` units; DimensionError naming the expected dimension."""
    return measure.amount * conversion_factor(parse_unit(measure.unit), target)


def energy_of(measure: Measure) -> Fraction:
    """A metered energy in ENERGY_UNIT."""
    return _in(measure, _ENERGY)


def average_power(min_power: Fraction, max_power: Fraction, utilisation: Fraction) -> Fraction:
    """Average power of one unit: idle power plus the utilised share of the span to full load."""
    if not 0 <= utilisation <= 1:
        raise QuantityError(f"utilisation must be between 0 and 1, got {utilisation}")
    if max_power < min_power:
        raise QuantityError(f"power at full load ({max_power}) is below power at idle ({min_power})")
    return min_power + utilisation * (max_power - min_power)


def _information_exponent(unit: Unit) -> int:
    """How many times bytes (or bits) appear in a unit: GB gives 1, kWh/(GB*h) gives -1.

    pint counts bytes as dimensionless, so the dimension check alone cannot tell 64 GB from 64.
    """
    units: Any = unit._units
    return int(sum(float(exp) for name, exp in units.items() if str(name).endswith(_INFORMATION_NAMES)))


def capacity_energy(term: CapacityTerm, duration: Measure) -> Fraction:
    """Energy of memory or storage over `duration`, in ENERGY_UNIT."""
    return _capacity_energy(term, _in(duration, _TIME))


def _capacity_energy(term: CapacityTerm, hours: Fraction) -> Fraction:
    """capacity x hours x coefficient, in ENERGY_UNIT; the units must make an energy."""
    capacity, coefficient = parse_unit(term.capacity.unit), parse_unit(term.coefficient.unit)
    if _information_exponent(capacity) != 1:
        raise DimensionError(term.capacity.unit, "information (GB, TB)", describe_dimension(capacity))
    if _information_exponent(coefficient) != -1 or coefficient.dimensionality != _POWER.dimensionality:
        raise DimensionError(
            term.coefficient.unit, "energy per information per time (kWh/(GB*h), Wh/(TB*h))",
            describe_dimension(coefficient),
        )  # fmt: skip
    rate = conversion_factor(capacity * coefficient * _TIME, _ENERGY)
    return term.capacity.amount * term.coefficient.amount * hours * rate


def fleet_energy(fleet: Fleet) -> FleetEnergy:
    """The fleet's energy over its duration: compute, memory and storage, times the PUE."""
    if fleet.count < 0:
        raise QuantityError(f"a fleet cannot have a negative count, got {fleet.count}")
    if fleet.pue < 1:
        raise QuantityError(f"a PUE is 1 or more (facility energy over IT energy), got {fleet.pue}")
    watts = average_power(_in(fleet.min_power, _POWER), _in(fleet.max_power, _POWER), fleet.utilisation)
    hours = _in(fleet.duration, _TIME)
    compute = fleet.count * watts * hours * conversion_factor(_POWER * _TIME, _ENERGY)
    memory = _capacity_energy(fleet.memory, hours) if fleet.memory else Fraction(0)
    storage = sum((_capacity_energy(term, hours) for term in fleet.storage), Fraction(0))
    it = compute + memory + storage
    return FleetEnergy(watts, compute, memory, storage, it, it * fleet.pue)


def energy_saved(
    baseline: Fraction,
    actual: Fraction,
    baseline_work: Measure | None = None,
    actual_work: Measure | None = None,
) -> Saving:
    """Energy saved for the same work: both works given (same dimension), or neither."""
    if (baseline_work is None) != (actual_work is None):
        raise QuantityError("give the work of both scenarios, or of neither, to compare the same work")
    ratio = Fraction(1)
    if baseline_work is not None and actual_work is not None:
        done = _in(actual_work, parse_unit(baseline_work.unit))
        if baseline_work.amount == 0:
            raise QuantityError("the baseline's work must be more than zero")
        ratio = done / baseline_work.amount
    scaled = baseline * ratio
    if actual > scaled:
        raise QuantityError(
            f"the actual scenario uses more energy ({actual} {ENERGY_UNIT}) than the baseline for the same "
            f"work ({scaled} {ENERGY_UNIT}): nothing was saved"
        )
    return Saving(baseline, scaled, actual, scaled - actual, ratio)
