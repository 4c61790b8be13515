"""Frozen domain values: sources, factors and emissions, each carrying the provenance an auditor needs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from fractions import Fraction

from carbon.core.units import describe_dimension, parse_unit
from carbon.errors import CarbonError, FactorDefinitionError

__all__ = ["Book", "Confidence", "Emission", "Factor", "Gas", "Method", "Source"]


class Book(StrEnum):
    """The books kept apart: avoided emissions are reported beside the inventory, never netted."""

    INVENTORY = "inventory"
    AVOIDED = "avoided"
    PARAMETER = "parameter"


class Confidence(StrEnum):
    """How far a factor's value was checked against its publisher."""

    PRIMARY = "primary"
    SECONDARY = "secondary"
    DERIVED = "derived"
    ASSUMED = "assumed"
    USER_SUPPLIED = "user-supplied"


class Method(StrEnum):
    """The scope 2 method an electricity factor serves."""

    LOCATION = "location"
    MARKET = "market"


class Gas(StrEnum):
    """Whether a factor counts CO2 alone or GWP-weighted greenhouse gases."""

    CO2 = "CO2"
    CO2E = "CO2e"


@dataclass(frozen=True, slots=True)
class Source:
    """A document factors come from."""

    id: str
    publisher: str
    document: str
    licence: str
    published: str = ""
    url: str = ""
    note: str = ""


@dataclass(frozen=True, slots=True)
class Factor:
    """One factor of one release; it refuses to exist if its fields contradict each other."""

    id: str
    version: int
    activity: str
    value: Fraction
    value_text: str
    unit: str
    region: str
    valid_from: date
    valid_to: date | None
    book: Book
    category: str
    source: Source
    table: str
    confidence: Confidence
    release: str
    scope: int | None = None
    method: Method | None = None
    gas: Gas | None = None
    gwp_set: str | None = None
    derivation: str = ""

    def __post_init__(self) -> None:
        problems = _contradictions(self)
        if problems:
            raise FactorDefinitionError(problems)

    @property
    def is_emission_factor(self) -> bool:
        """True for factors that turn an activity into CO2e (not model parameters)."""
        return self.book is not Book.PARAMETER

    def applies_on(self, day: date) -> bool:
        """Whether the factor is valid for an activity on `day` (both ends inclusive)."""
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


def _contradictions(factor: Factor) -> list[str]:
    """Every rule a factor breaks, so a release reports them all at once."""
    problems = []
    if factor.version < 1:
        problems.append(f"version must be 1 or more, got {factor.version}")
    if factor.value < 0:
        problems.append(f"value must not be negative, got {factor.value_text}")
    if factor.valid_to is not None and factor.valid_to < factor.valid_from:
        problems.append(f"valid_to {factor.valid_to} is before valid_from {factor.valid_from}")
    if factor.confidence is Confidence.DERIVED and not factor.derivation.strip():
        problems.append("a derived factor needs its derivation")
    problems.extend(_book_contradictions(factor))
    problems.extend(_unit_contradictions(factor))
    return problems


def _book_contradictions(factor: Factor) -> list[str]:
    """Scope, gas and GWP rules that depend on the book."""
    problems = []
    if factor.book is Book.INVENTORY and factor.scope not in (1, 2, 3):
        problems.append("an inventory factor needs scope 1, 2 or 3")
    if factor.book is not Book.INVENTORY and factor.scope is not None:
        problems.append(f"a {factor.book} factor has no scope")
    if factor.is_emission_factor and factor.gas is None:
        problems.append("an emission factor needs its gas basis (CO2 or CO2e)")
    if factor.gas is Gas.CO2E and not factor.gwp_set:
        problems.append("a CO2e factor needs its GWP set (AR5, AR6 or unstated)")
    return problems


def _unit_contradictions(factor: Factor) -> list[str]:
    """An emission factor's unit must be CO2e mass per some activity unit."""
    try:
        unit = parse_unit(factor.unit)
    except CarbonError as error:
        return [str(error)]
    if not factor.is_emission_factor:
        return []
    dimensions = unit.dimensionality
    if dimensions.get("[co2e]") != 1 or len(dimensions) < 2:
        return [
            f"unit {factor.unit!r} is {describe_dimension(unit)}; an emission factor needs CO2e mass "
            "per activity, like 'kgCO2e/kWh'"
        ]
    return []


@dataclass(frozen=True, slots=True)
class Emission:
    """An activity's emission in whole milligrams CO2e, with the factor (and so the release) behind it."""

    mg: int
    quantity: Fraction
    unit: str
    factor: Factor
