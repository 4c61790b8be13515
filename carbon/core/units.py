"""The one pint registry of the process, and exact conversions between its units.

Quantities are held as exact numbers (`fractions.Fraction`), never floats: the registry is built with
`Decimal` so that every unit's factor to its base unit is an exact decimal product, and conversions are
ratios of those factors. CO2e mass is its own dimension (`[co2e]`), so a kilogram of paper is never a
kilogram of CO2e; loans and sheets are countable units with dimensions of their own.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from functools import lru_cache
from typing import Any

import pint
from pint.util import UnitsContainer

from carbon.core.unit_grammar import check_unit_text
from carbon.errors import DimensionError, QuantityError, UnknownUnitError

__all__ = [
    "CO2E_MASS",
    "MILLIGRAM",
    "Unit",
    "conversion_factor",
    "describe_dimension",
    "exact_amount",
    "parse_quantity",
    "parse_unit",
    "ureg",
]

Unit = pint.Unit

_DEFINITIONS = (
    "gram_co2e = [co2e] = gCO2e = gCO2",
    "tonne_co2e = 1000000 * gram_co2e = tCO2e = tCO2",
    "pound_co2e = 453.59237 * gram_co2e = lbCO2e = lbCO2",
    "loan = [loan] = _ = loans",
    "sheet = [sheet] = _ = sheets",
)

ureg: Any = pint.UnitRegistry(non_int_type=Decimal, autoconvert_offset_to_baseunit=False)
for _definition in _DEFINITIONS:
    ureg.define(_definition)

MILLIGRAM = "mgCO2e"
CO2E_MASS = ureg.parse_units("gCO2e").dimensionality

_DIMENSION_NAMES = {
    "gCO2e": "CO2e mass",
    "loan": "loans",
    "sheet": "sheets",
    "kWh": "energy",
    "km": "length",
    "kg": "mass",
    "h": "time",
    "dimensionless": "a pure number",
    "W": "power",
}
_NAMED = {ureg.parse_units(u).dimensionality: name for u, name in _DIMENSION_NAMES.items()}
# Bounds keep exact arithmetic cheap: '1e1000000' would otherwise build a million-digit integer.
_MAX_EXPONENT = 18
_MIN_EXPONENT = -18
_MAX_DIGITS = 30
_UNIT_TEXT = re.compile(r"[A-Za-z_][A-Za-z0-9_ */^()\-]{0,99}")


@lru_cache(maxsize=4096)
def parse_unit(text: str) -> Unit:
    """Parse a unit string of the project's vocabulary, or raise UnknownUnitError naming it."""
    if not isinstance(text, str):
        raise UnknownUnitError(str(text)[:100])
    text = check_unit_text(text)  # bounded grammar first: pint does arithmetic on exponents
    if not _UNIT_TEXT.fullmatch(text):
        raise UnknownUnitError(text)
    try:
        unit = ureg.parse_units(text)
    except Exception:  # pint's parser raises many types (even AssertionError) for malformed text
        raise UnknownUnitError(text) from None
    if (
        not isinstance(unit, pint.Unit)
        or any(not float(exp).is_integer() for exp in _exponents_of(unit).values())
        or not ureg.Quantity(1, unit)._is_multiplicative
    ):
        raise UnknownUnitError(text)
    return unit


def _exponents_of(unit: Unit) -> dict[str, float]:
    """The unit names of a unit with their exponents."""
    units: Any = unit._units
    return {str(name): float(exponent) for name, exponent in units.items()}


def describe_dimension(unit: Unit) -> str:
    """Name a unit's dimension in words for error messages: 'energy', 'mass per energy'."""
    dimensions: Any = unit.dimensionality
    if dimensions in _NAMED:
        return _NAMED[dimensions]
    by_unit = [ureg.dimensionless, ureg.dimensionless]
    for name, exponent in _exponents_of(unit).items():
        side = int(exponent < 0)
        by_unit[side] = by_unit[side] * ureg.Unit(name) ** abs(int(exponent))
    by_dimension = [
        UnitsContainer({d: abs(e) for d, e in dimensions.items() if (e < 0) is negative})
        for negative in (False, True)
    ]
    for numerator, denominator in ((u.dimensionality for u in by_unit), by_dimension):
        if numerator in _NAMED and denominator in _NAMED:
            return f"{_NAMED[numerator]} per {_NAMED[denominator]}"
    return str(dimensions)


@lru_cache(maxsize=4096)
def _base_factor(unit: Unit) -> Fraction:
    """Exact factor from a unit to its base units, taken name by name so no division is rounded."""
    factor = Fraction(1)
    for name, exponent in _exponents_of(unit).items():
        multiplier, _ = ureg.get_base_units(name)
        factor *= Fraction(Decimal(multiplier)) ** int(exponent)
    return factor


def conversion_factor(source: Unit, target: Unit) -> Fraction:
    """Exact number that turns an amount in `source` into `target`; DimensionError if they differ."""
    if source.dimensionality != target.dimensionality:
        raise DimensionError(str(source), describe_dimension(target), describe_dimension(source))
    return _base_factor(source) / _base_factor(target)


def exact_amount(value: object) -> Fraction:
    """An exact, finite, non-negative amount from a decimal string, int, Decimal or Fraction."""
    if isinstance(value, bool):
        raise QuantityError(f"amount must be a number, got {value!r}")
    if isinstance(value, Fraction):
        amount = value
    elif isinstance(value, int):
        amount = Fraction(value)
    elif isinstance(value, (str, Decimal, float)):
        amount = _decimal_fraction(value)
    else:
        raise QuantityError(f"amount must be a number, got {type(value).__name__}")
    if amount < 0:
        raise QuantityError(f"amount must not be negative, got {value}")
    return amount


def _decimal_fraction(value: str | Decimal | float) -> Fraction:
    """Parse a decimal exactly (a float is taken at its shortest repr, never its binary expansion)."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise QuantityError(f"amount must be finite, got {value}")
        value = repr(value)
    try:
        number = Decimal(value.strip()) if isinstance(value, str) else value
    except InvalidOperation:
        raise QuantityError(f"amount must be a decimal number, got {str(value)[:40]!r}") from None
    if not number.is_finite():
        raise QuantityError(f"amount must be finite, got {value}")
    if number and not (_MIN_EXPONENT <= number.adjusted() <= _MAX_EXPONENT):
        raise QuantityError(f"amount out of range (1e{_MIN_EXPONENT} to 1e{_MAX_EXPONENT}): {value}")
    if len(number.as_tuple().digits) > _MAX_DIGITS:
        raise QuantityError(f"amount has more than {_MAX_DIGITS} significant digits: {value}")
    return Fraction(number)


def parse_quantity(text: str) -> tuple[Fraction, str]:
    """Parse '46769.74 MWh' into an exact amount and its (checked) unit text."""
    number, _, unit = text.strip().partition(" ")
    if not unit.strip():
        raise QuantityError(f"a quantity needs an amount and a unit, like '46769.74 MWh'; got {text!r}")
    parse_unit(unit.strip())
    return exact_amount(number), unit.strip()
