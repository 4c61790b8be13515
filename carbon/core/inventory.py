"""Inventory activity lines: one figure of one activity (electricity, a refrigerant leak, travel, ...) with
its scope, category, method and factor, kept beside the ledger entry that records it.

An electricity activity gives two lines, one per scope 2 method; contractual instruments (green
certificates, green power purchases) give a zero market-based line of their own; the market-based line names
the step of the GHG Protocol hierarchy that priced it (`MarketStep`) and why. Lines recorded before the
hierarchy may hold `status` "missing" and no milligrams; they stay readable and are flagged. Lines are
appended, never changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from carbon.core.ledger import EntryLine

__all__ = ["MARKET_STEPS", "ActivityLine", "BookLine", "LineStatus", "MarketStep"]


class LineStatus:
    """Why a line holds the milligrams it holds."""

    COMPUTED = "computed"  # quantity x factor
    INSTRUMENT = "instrument"  # covered by a contractual instrument: zero for the market-based figure
    MISSING = "missing"  # no factor for this method: reported, not substituted


class MarketStep:
    """The step of the GHG Protocol Scope 2 hierarchy that priced a market-based line, in order."""

    INSTRUMENT = "instrument"  # contractual instruments allocated to the consumption
    SUPPLIER = "supplier"  # the supplier's specific emission rate
    RESIDUAL = "residual-mix"  # the residual mix of the consumption's own market
    NATIONAL_RESIDUAL = "national-residual-mix"  # fallback: no residual mix for the region, the country's
    GRID_AVERAGE = "grid-average"  # last resort: the location-based grid average of the region


MARKET_STEPS = (MarketStep.INSTRUMENT, MarketStep.SUPPLIER, MarketStep.RESIDUAL, MarketStep.NATIONAL_RESIDUAL,
                MarketStep.GRID_AVERAGE)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ActivityLine:
    """One inventory figure, traceable to its activity and factor."""

    activity_id: str
    kind: str
    activity: str
    activity_date: date
    scope: int
    category: str
    quantity: str
    unit: str
    mg: int
    status: str = LineStatus.COMPUTED
    method: str | None = None
    factor_id: str | None = None
    factor_version: int | None = None
    factor_release: str | None = None
    factor_value: str | None = None
    factor_unit: str | None = None
    confidence: str | None = None
    source: str | None = None
    gwp_set: str | None = None
    region: str | None = None
    entity: str | None = None
    description: str | None = None
    reason: str | None = None
    step: str | None = None
    entry_id: str = ""
    line_no: int = 0

    @property
    def counts_in_location_total(self) -> bool:
        """Scope 2 lines count once per method: the location-based total takes the non-market lines."""
        return self.method != "market"

    @property
    def counts_in_market_total(self) -> bool:
        """The market-based total takes every line except the location-based scope 2 ones."""
        return self.method != "location"


@dataclass(frozen=True, slots=True)
class BookLine:
    """A ledger line with its place (entry and line number), for digests and traces."""

    entry_id: str
    line_no: int
    line: EntryLine
