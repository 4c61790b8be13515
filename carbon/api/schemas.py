"""Wire models: strict requests (no extra fields, no silent coercion) and complete response models."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

__all__ = [
    "Amount",
    "CalculationRequest",
    "EnergySavingRequest",
    "EnergySavingResult",
    "EntryOut",
    "EntryPage",
    "FactorOut",
    "FactorRef",
    "JobOut",
    "IsoDate",
    "LoanBatchRequest",
    "LoanBatchResult",
    "Problem",
    "ReleaseOut",
    "ResultUnit",
    "TotalsOut",
]

MAX_LOANS = 10_000

ResultUnit = Literal["mgCO2e", "gCO2e", "kgCO2e", "tCO2e", "ktCO2e", "MtCO2e"]


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_date(value: object) -> object:
    """Dates travel as 'YYYY-MM-DD' strings only: no timestamps, no numbers, no week dates ('2024-W01-1')."""
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError("must be a date string YYYY-MM-DD")


IsoDate = Annotated[
    date, BeforeValidator(_iso_date), Field(json_schema_extra={"type": "string", "format": "date"})
]
Identifier = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")
]
Region = Annotated[str, StringConstraints(pattern=r"^(GLOBAL|[A-Z]{2}(-[A-Z0-9]{1,10}){0,2})$")]
DecimalText = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,18}(\.[0-9]{1,18})?$")]
UnitText = Annotated[
    str, StringConstraints(min_length=1, max_length=32, pattern=r"^[A-Za-z][A-Za-z0-9_ */^()-]*$")
]
ReleaseId = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
]
Product = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Loan(_Strict):
    """One loan as the lending system sends it."""

    loan_id: Identifier
    disbursed_on: IsoDate
    channel: Literal["online", "branch"]
    product: Product | None = None
    region: Region | None = None


class LoanBatchRequest(_Strict):
    """A batch of loans; each loan id is counted once per tenant, ever."""

    batch_id: Identifier
    loans: list[Loan] = Field(min_length=1, max_length=MAX_LOANS)
    factor_release: ReleaseId | None = None


class Quantity(_Strict):
    """An exact decimal amount with its unit."""

    value: DecimalText
    unit: UnitText


class Period(_Strict):
    """Both days inclusive."""

    start: IsoDate
    end: IsoDate


class EnergySavingRequest(_Strict):
    """Electricity saved over a period, by a pinned factor or the grid factor of a region."""

    saving_id: Identifier
    energy_saved: Quantity
    period: Period
    region: Region | None = None
    factor_id: Identifier | None = None
    method: Literal["location", "market"] = "location"
    factor_release: ReleaseId | None = None


class LoanBatchCalculation(LoanBatchRequest):
    """A loan batch to preview."""

    kind: Literal["loan_batch"]


class EnergySavingCalculation(EnergySavingRequest):
    """An energy saving to preview."""

    kind: Literal["energy_saving"]


CalculationRequest = Annotated[LoanBatchCalculation | EnergySavingCalculation, Field(discriminator="kind")]


class Amount(BaseModel):
    """An exact amount: a decimal string with its unit, never a float."""

    value: str = Field(examples=["9852.8900004"])
    unit: str = Field(examples=["tCO2e"])


class SourceOut(BaseModel):
    """The document a factor comes from."""

    id: str
    publisher: str
    document: str
    table: str
    published: str | None
    url: str | None
    licence: str


class FactorRef(BaseModel):
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
    source: SourceOut


class FactorOut(FactorRef):
    """A factor with its full provenance."""

    activity: str
    valid_from: str
    valid_to: str | None
    book: str
    scope: int | None
    category: str
    gas: str | None
    derivation: str | None


class LoanBatchResult(BaseModel):
    """What a batch counted and avoided; `entry_id` is null for a preview."""

    batch_id: str
    entry_id: str | None
    loans_received: int
    loans_counted: int
    duplicates: list[str]
    avoided: Amount
    factor_release: str
    factors: list[FactorRef]


class EnergySavingResult(BaseModel):
    """What a saving avoided; `entry_id` is null for a preview."""

    saving_id: str
    entry_id: str | None
    energy_saved: Quantity
    period: dict[str, str]
    avoided: Amount
    factor_release: str
    method: str | None
    factor: FactorRef


class FactorLink(BaseModel):
    """The factor of a ledger line."""

    id: str
    version: int | None
    release: str | None


class EntryLineOut(BaseModel):
    """One line of an entry."""

    activity: str
    activity_date: str
    quantity: dict[str, str]
    amount: Amount
    factor: FactorLink | None
    region: str | None
    method: str | None


class EntryOut(BaseModel):
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
    lines: list[EntryLineOut]


class EntryPage(BaseModel):
    """A page of entries in recording order."""

    data: list[EntryOut]
    has_more: bool


class BookTotal(BaseModel):
    """The exact total of one book."""

    book: str
    amount: Amount
    lines: int


class TotalsOut(BaseModel):
    """Totals per book over activity dates; avoided and inventory are never netted."""

    from_: str | None = Field(alias="from")
    to: str | None
    totals: list[BookTotal]

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class ReleaseOut(BaseModel):
    """A factor release and its integrity data."""

    id: str
    published: str
    current: bool
    supersedes: list[str]
    description: str
    licence_notes: str
    checksum: str
    files: dict[str, str]
    factor_count: int


class LoanFileResult(BaseModel):
    """What a recorded file counted: the loan-batch result plus duplicates and rejected rows."""

    batch_id: str
    entry_id: str | None
    loans_received: int
    loans_counted: int
    duplicates_count: int
    duplicates_in_file: int
    duplicates_in_ledger: int
    avoided: Amount
    factor_release: str
    factors: list[FactorRef]
    rejected_count: int
    rejected: list[dict[str, str]]


class JobError(BaseModel):
    """Why a job failed."""

    title: str
    detail: str


class JobOut(BaseModel):
    """A job: progress while it runs; its result (or error) and rejected-rows report when done."""

    job_id: str
    state: Literal["queued", "running", "succeeded", "failed"]
    format: str
    rows_total: int | None
    rows_processed: int
    result: LoanFileResult | None
    error: JobError | None
    rejected_report: str | None
    created_at: str
    updated_at: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None
