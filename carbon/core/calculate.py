"""Exact emissions: an activity times a factor, held as whole milligrams CO2e, scalar or columnar.

Each record's emission is computed once, in exact rational arithmetic, and rounded half-to-even to the
milligram; totals are integer sums, so a total is the same whichever way records are batched or ordered.
The columnar path works on integer arrays and gives the same milligrams as the scalar path, record for
record. Rounding for display happens only in `format_amount`.
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from carbon.core.model import Emission, Factor
from carbon.core.units import (
    MILLIGRAM,
    conversion_factor,
    describe_dimension,
    exact_amount,
    parse_unit,
)
from carbon.errors import DimensionError, FactorError, QuantityError

__all__ = [
    "calculate",
    "decimal_text",
    "emissions_mg",
    "format_amount",
    "mg_per_unit",
    "round_mg",
    "total_mg",
]

_INT64_HEADROOM = 2**62
_MG = parse_unit(MILLIGRAM)


def round_mg(amount: Fraction) -> int:
    """Round exact milligrams half-to-even (Fraction's own round is exact banker's rounding)."""
    return round(amount)


def mg_per_unit(factor: Factor, activity_unit: str) -> Fraction:
    """Exact milligrams CO2e per one `activity_unit` under `factor`; DimensionError on a unit mismatch."""
    if not factor.is_emission_factor:
        raise FactorError(f"{factor.id} is a model parameter, not an emission factor")
    factor_unit = parse_unit(factor.unit)
    unit = parse_unit(activity_unit)
    expected = _MG / factor_unit
    if unit.dimensionality != expected.dimensionality:
        raise DimensionError(activity_unit, describe_dimension(expected), describe_dimension(unit))
    return factor.value * conversion_factor(factor_unit * unit, _MG)


def calculate(quantity: object, unit: str, factor: Factor) -> Emission:
    """One activity's emission: exact amount x factor, rounded half-to-even to the milligram."""
    amount = exact_amount(quantity)
    return Emission(
        mg=round_mg(amount * mg_per_unit(factor, unit)), quantity=amount, unit=unit, factor=factor
    )


def emissions_mg(
    amounts: npt.NDArray[np.int64], scale: int, unit: str, factor: Factor
) -> npt.NDArray[np.int64]:
    """Per-record milligrams for amounts given as integers of 10**-scale `unit` (loans: scale 0).

    The unit is checked once for the whole column. Each record gets exactly what `calculate` gives it.
    """
    if amounts.dtype != np.int64:
        raise QuantityError(f"amounts must be an int64 array, got {amounts.dtype}")
    if amounts.size and int(amounts.min()) < 0:
        raise QuantityError("amounts must not be negative")
    rate = mg_per_unit(factor, unit) / 10**scale
    whole, remainder = divmod(rate.numerator, rate.denominator)
    largest = int(amounts.max()) if amounts.size else 0
    if largest * max(whole, remainder, 1) >= _INT64_HEADROOM or rate.denominator >= _INT64_HEADROOM:
        return _emissions_mg_exact(amounts, rate)
    return _emissions_mg_int64(amounts, whole, remainder, rate.denominator)


def _emissions_mg_int64(
    amounts: npt.NDArray[np.int64], whole: int, remainder: int, denominator: int
) -> npt.NDArray[np.int64]:
    """amount x (whole + remainder/denominator), rounded half-to-even, all in int64 without overflow."""
    quotient, rest = np.divmod(amounts * np.int64(remainder), np.int64(denominator))
    truncated = amounts * np.int64(whole) + quotient
    twice = rest * 2
    odd = (truncated & 1) == 1  # the tie goes to the even total, not the even quotient
    round_up = (twice > denominator) | ((twice == denominator) & odd)
    rounded: npt.NDArray[np.int64] = truncated + round_up.astype(np.int64)
    return rounded


def _emissions_mg_exact(amounts: npt.NDArray[np.int64], rate: Fraction) -> npt.NDArray[np.int64]:
    """The slow, exact path for values too large for int64 intermediates."""
    out = [round_mg(int(a) * rate) for a in amounts.tolist()]
    if out and max(out) >= 2**63:
        raise QuantityError("a record's emission exceeds 9.2 million tCO2e; split the activity")
    return np.array(out, dtype=np.int64)


def total_mg(values: Iterable[int] | npt.NDArray[np.int64]) -> int:
    """Exact integer total of per-record milligrams; never wraps, whatever the size."""
    if isinstance(values, np.ndarray):
        if values.size == 0:
            return 0
        if int(np.abs(values).max()) * values.size < 2**63:
            return int(values.sum(dtype=np.int64))
        return sum(int(v) for v in values.tolist())
    return sum(int(v) for v in values)


def format_amount(mg: int, unit: str = "tCO2e", places: int | None = None) -> str:
    """Milligrams as a decimal string in `unit`: exact when `places` is None, else rounded half-to-even."""
    value = Fraction(mg) * conversion_factor(_MG, parse_unit(unit))
    if places is not None:
        scaled = round(value * 10**places)
        return decimal_text(Fraction(scaled, 10**places), places)
    return decimal_text(value, None)


def decimal_text(value: Fraction, places: int | None = None) -> str:
    """Write an exact terminating fraction as a decimal string with no exponent."""
    denominator = value.denominator
    digits = 0
    while denominator % 10 == 0 or denominator % 2 == 0 or denominator % 5 == 0:
        for prime in (2, 5):
            if denominator % prime == 0:
                denominator //= prime
        digits += 1
    if denominator != 1:
        raise QuantityError(f"{value} has no exact decimal form; give `places` to round it")
    if places is not None:
        digits = places
    sign = "-" if value < 0 else ""
    scaled = abs(value.numerator * 10**digits // value.denominator)
    text = str(scaled).rjust(digits + 1, "0")
    whole, frac = (text[:-digits], text[-digits:]) if digits else (text, "")
    if places is None:
        frac = frac.rstrip("0")
    return f"{sign}{whole}.{frac}" if frac else f"{sign}{whole}"
