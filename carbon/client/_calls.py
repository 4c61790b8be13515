"""Every endpoint as a `Call`: the request (built once, so its bytes and Idempotency-Key are the same on every
retry) and the parser of its answer. Pure: no I/O; the sync and async clients only send them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import quote

import httpx

from carbon.client.types import (
    AccountDistribution,
    AccountErasure,
    ActivityBatchResult,
    ActivityIn,
    CarbonAccount,
    DateLike,
    EnergySavingIn,
    EnergySavingResult,
    Entry,
    EntryPage,
    Factor,
    Health,
    Job,
    JobFormat,
    LoanBatchResult,
    LoanIn,
    LoanIntensityIn,
    LoanIntensityResult,
    Ready,
    Release,
    ReportFormat,
    ResultUnit,
    ScopeReport,
    Totals,
    Trace,
    WindowsIn,
    WindowsResult,
)

T = TypeVar("T")

JOB_MEDIA_TYPES: dict[str, str] = {
    "csv": "text/csv",
    "ndjson": "application/x-ndjson",
    "parquet": "application/vnd.apache.parquet",
}
REPORT_MEDIA_TYPES: dict[str, str] = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "html": "text/html",
}


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One logical request. `idempotency_key` is set for writes and sent on every attempt."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: tuple[tuple[str, str], ...] = ()
    content: bytes | None = None
    content_type: str | None = None
    accept: str = "application/json"
    idempotency_key: str | None = None
    retry: bool = True

    def headers(self) -> dict[str, str]:
        """The headers of every attempt."""
        headers = {"Accept": self.accept}
        if self.content_type is not None:
            headers["Content-Type"] = self.content_type
        if self.idempotency_key is not None:
            headers["Idempotency-Key"] = self.idempotency_key
        return headers


def _wire(value: Any) -> Any:
    """JSON for what the standard encoder does not know: dates as ISO strings, Decimals as exact strings."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    raise TypeError(f"cannot send {type(value).__name__} as JSON")


def encode(body: Mapping[str, Any]) -> bytes:
    """The request body, once: its bytes are part of what the Idempotency-Key promises not to change."""
    return json.dumps(body, default=_wire, separators=(",", ":"), ensure_ascii=False).encode()


def new_key() -> str:
    """A new Idempotency-Key for one logical write."""
    return str(uuid.uuid4())


def _json(response: httpx.Response) -> Any:
    """JSON with every number that is not an integer as a Decimal (amounts never become floats)."""
    return json.loads(response.content, parse_float=Decimal)


def _bytes(response: httpx.Response) -> bytes:
    return response.content


def _segment(value: str) -> str:
    return quote(value, safe="")


def _day(value: DateLike) -> str:
    return value.isoformat() if isinstance(value, date) else value


def _params(**given: Any) -> tuple[tuple[str, str], ...]:
    """Query parameters without the unset ones, in a fixed order (the query is part of a write's checksum)."""
    out: list[tuple[str, str]] = []
    for name, value in given.items():
        if value is None:
            continue
        wire = name.rstrip("_")
        out.append((wire, _day(value) if isinstance(value, date) else str(value)))
    return tuple(out)


def _write(path: str, body: Mapping[str, Any], parse: Callable[[httpx.Response], T], key: str | None,
           unit: ResultUnit | None) -> Call[T]:  # fmt: skip
    return Call("POST", path, parse, _params(unit=unit), encode(body), "application/json",
                idempotency_key=key or new_key())  # fmt: skip


def _batch_body(batch_id: str, loans: Sequence[LoanIn], factor_release: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"batch_id": batch_id, "loans": list(loans)}
    if factor_release is not None:
        body["factor_release"] = factor_release
    return body


# --- writes ---------------------------------------------------------------------------------------------


def record_loan_batch(
    batch_id: str,
    loans: Sequence[LoanIn],
    *,
    factor_release: str | None = None,
    unit: ResultUnit | None = None,
    idempotency_key: str | None = None,
) -> Call[LoanBatchResult]:
    """POST /v1/loan-batches: record a batch; each loan id counts once. A new key unless one is given."""
    body = _batch_body(batch_id, loans, factor_release)
    return _write("/v1/loan-batches", body, _json, idempotency_key, unit)


def record_energy_saving(
    saving: EnergySavingIn, *, unit: ResultUnit | None = None, idempotency_key: str | None = None
) -> Call[EnergySavingResult]:
    """POST /v1/energy-savings: record electricity saved (measured, or baseline and actual scenarios)."""
    return _write("/v1/energy-savings", saving, _json, idempotency_key, unit)


