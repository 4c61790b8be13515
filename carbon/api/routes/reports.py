"""POST /v1/activities (inventory activities) and GET /v1/reports/scopes (the scope report and its trace)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from carbon.api.auth import Reader, Submitter
from carbon.api.problems import error_responses
from carbon.api.report_schemas import (
    ActivityBatchRequest,
    ActivityBatchResult,
    ActivityIn,
    ScopeReportOut,
    TraceOut,
)
from carbon.api.routes.writes import Checksum, IdempotencyKey, UnitQuery
from carbon.api.schemas import IsoDate, ReleaseId
from carbon.api.state import AppState, app_state, idempotent_write
from carbon.services.activities import (
    ActivityBatchInput,
    ActivityInput,
    InstrumentInput,
    UserFactorInput,
    record_activities,
)
from carbon.services.report_formats import report_csv, report_html, report_xlsx
from carbon.services.reports import ReportQuery, scope_report, trace_view

__all__ = ["MEDIA_TYPES", "router"]

router = APIRouter(prefix="/v1", tags=["reports"])
State = Annotated[AppState, Depends(app_state)]

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MEDIA_TYPES = {"json": "application/json", "csv": "text/csv", "xlsx": XLSX, "html": "text/html"}
Format = Literal["json", "csv", "xlsx", "html"]
_REPORT_RESPONSES = error_responses(422)
_REPORT_RESPONSES[200] = {
    "description": "The report: JSON (default), CSV, XLSX or an HTML page, by `format` or the Accept header",
    "content": {
        "text/csv": {"schema": {"type": "string"}},
        XLSX: {"schema": {"type": "string", "format": "binary"}},
        "text/html": {"schema": {"type": "string"}},
    },
}

FromQuery = Annotated[IsoDate, Query(alias="from", description="First activity day, inclusive.")]
ToQuery = Annotated[IsoDate, Query(description="Last activity day, inclusive.")]
EntityQuery = Annotated[
    str | None,
    Query(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$", description="Only this entity."),
]
ReleaseQuery = Annotated[
    ReleaseId | None, Query(description="Only lines computed under this factor release.")
]


def _activity(item: ActivityIn) -> ActivityInput:
    instruments = tuple(
        InstrumentInput(i.kind, i.energy.value, i.energy.unit, i.reference) for i in item.instruments
    )
    factor = UserFactorInput(item.factor.value, item.factor.unit, item.factor.source) if item.factor else None
    return ActivityInput(item.activity_id, item.kind, item.date, item.quantity.value, item.quantity.unit,
                         item.type, item.region, item.gwp_set, item.entity, item.description, instruments,
                         factor)  # fmt: skip


@router.post(
    "/activities",
    status_code=201,
    response_model=ActivityBatchResult,
    responses=error_responses(400, 409, 413, 422, replay=ActivityBatchResult),
    summary="Record inventory activities (scopes 1, 2 and 3), each line with its factor",
)
def post_activities(
    caller: Submitter,
    body: ActivityBatchRequest,
    response: Response,
    state: State,
    checksum: Checksum,
    key: IdempotencyKey,
    unit: UnitQuery = "tCO2e",
) -> dict[str, Any]:
    """Electricity is recorded location-based and market-based (instruments count at zero for the market
    figure; a missing market factor is listed in `missing`, never replaced). Fuels need a `factor`."""
    batch = ActivityBatchInput(
        body.batch_id, tuple(_activity(a) for a in body.activities), body.factor_release
    )
    return idempotent_write(
        state, caller.tenant, key, checksum, response,
        lambda ctx: record_activities(state.ledger, state.registry, ctx, batch, unit=unit),
    )  # fmt: skip


def _negotiate(request: Request, given: Format | None) -> str:
    if given is not None:
        return given
    accept = request.headers.get("accept", "")
    for name in ("html", "xlsx", "csv"):
        if MEDIA_TYPES[name] in accept:
            return name
    return "json"


@router.get("/reports/scopes", response_model=ScopeReportOut, responses=_REPORT_RESPONSES)
def get_scope_report(
    caller: Reader,
    request: Request,
    state: State,
    from_: FromQuery,
    to: ToQuery,
    entity: EntityQuery = None,
    release: ReleaseQuery = None,
    restate_with: Annotated[
        ReleaseId | None, Query(description="Also recompute the period under this release, side by side.")
    ] = None,
    format: Annotated[Format | None, Query(description="json (default), csv, xlsx or html.")] = None,
    unit: UnitQuery = "tCO2e",
) -> Any:
    """Scope 1, scope 2 (location- and market-based), scope 3 by category, totals; avoided emissions in
    their own section, never subtracted; breakdowns; factor releases used; a digest of the lines."""
    query = ReportQuery(caller.tenant, from_, to, entity, release, restate_with, unit)
    report = scope_report(state.ledger, state.registry, query)
    chosen = _negotiate(request, format)
    if chosen == "json":
        return report
    name = f"scope-report-{from_.isoformat()}-{to.isoformat()}"
    if chosen == "csv":
        return Response(report_csv(report), media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})  # fmt: skip
    if chosen == "xlsx":
        return Response(report_xlsx(report), media_type=XLSX,
                        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})  # fmt: skip
    return Response(report_html(report), media_type="text/html")


@router.get("/reports/scopes/trace", response_model=TraceOut, responses=error_responses(422))
def get_scope_trace(
    caller: Reader,
    state: State,
    line: Annotated[
        str,
        Query(
            min_length=1,
            max_length=100,
            pattern=r"^[a-z0-9][a-z0-9:._-]*$",
            description="A report line: scope1:<category>, scope2:location, scope2:market, "
            "scope3:<category>, avoided:<kind>, total:location, total:market.",
        ),
    ],  # fmt: skip
    from_: FromQuery,
    to: ToQuery,
    entity: EntityQuery = None,
    release: ReleaseQuery = None,
    unit: UnitQuery = "tCO2e",
) -> dict[str, Any]:
    """The ledger lines and factors behind one report line; their sum equals the report's figure."""
    query = ReportQuery(caller.tenant, from_, to, entity, release, None, unit)
    return trace_view(state.ledger, query, line, state.registry)
