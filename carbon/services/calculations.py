"""Use cases that compute without recording: avoided emissions of online loans and of saved energy."""

from __future__ import annotations

from datetime import date

from carbon.core.calculate import calculate
from carbon.core.model import Emission, Method
from carbon.core.units import exact_amount, parse_quantity
from carbon.errors import FactorError, QuantityError
from carbon.registry import FactorRegistry

__all__ = ["ONLINE_LOAN", "energy_avoided", "loans_avoided"]

ONLINE_LOAN = "online_loan"


def loans_avoided(
    registry: FactorRegistry, count: int, on: date, release: str | None = None, region: str = "CN"
) -> Emission:
    """Avoided emissions of `count` online loans disbursed on `on`, by the factor valid that day."""
    if isinstance(count, bool) or not isinstance(count, int):
        raise QuantityError(f"a loan count must be a whole number, got {count!r}")
    exact_amount(count)
    factor = registry.find(ONLINE_LOAN, region, on, release=release)
    return calculate(count, "loan", factor)


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