def record_activities(
    batch_id: str,
    activities: Sequence[ActivityIn],
    *,
    factor_release: str | None = None,
    unit: ResultUnit | None = None,
    idempotency_key: str | None = None,
) -> Call[ActivityBatchResult]:
    """POST /v1/activities: record inventory activities (scopes 1, 2, 3) as one entry."""
    body: dict[str, Any] = {"batch_id": batch_id, "activities": list(activities)}
    if factor_release is not None:
        body["factor_release"] = factor_release
    return _write("/v1/activities", body, _json, idempotency_key, unit)


def reverse_entry(
    entry_id: str, *, unit: ResultUnit | None = None, idempotency_key: str | None = None
) -> Call[Entry]:
    """POST /v1/ledger/entries/{id}/reversal: append the reversal of an entry (once per entry)."""
    return Call("POST", f"/v1/ledger/entries/{_segment(entry_id)}/reversal", _json, _params(unit=unit),
                idempotency_key=idempotency_key or new_key())  # fmt: skip


def upload_job(data: bytes, *, format: JobFormat, idempotency_key: str | None = None) -> Call[Job]:
    """POST /v1/jobs: a loan file (CSV, NDJSON or Parquet bytes) to record in the background."""
    return Call("POST", "/v1/jobs", _json, content=bytes(data), content_type=JOB_MEDIA_TYPES[format],
                idempotency_key=idempotency_key or new_key())  # fmt: skip


# --- calculations (nothing is recorded) -----------------------------------------------------------------


def calculate_loan_batch(
    batch_id: str,
    loans: Sequence[LoanIn],
    *,
    factor_release: str | None = None,
    unit: ResultUnit | None = None,
) -> Call[LoanBatchResult]:
    """POST /v1/calculations (loan_batch): preview a batch; `entry_id` is None."""
    body = {"kind": "loan_batch", **_batch_body(batch_id, loans, factor_release)}
    return Call("POST", "/v1/calculations", _json, _params(unit=unit), encode(body),
                "application/json")  # fmt: skip


def calculate_energy_saving(
    saving: EnergySavingIn, *, unit: ResultUnit | None = None
) -> Call[EnergySavingResult]:
    """POST /v1/calculations (energy_saving): preview a saving; `entry_id` is None."""
    body = {"kind": "energy_saving", **saving}
    return Call("POST", "/v1/calculations", _json, _params(unit=unit), encode(body),
                "application/json")  # fmt: skip


def loan_intensity(request: LoanIntensityIn, *, unit: ResultUnit | None = None) -> Call[LoanIntensityResult]:
    """POST /v1/loan-intensity: carbon intensity per loan and the net avoided per online loan."""
    return Call("POST", "/v1/loan-intensity", _json, _params(unit=unit),
                encode(request), "application/json")  # fmt: skip


def carbon_aware_windows(request: WindowsIn, *, unit: ResultUnit | None = None) -> Call[WindowsResult]:
    """POST /v1/carbon-aware-windows: the lowest-emission start times before a deadline."""
    return Call("POST", "/v1/carbon-aware-windows", _json, _params(unit=unit),
                encode(request), "application/json")  # fmt: skip


# --- reads ----------------------------------------------------------------------------------------------


def list_entries(
    *, limit: int = 50, starting_after: str | None = None, unit: ResultUnit | None = None
) -> Call[EntryPage]:
    """GET /v1/ledger/entries: a page in recording order; for more, pass the last id as starting_after."""
    params = _params(limit=limit, starting_after=starting_after, unit=unit)
    return Call("GET", "/v1/ledger/entries", _json, params)


def get_entry(entry_id: str, *, unit: ResultUnit | None = None) -> Call[Entry]:
    """GET /v1/ledger/entries/{id}."""
    return Call("GET", f"/v1/ledger/entries/{_segment(entry_id)}", _json, _params(unit=unit))


def totals(
    *,
    from_: DateLike | None = None,
    to: DateLike | None = None,
    book: Literal["avoided", "inventory"] | None = None,
    unit: ResultUnit | None = None,
) -> Call[Totals]:
    """GET /v1/totals: exact totals per book over activity dates (both days inclusive)."""
    return Call("GET", "/v1/totals", _json, _params(from_=from_, to=to, book=book, unit=unit))


def get_job(job_id: str) -> Call[Job]:
    """GET /v1/jobs/{id}: state and progress; the result when done."""
    return Call("GET", f"/v1/jobs/{_segment(job_id)}", _json)


