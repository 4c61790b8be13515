"""Wire models of inventory activities and scope reports (strict requests, complete responses)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from carbon.api.schemas import Amount, DecimalText, Identifier, IsoDate, Region, ReleaseId, UnitText
from carbon.core.text import PLAIN_TEXT_PATTERN

__all__ = [
    "ActivityBatchRequest",
    "ActivityBatchResult",
    "ScopeReportOut",
    "TraceOut",
]

MAX_ACTIVITIES = 1000

Kind = Literal[
    "electricity",
    "td_losses",
    "refrigerant",
    "fuel",
    "business_travel",
    "employee_commuting",
    "purchased_goods",
]
TypeName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.]*$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=PLAIN_TEXT_PATTERN)]
Entity = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=PLAIN_TEXT_PATTERN)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class QuantityIn(_Strict):
    """An exact decimal amount with its unit."""

    value: DecimalText
    unit: UnitText


class InstrumentIn(_Strict):
    """A contractual instrument covering some of the electricity: zero for the market-based figure only."""

    kind: Literal["green_certificate", "green_power_purchase"]
    energy: QuantityIn
    reference: Text


class UserFactorIn(_Strict):
    """A factor you supply, recorded with confidence user-supplied: a fuel's factor (no fuel factors ship),
    or for electricity the supplier's specific emission rate (the market-based hierarchy's second step)."""

    value: DecimalText
    unit: UnitText = Field(examples=["kgCO2e/L"])
    source: Text


class ActivityIn(_Strict):
    """One inventory activity. `type` names the gas (refrigerant: `r_410a`), travel mode (`car.average`),
    material (purchased goods: `paper.primary`) or fuel (`diesel`)."""

    activity_id: Identifier
    kind: Kind
    date: IsoDate
    quantity: QuantityIn
    type: TypeName | None = None
    region: Region | None = None
    gwp_set: Literal["AR5", "AR6"] | None = None
    entity: Entity | None = None
    description: Text | None = None
    instruments: list[InstrumentIn] = Field(default_factory=list, max_length=20)
    factor: UserFactorIn | None = None


class ActivityBatchRequest(_Strict):
    """A batch of inventory activities: recorded whole, as one ledger entry, or not at all."""

    batch_id: Identifier
    activities: list[ActivityIn] = Field(min_length=1, max_length=MAX_ACTIVITIES)
    factor_release: ReleaseId | None = None


class LineFactorOut(BaseModel):
    """The factor behind a line, with its provenance."""

    id: str
    version: int | None
    release: str | None
    value: str | None
    unit: str | None
    confidence: str | None
    source: str | None
    gwp_set: str | None


class ActivityLineOut(BaseModel):
    """One inventory figure: scope, category, method, status, quantity, amount, factor."""

    entry_id: str | None
    line_no: int | None
    activity_id: str
    kind: str
    activity: str
    activity_date: str
    scope: int
    category: str
    method: str | None
    status: Literal["computed", "instrument", "missing"]
    quantity: dict[str, str]
    amount: Amount
    factor: LineFactorOut | None
    instrument: str | None
    region: str | None
    entity: str | None
    description: str | None
    reason: str | None
    step: (
        Literal["instrument", "supplier", "residual-mix", "national-residual-mix", "grid-average"] | None
    ) = Field(None, description="market-based lines: the step of the GHG Protocol hierarchy that priced it")


class ScopeTotalsOut(BaseModel):
    """A batch's figures per scope (scope 2 in both methods)."""

    scope1: Amount
    scope2_location: Amount
    scope2_market: Amount
    scope3: Amount


class ActivityBatchResult(BaseModel):
    """A recorded batch: every line with its factor; missing market factors listed."""

    batch_id: str
    entry_id: str
    factor_release: str
    activities_received: int
    totals: ScopeTotalsOut
    missing: list[ActivityLineOut]
    lines: list[ActivityLineOut]


