"""Typed shapes of what the service sends and takes: JSON objects as TypedDicts.

Amounts stay exact: every `value` is a decimal string as the service sent it (use `to_decimal`), and the
client parses JSON numbers as `Decimal`, never as float. Deeply nested, rarely read parts (an energy
claim's scenarios, a fleet's terms) are typed as `dict[str, Any]`.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, NotRequired, Required, TypedDict

__all__ = [
    "AccountDistribution",
    "AccountErasure",
    "ActivityBatchResult",
    "ActivityIn",
    "ActivityLine",
    "Amount",
    "BookTotal",
    "CarbonAccount",
    "EnergySavingIn",
    "EnergySavingResult",
    "Entry",
    "EntryLine",
    "EntryPage",
    "ExactQuantity",
    "Factor",
    "FactorRef",
    "Health",
    "Job",
    "JobFormat",
    "LoanIn",
    "LoanIntensityIn",
    "LoanIntensityResult",
    "Ready",
    "Release",
    "ReportFormat",
    "ResultUnit",
    "ScopeReport",
    "Source",
    "Totals",
    "Trace",
    "Window",
    "WindowsIn",
    "WindowsResult",
    "to_decimal",
]

ResultUnit = Literal["mgCO2e", "gCO2e", "kgCO2e", "tCO2e", "ktCO2e", "MtCO2e"]
Book = Literal["avoided", "inventory"]
JobFormat = Literal["csv", "ndjson", "parquet"]
ReportFormat = Literal["csv", "xlsx", "html"]
DateLike = date | str
DecimalLike = Decimal | str | int


class Amount(TypedDict):
    """An exact amount: a decimal string with its unit."""

    value: str
    unit: str


class ExactQuantity(TypedDict):
    """An exact quantity; when it does not terminate, 18 places in `value` and the ratio in `exact`."""

    value: str
    unit: str
    exact: NotRequired[str | None]


def to_decimal(amount: Amount | ExactQuantity) -> Decimal:
    """The amount's value as an exact Decimal."""
    return Decimal(amount["value"])


class Source(TypedDict):
    id: str
    publisher: str
    document: str
    table: str
    published: str | None
    url: str | None
    licence: str


class FactorRef(TypedDict):
    """The factor behind a figure."""

    id: str
    version: int
    release: str
    value: str
    unit: str
    region: str
    method: str | None
    gwp_set: str | None
    confidence: str
    source: Source


class Factor(FactorRef):
    """A factor with its full provenance."""

    activity: str
    valid_from: str
    valid_to: str | None
    book: str
    scope: int | None
    category: str
    gas: str | None
    derivation: str | None


class Release(TypedDict):
    id: str
    published: str
    current: bool
    supersedes: list[str]
    description: str
    licence_notes: str
    checksum: str
    files: dict[str, str]
    factor_count: int


# --- requests -------------------------------------------------------------------------------------------


class LoanIn(TypedDict):
    """One loan: `disbursed_on` as a date or 'YYYY-MM-DD'."""

    loan_id: str
    disbursed_on: DateLike
    channel: Literal["online", "branch"]
    product: NotRequired[str | None]
    region: NotRequired[str | None]
    customer_ref: NotRequired[str | None]  # credited to the customer's personal carbon account


class QuantityIn(TypedDict):
    value: DecimalLike
    unit: str


class PeriodIn(TypedDict):
    start: DateLike
    end: DateLike


class EnergySavingIn(TypedDict, total=False):
    """`energy_saved`, or `baseline`, `actual` and `boundary` (scenarios: see the README)."""

    saving_id: Required[str]
    period: Required[PeriodIn]
    energy_saved: QuantityIn
    region: str
    factor_id: str
    method: Literal["location", "market"]
    factor_release: str
    baseline: dict[str, Any]
    actual: dict[str, Any]
    boundary: Literal["own_data_centre", "supplier_data_centre"]


class ActivityIn(TypedDict, total=False):
    """One inventory activity (`kind`: electricity, refrigerant, fuel, td_losses, purchased_goods, ...)."""

    activity_id: Required[str]
    kind: Required[str]
    date: Required[DateLike]
    quantity: Required[QuantityIn]
    type: str
    region: str
    gwp_set: Literal["AR5", "AR6"]
    entity: str
    description: str
    instruments: list[dict[str, Any]]
    factor: dict[str, Any]


class LoanIntensityIn(TypedDict, total=False):
    """The platform's energy (or `fleet`) over a period, and the loans it processed (default: the ledger)."""

    period: Required[PeriodIn]
    energy: QuantityIn
    fleet: dict[str, Any]
    loans: int
    region: str
    factor_id: str
    method: Literal["location", "market"]
    factor_release: str
    baseline: Literal["reported", "component_model"]
    component_factors: dict[str, Any]


class WindowsIn(TypedDict, total=False):
    """A job to place: `series` (JSON) or `series_csv`, or `region` for the configured provider."""

    series: dict[str, Any]
    series_csv: str
    region: str
    profile: Required[dict[str, Any]]
    deadline: Required[datetime | str]
    now: datetime | str
    top: int


