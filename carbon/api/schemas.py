"""Wire models: strict requests (no extra fields, no silent coercion) and complete response models."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from carbon.books.accounts.wire import CustomerRef
from carbon.core.text import PLAIN_TEXT_PATTERN, PRODUCT_MAX_LENGTH

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
    "ClaimOut",
    "LoanIntensityRequest",
    "LoanIntensityResult",
    "WindowsRequest",
    "WindowsResult",
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
Product = Annotated[
    str, StringConstraints(min_length=1, max_length=PRODUCT_MAX_LENGTH, pattern=PLAIN_TEXT_PATTERN)
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Loan(_Strict):
    """One loan as the lending system sends it."""

    loan_id: Identifier
    disbursed_on: IsoDate
    channel: Literal["online", "branch"]
    product: Product | None = None
    region: Region | None = None
    customer_ref: CustomerRef | None = None


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
    energy_saved: Quantity | None = Field(
        default=None, description="Energy saved, as measured; or give `baseline` and `actual` instead."
    )
    period: Period
    region: Region | None = None
    factor_id: Identifier | None = None
    method: Literal["location", "market"] = "location"
    factor_release: ReleaseId | None = None
    baseline: ScenarioIn | None = Field(default=None, description="Before: metered energy or a fleet.")
    actual: ScenarioIn | None = Field(default=None, description="After: metered energy or a fleet.")
    boundary: Boundary | None = Field(
        default=None,
        description="own_data_centre (scope 2 context) or supplier_data_centre (scope 3 upstream); "
        "required with scenarios.",
    )


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
    claim: ClaimOut | None = None


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
    claim: ClaimOut | None = None


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


# --- green computing: energy-saving scenarios, carbon intensity per loan, carbon-aware windows ---------

MAX_SERIES_POINTS = 10_000
MAX_PROFILE_STEPS = 1_000
Boundary = Literal["own_data_centre", "supplier_data_centre"]
Utilisation = Annotated[
    str,
    StringConstraints(pattern=r"^(0(\.[0-9]{1,18})?|1(\.0{1,18})?)$"),
    Field(description="Average utilisation as a fraction from 0 to 1 (0.3 for 30%)."),
]


def _iso_datetime(value: object) -> object:
    """Times travel as ISO 8601 strings with a time zone ('2026-11-22T08:00:00Z')."""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if moment.tzinfo is not None and moment.utcoffset() is not None:
                return moment
    raise ValueError("must be a date-time string with a time zone, like 2026-11-22T08:00:00Z")


def _whole_number(value: object) -> object:
    """JSON Schema counts 20.0 as an integer: take it as 20 (booleans stay refused by strict mode)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


IsoDateTime = Annotated[
    datetime,
    BeforeValidator(_iso_datetime),
    Field(json_schema_extra={"type": "string", "format": "date-time"}),
]


class CapacityIn(_Strict):
    """Memory or storage of a fleet: capacity (GB, TB) and its energy coefficient, given or by factor id."""

    capacity: Quantity
    coefficient: Quantity | None = Field(default=None, description="Like 0.000392 kWh/(GB*h).")
    coefficient_factor_id: Identifier | None = Field(default=None, examples=["ccf.memory_energy"])


class FleetIn(_Strict):
    """Servers or vCPUs, their power at idle and at full load (given, or parameters by factor id)."""

    servers: DecimalText | None = None
    vcpus: DecimalText | None = None
    min_power: Quantity | None = Field(default=None, description="Per server or vCPU at idle, like 0.74 W.")
    max_power: Quantity | None = Field(default=None, description="Per server or vCPU at full load.")
    min_power_factor_id: Identifier | None = Field(default=None, examples=["ccf.vcpu_power_min.aws"])
    max_power_factor_id: Identifier | None = Field(default=None, examples=["ccf.vcpu_power_max.aws"])
    utilisation: Utilisation
    duration: Quantity | None = Field(default=None, description="Running time; default: the whole period.")
    pue: DecimalText | None = None
    pue_factor_id: Identifier | None = Field(default=None, examples=["ccf.pue.aws"])
    memory: CapacityIn | None = None
    storage: list[CapacityIn] = Field(default_factory=list, max_length=8)


class ScenarioIn(_Strict):
    """A scenario of a saving claim: metered energy or a fleet, and the work it did (to compare like work)."""

    energy: Quantity | None = None
    fleet: FleetIn | None = None
    work: Quantity | None = Field(default=None, description="Work done, like 1000000 loan; both or neither.")


class ExactQuantity(BaseModel):
    """An exact amount: a decimal string; when it does not terminate, 18 places and the exact ratio."""

    value: str
    unit: str
    exact: str | None = None


class CapacityOut(BaseModel):
    """A memory or storage term as computed."""

    capacity: ExactQuantity
    coefficient: ExactQuantity
    coefficient_factor: FactorRef | None
    energy: ExactQuantity


class FleetOut(BaseModel):
    """A fleet with every input, the factor behind each pinned parameter, and its energy by term."""

    counted: Literal["servers", "vcpus"]
    count: str
    min_power: ExactQuantity
    min_power_factor: FactorRef | None
    max_power: ExactQuantity
    max_power_factor: FactorRef | None
    utilisation: str
    average_power: ExactQuantity
    duration: ExactQuantity
    pue: str
    pue_factor: FactorRef | None
    memory: CapacityOut | None
    storage: list[CapacityOut]
    compute_energy: ExactQuantity
    memory_energy: ExactQuantity
    storage_energy: ExactQuantity
    it_energy: ExactQuantity
    energy: ExactQuantity