def get_rejected_rows(job_id: str) -> Call[bytes]:
    """GET /v1/jobs/{id}/rejected: every row a finished job did not count, as CSV bytes."""
    return Call("GET", f"/v1/jobs/{_segment(job_id)}/rejected", _bytes, accept="text/csv")


def _report_params(from_: DateLike, to: DateLike, entity: str | None, release: str | None,
                   unit: ResultUnit | None, **more: Any) -> tuple[tuple[str, str], ...]:  # fmt: skip
    return _params(from_=from_, to=to, entity=entity, release=release, unit=unit, **more)


def scope_report(
    from_: DateLike,
    to: DateLike,
    *,
    entity: str | None = None,
    release: str | None = None,
    restate_with: str | None = None,
    unit: ResultUnit | None = None,
) -> Call[ScopeReport]:
    """GET /v1/reports/scopes as JSON: scopes 1-3, avoided beside them, breakdowns, digest."""
    params = _report_params(from_, to, entity, release, unit, restate_with=restate_with)
    return Call("GET", "/v1/reports/scopes", _json, params)


def scope_report_file(
    from_: DateLike,
    to: DateLike,
    *,
    format: ReportFormat,
    entity: str | None = None,
    release: str | None = None,
    restate_with: str | None = None,
    unit: ResultUnit | None = None,
) -> Call[bytes]:
    """GET /v1/reports/scopes as CSV, XLSX or HTML bytes."""
    params = _report_params(from_, to, entity, release, unit, restate_with=restate_with, format=format)
    return Call("GET", "/v1/reports/scopes", _bytes, params, accept=REPORT_MEDIA_TYPES[format])


def trace(
    line: str,
    from_: DateLike,
    to: DateLike,
    *,
    entity: str | None = None,
    release: str | None = None,
    unit: ResultUnit | None = None,
) -> Call[Trace]:
    """GET /v1/reports/scopes/trace: the ledger lines and factors behind one report line."""
    params = (("line", line), *_report_params(from_, to, entity, release, unit))
    return Call("GET", "/v1/reports/scopes/trace", _json, params)


def factor_releases() -> Call[list[Release]]:
    """GET /v1/factor-releases: newest first; `current` marks the default."""
    return Call("GET", "/v1/factor-releases", _json)


def factor_release(release: str) -> Call[Release]:
    """GET /v1/factor-releases/{id}."""
    return Call("GET", f"/v1/factor-releases/{_segment(release)}", _json)


def factors(
    *,
    activity: str | None = None,
    region: str | None = None,
    on: DateLike | None = None,
    release: str | None = None,
) -> Call[list[Factor]]:
    """GET /v1/factors: factors of a release, filtered."""
    params = _params(activity=activity, region=region, on=on, release=release)
    return Call("GET", "/v1/factors", _json, params)


def factor(factor_id: str, *, release: str | None = None) -> Call[Factor]:
    """GET /v1/factors/{id}: one factor with its provenance."""
    return Call("GET", f"/v1/factors/{_segment(factor_id)}", _json, _params(release=release))


def healthz() -> Call[Health]:
    """GET /healthz: the process answers."""
    return Call("GET", "/healthz", _json, retry=False)


def readyz() -> Call[Ready]:
    """GET /readyz: the database answers (ServiceUnavailable otherwise; never retried)."""
    return Call("GET", "/readyz", _json, retry=False)


# --- personal carbon accounts: the customer reference travels in the body only --------------------------


def query_account(customer_ref: str, *, unit: ResultUnit | None = None) -> Call[CarbonAccount]:
    """POST /v1/carbon-accounts/query: the customer's balance, loans and months."""
    return Call("POST", "/v1/carbon-accounts/query", _json, _params(unit=unit),
                content=encode({"customer_ref": customer_ref}), content_type="application/json")  # fmt: skip


def erase_account(customer_ref: str) -> Call[AccountErasure]:
    """POST /v1/carbon-accounts/erase (admin): sever the customer's account; idempotent, so retried."""
    return Call("POST", "/v1/carbon-accounts/erase", _json,
                content=encode({"customer_ref": customer_ref}), content_type="application/json")  # fmt: skip


def account_distribution(
    *, bins: int | None = None, unit: ResultUnit | None = None
) -> Call[AccountDistribution]:
    """GET /v1/carbon-accounts/distribution: percentiles and bins of the tenant's balances."""
    return Call("GET", "/v1/carbon-accounts/distribution", _json,
                _params(bins=bins, unit=unit))  # fmt: skip