# --- results --------------------------------------------------------------------------------------------


class LoanBatchResult(TypedDict):
    """What a batch counted and avoided; `entry_id` is None for a preview."""

    batch_id: str
    entry_id: str | None
    loans_received: int
    loans_counted: int
    duplicates: list[str]
    avoided: Amount
    factor_release: str
    factors: list[FactorRef]


class EnergySavingResult(TypedDict):
    saving_id: str
    entry_id: str | None
    energy_saved: Amount
    period: dict[str, str]
    avoided: Amount
    factor_release: str
    method: str | None
    factor: FactorRef
    claim: NotRequired[dict[str, Any] | None]


class FactorLink(TypedDict):
    id: str
    version: int | None
    release: str | None


class EntryLine(TypedDict):
    activity: str
    activity_date: str
    quantity: dict[str, str]
    amount: Amount
    factor: FactorLink | None
    region: str | None
    method: str | None


class Entry(TypedDict):
    """A ledger entry: never changed once written; corrected by a reversal."""

    entry_id: str
    kind: str
    book: str
    client_reference: str
    created_at: str
    amount: Amount
    factor_release: str | None
    reverses: str | None
    period_end: str | None
    lines: list[EntryLine]
    claim: NotRequired[dict[str, Any] | None]


class EntryPage(TypedDict):
    data: list[Entry]
    has_more: bool


class BookTotal(TypedDict):
    book: str
    amount: Amount
    lines: int


Totals = TypedDict("Totals", {"from": str | None, "to": str | None, "totals": list[BookTotal]})


class JobError(TypedDict):
    title: str
    detail: str


class Job(TypedDict):
    """A background job; `result` (like a loan batch's, with rejected rows) when it has succeeded."""

    job_id: str
    state: Literal["queued", "running", "succeeded", "failed"]
    format: str
    rows_total: int | None
    rows_processed: int
    result: dict[str, Any] | None
    error: JobError | None
    rejected_report: str | None
    created_at: str
    updated_at: str


class ActivityLine(TypedDict):
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
    factor: dict[str, Any] | None
    instrument: str | None
    region: str | None
    entity: str | None
    description: str | None
    reason: str | None


class ScopeTotals(TypedDict):
    scope1: Amount
    scope2_location: Amount
    scope2_market: Amount
    scope3: Amount


class ActivityBatchResult(TypedDict):
    batch_id: str
    entry_id: str
    factor_release: str
    activities_received: int
    totals: ScopeTotals
    missing: list[ActivityLine]
    lines: list[ActivityLine]


ScopeReport = TypedDict(
    "ScopeReport",
    {
        "from": str,
        "to": str,
        "entity": str | None,
        "release": str | None,
        "unit": str,
        "inventory": dict[str, Any],
        "avoided": dict[str, Any],
        "by_month": list[dict[str, Any]],
        "by_entity": list[dict[str, Any]],
        "by_region": list[dict[str, Any]],
        "factor_releases": list[str],
        "factors": list[dict[str, Any]],
        "digest": dict[str, Any],
        "restatement": dict[str, Any] | None,
    },
)

Trace = TypedDict(
    "Trace",
    {
        "line": str,
        "from": str,
        "to": str,
        "amount": Amount,
        "inventory_lines": list[ActivityLine],
        "avoided_lines": list[dict[str, Any]],
        "entries": list[str],
        "factors": list[dict[str, Any]],
        "digest": dict[str, Any],
    },
)


class LoanIntensityResult(TypedDict):
    period: dict[str, str]
    loans: int
    loans_source: Literal["request", "ledger"]
    energy: ExactQuantity
    fleet: dict[str, Any] | None
    emissions: Amount
    intensity: ExactQuantity
    factor: FactorRef
    method: str | None
    baseline: dict[str, Any]
    net_avoided_per_loan: ExactQuantity
    avoided_gross: Amount
    avoided_net: Amount
    factor_release: str


class Window(TypedDict):
    start: str
    end: str
    emissions: Amount
    saved: Amount


class WindowsResult(TypedDict):
    source: Literal["upload", "provider"]
    region: str | None
    series_unit: str
    step_seconds: int
    candidates: int
    job_energy: ExactQuantity
    now: Window
    windows: list[Window]


class Health(TypedDict):
    status: str


class Ready(TypedDict):
    status: str
    factor_release: str


# --- personal carbon accounts --------------------------------------------------------------------------


class CarbonAccount(TypedDict):
    """A customer's account: exact balance, loans, and by month and activity (`months`), naming factors."""

    balance: Amount
    loans: int
    months: list[dict[str, Any]]
    factor_releases: list[str]


class AccountErasure(TypedDict):
    """What an erasure did (`erased` is false when there was nothing left to sever)."""

    erased: bool
    credits_severed: int
    erased_at: str


class AccountDistribution(TypedDict):
    """How the tenant's balances are spread: no account named."""

    accounts: int
    total: Amount
    percentiles: list[dict[str, Any]]
    bins: list[dict[str, Any]]