class ScenarioOut(BaseModel):
    """A scenario as recorded."""

    basis: Literal["metered", "fleet"]
    energy: ExactQuantity
    metered: ExactQuantity | None
    work: ExactQuantity | None
    fleet: FleetOut | None


class FigureOut(BaseModel):
    """One scope 2 method's figure; null with the reason when its factor does not exist."""

    amount: Amount | None
    factor: FactorRef | None
    reason: str | None


class FiguresOut(BaseModel):
    """Location-based and market-based figures side by side."""

    location: FigureOut
    market: FigureOut


class ClaimOut(BaseModel):
    """What an energy-saving claim rests on: scenarios, boundary, method, factor and both figures."""

    basis: Literal["measured", "scenarios"]
    boundary: Boundary | None
    scope: int | None
    method: str
    energy_saved: ExactQuantity
    baseline: ScenarioOut | None
    actual: ScenarioOut | None
    baseline_for_actual_work: ExactQuantity | None
    work_ratio: ExactQuantity | None
    factor: FactorRef
    region: str
    figures: FiguresOut


class TravelFactorIn(_Strict):
    """The factor of one travel mode of the component model (`car` for loan_model.travel.car)."""

    mode: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,32}$")]
    factor_id: Identifier


class ComponentFactorsIn(_Strict):
    """Factors of the component model's branch terms (pinned by id; defaults in the README)."""

    paper_factor_id: Identifier | None = None
    travel: list[TravelFactorIn] = Field(default_factory=list, max_length=8)


class LoanIntensityRequest(_Strict):
    """The lending platform's server energy over a period and the loans it processed."""

    period: Period
    energy: Quantity | None = Field(default=None, description="Metered energy of the period; or a fleet.")
    fleet: FleetIn | None = None
    loans: Annotated[int, Field(ge=1, le=10**15), BeforeValidator(_whole_number)] | None = Field(
        default=None, description="Loans processed; default: online loans in the ledger."
    )
    region: Region | None = None
    factor_id: Identifier | None = None
    method: Literal["location", "market"] = "location"
    factor_release: ReleaseId | None = None
    baseline: Literal["reported", "component_model"] = "reported"
    component_factors: ComponentFactorsIn | None = None


class TermOut(BaseModel):
    """One term of the branch baseline per loan."""

    name: str
    per_loan: ExactQuantity
    factors: list[FactorRef]


class BaselineOut(BaseModel):
    """The branch baseline per loan: the lender's reported figure or this project's component model."""

    basis: Literal["reported", "component_model"]
    per_loan: ExactQuantity
    terms: list[TermOut]


class LoanIntensityResult(BaseModel):
    """Carbon intensity per loan of the platform, and the net avoided per online loan."""

    period: dict[str, str]
    loans: int
    loans_source: Literal["request", "ledger"]
    energy: ExactQuantity
    fleet: FleetOut | None
    emissions: Amount
    intensity: ExactQuantity
    factor: FactorRef
    method: str | None
    baseline: BaselineOut
    net_avoided_per_loan: ExactQuantity
    avoided_gross: Amount
    avoided_net: Amount
    factor_release: str


class SeriesPointIn(_Strict):
    """Grid intensity from `start` for one step."""

    start: IsoDateTime
    intensity: DecimalText


class SeriesIn(_Strict):
    """A grid-intensity series at a uniform step of an hour or less."""

    unit: UnitText = Field(examples=["gCO2e/kWh"])
    region: Region | None = None
    points: list[SeriesPointIn] = Field(min_length=1, max_length=MAX_SERIES_POINTS)


class ProfileIn(_Strict):
    """A job's energy in each step of the series, from its start."""

    unit: UnitText = Field(examples=["kWh"])
    steps: list[DecimalText] = Field(min_length=1, max_length=MAX_PROFILE_STEPS)


class WindowsRequest(_Strict):
    """A job to place: the series (JSON or CSV, or from the configured provider), its profile, a deadline."""

    series: SeriesIn | None = None
    series_csv: str | None = Field(
        default=None, max_length=1_000_000, description="CSV text: start,intensity,unit rows."
    )
    region: Region | None = Field(default=None, description="Region to fetch from the provider.")
    profile: ProfileIn
    deadline: IsoDateTime
    now: IsoDateTime | None = Field(default=None, description="Default: the server's clock.")
    top: Annotated[int, Field(ge=1, le=24), BeforeValidator(_whole_number)] = 3


class WindowOut(BaseModel):
    """A start time, its emissions and what it saves against starting now."""

    start: str
    end: str
    emissions: Amount
    saved: Amount


class WindowsResult(BaseModel):
    """The lowest-emission starts, lowest first, and the run-now window."""

    source: Literal["upload", "provider"]
    region: str | None
    series_unit: str
    step_seconds: int
    candidates: int
    job_energy: ExactQuantity
    now: WindowOut
    windows: list[WindowOut]


for _model in (EnergySavingRequest, EnergySavingCalculation, EnergySavingResult, EntryOut, EntryPage):
    _model.model_rebuild()