class CategoryOut(BaseModel):
    """One category of a scope."""

    line: str
    category: str
    amount: Amount
    lines: int


class ScopeOut(BaseModel):
    """Scope 1 or 3: total and categories."""

    total: Amount
    categories: list[CategoryOut]


class StepShareOut(BaseModel):
    """Market-based electricity priced at one step of the hierarchy: MWh and share of the whole."""

    step: Literal[
        "instrument", "supplier", "residual-mix", "national-residual-mix", "grid-average", "missing"
    ]
    energy: dict[str, str]
    share_percent: str


class MethodFigureOut(BaseModel):
    """A scope 2 figure of one method."""

    line: str
    amount: Amount
    complete: bool | None = None
    by_step: list[StepShareOut] | None = None
    instruments: list[ActivityLineOut] | None = None
    missing: list[ActivityLineOut] | None = None


class Scope2Out(BaseModel):
    """Scope 2, location-based and market-based side by side."""

    location: MethodFigureOut
    market: MethodFigureOut


class InventoryTotalsOut(BaseModel):
    """Inventory totals with scope 2 by either method; avoided emissions are not in them."""

    location_based: Amount
    market_based: Amount


class InventoryOut(BaseModel):
    """The GHG inventory."""

    scope1: ScopeOut
    scope2: Scope2Out
    scope3: ScopeOut
    totals: InventoryTotalsOut


class AvoidedKindOut(BaseModel):
    """Avoided emissions of one kind."""

    line: str
    kind: str
    amount: Amount
    lines: int


class ProductOut(BaseModel):
    """Online-lending avoided emissions of one loan product."""

    product: str | None
    amount: Amount
    loans: int


class AvoidedOut(BaseModel):
    """Avoided emissions, beside the inventory, never subtracted from it."""

    note: str
    total: Amount
    kinds: list[AvoidedKindOut]
    by_product: list[ProductOut]


class BreakdownRowOut(BaseModel):
    """One row of a breakdown by month, entity or region."""

    model_config = ConfigDict(extra="allow")

    scope1: Amount
    scope2_location: Amount
    scope2_market: Amount
    scope3: Amount
    total_location: Amount
    total_market: Amount


class ReportFactorOut(BaseModel):
    """A factor used by the report's lines."""

    id: str
    version: int | None
    release: str | None
    value: str | None
    unit: str | None
    confidence: str | None
    source: str | None
    method: str | None
    gwp_set: str | None
    book: str


class DigestOut(BaseModel):
    """SHA-256 over the canonical lines behind the report: a re-run over the same lines gives the same."""

    algorithm: str
    value: str
    lines: int


class RestatedLineOut(BaseModel):
    """A report line under the recorded factors and under the other release."""

    line: str
    old: Amount
    new: Amount
    difference: Amount


class RestatementOut(BaseModel):
    """The same period recomputed from the stored quantities under another release; nothing is changed."""

    release: str
    from_releases: list[str]
    lines: list[RestatedLineOut]
    unresolved: list[dict[str, Any]]


class ScopeReportOut(BaseModel):
    """The scope report."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    from_: str = Field(alias="from")
    to: str
    entity: str | None
    release: str | None
    unit: str
    inventory: InventoryOut
    avoided: AvoidedOut
    by_month: list[BreakdownRowOut]
    by_entity: list[BreakdownRowOut]
    by_region: list[BreakdownRowOut]
    factor_releases: list[str]
    factors: list[ReportFactorOut]
    digest: DigestOut
    restatement: RestatementOut | None


class TraceOut(BaseModel):
    """The ledger lines and factors behind one report line."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    line: str
    from_: str = Field(alias="from")
    to: str
    amount: Amount
    inventory_lines: list[ActivityLineOut]
    avoided_lines: list[dict[str, Any]]
    entries: list[str]
    factors: list[ReportFactorOut]
    digest: DigestOut
