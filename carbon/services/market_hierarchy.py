"""The market-based scope 2 factor of an electricity line, by the GHG Protocol Scope 2 Guidance hierarchy.

After contractual instruments and a supplier's specific rate (both given with the activity), the
uncovered electricity is priced with, in order:

1. the residual mix of the line's own region (a `market` method factor there);
2. fallback rule, when the region is a subdivision or grid region with no residual mix of its own
   (CN-HE, CN-GRID-NORTH, US-EGRID-CAMX): the national residual mix of its country (CN, US);
3. last resort: the location-based grid average of the line's own region.

A missing market factor therefore never counts as zero; the step and the reason travel with the line.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from typing import Any

from carbon.core.calculate import decimal_text
from carbon.core.inventory import MARKET_STEPS, ActivityLine, LineStatus, MarketStep
from carbon.core.model import Factor, Method
from carbon.core.units import conversion_factor, exact_amount, parse_unit
from carbon.errors import FactorNotFoundError
from carbon.registry import FactorRegistry

__all__ = ["MISSING", "MarketChoice", "country_of", "market_factor", "step_shares"]

ELECTRICITY = "electricity"
MISSING = "missing"
_MWH = parse_unit("MWh")


@dataclass(frozen=True, slots=True)
class MarketChoice:
    """The factor that prices a market-based line, the hierarchy step it comes from, and why."""

    factor: Factor
    step: str
    reason: str


def country_of(region: str) -> str:
    """The ISO 3166-1 country of a region code: CN-HE, CN-GRID-NORTH -> CN; GB -> GB."""
    return region.split("-", 1)[0]


def _market(registry: FactorRegistry, region: str, on: date, release: str) -> Factor | None:
    try:
        return registry.find(ELECTRICITY, region, on, method=Method.MARKET, release=release)
    except FactorNotFoundError:
        return None


def market_factor(registry: FactorRegistry, region: str, on: date, release: str) -> MarketChoice:
    """Residual mix of the region, else the national residual mix, else the region's grid average."""
    own = _market(registry, region, on, release)
    if own is not None:
        return MarketChoice(own, MarketStep.RESIDUAL, f"residual mix of {region}")
    country = country_of(region)
    if country != region:
        national = _market(registry, country, on, release)
        if national is not None:
            reason = (f"no residual mix for {region} on {on.isoformat()} in release {release}; "
                      f"fallback rule: the national residual mix of {country}")  # fmt: skip
            return MarketChoice(national, MarketStep.NATIONAL_RESIDUAL, reason)
    location = registry.find(ELECTRICITY, region, on, method=Method.LOCATION, release=release)
    scope = region if country == region else f"{region} or {country}"
    reason = (f"no residual mix for {scope} on {on.isoformat()} in release {release}; "
              f"last resort: the location-based grid average of {region}")  # fmt: skip
    return MarketChoice(location, MarketStep.GRID_AVERAGE, reason)


def _mwh(line: ActivityLine) -> Fraction:
    return exact_amount(line.quantity) * conversion_factor(parse_unit(line.unit), _MWH)


def step_shares(lines: Iterable[ActivityLine]) -> list[dict[str, Any]]:
    """MWh and share of the market-based electricity priced at each hierarchy step (6 and 2 decimals,
    half-to-even); lines recorded before the hierarchy with no factor count under `missing`."""
    energy: dict[str, Fraction] = {}
    for line in lines:
        if line.scope != 2 or line.method != "market":
            continue
        step = line.step or (MISSING if line.status == LineStatus.MISSING else _legacy_step(line))
        energy[step] = energy.get(step, Fraction(0)) + _mwh(line)
    total = sum(energy.values(), Fraction(0))
    return [
        {"step": step, "energy": {"value": decimal_text(round(energy[step], 6)), "unit": "MWh"},
         "share_percent": decimal_text(round(energy[step] * 100 / total, 2)) if total else "0"}
        for step in (*MARKET_STEPS, MISSING) if step in energy
    ]  # fmt: skip


def _legacy_step(line: ActivityLine) -> str:
    """Lines recorded before steps were stored: instruments, supplier rates and market factors."""
    if line.status == LineStatus.INSTRUMENT:
        return MarketStep.INSTRUMENT
    return MarketStep.SUPPLIER if line.confidence == "user-supplied" else MarketStep.RESIDUAL
