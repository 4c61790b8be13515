"""Use cases that compute without recording: avoided emissions of online loans and of saved energy."""

from __future__ import annotations

from datetime import date

from carbon.core.calculate import calculate
from carbon.core.model import Emission, Method
from carbon.core.units import exact_amount, parse_quantity
from carbon.errors import FactorError, QuantityError
from carbon.registry import FactorRegistry
from carbon.services.loan_factors import LoanFactors

__all__ = ["energy_avoided", "loans_avoided"]


def loans_avoided(
    registry: FactorRegistry, count: int, on: date, release: str | None = None, region: str = "CN"
) -> Emission:
    """Avoided emissions of `count` online loans disbursed on `on`: each loan's milligrams, as a batch
    records them (the factor of the day, in the region or else its country), times the count."""
    if isinstance(count, bool) or not isinstance(count, int):
        raise QuantityError(f"a loan count must be a whole number, got {count!r}")
    factors = LoanFactors(registry, release, region)
    factor = factors.factor(region, on)
    return Emission(
        mg=count * factors.mg_per_loan(factor), quantity=exact_amount(count), unit="loan", factor=factor
    )


def energy_avoided(
    registry: FactorRegistry,
    saved: str,
    *,
    factor_id: str | None = None,
    region: str | None = None,
    on: date | None = None,
    method: Method | None = None,
    release: str | None = None,
) -> Emission:
    """Avoided emissions of saved energy ('46769.74 MWh'), by a pinned factor or a grid lookup."""
    amount, unit = parse_quantity(saved)
    if factor_id is not None:
        if region is not None or method is not None:
            raise FactorError("give either a factor id or a region and method, not both")
        factor = registry.factor(factor_id, release)
        if on is not None and not factor.applies_on(on):
            raise FactorError(f"{factor.id} is not valid on {on.isoformat()}")
    elif region is not None and on is not None:
        factor = registry.find("electricity", region, on, method=method or Method.LOCATION,
                               release=release)  # fmt: skip
    else:
        raise FactorError("give a factor id, or a region and a date to look up the grid factor")
    return calculate(amount, unit, factor)
