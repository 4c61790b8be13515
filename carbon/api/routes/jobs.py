"""POST /v1/jobs: a loan file uploaded as the raw body, recorded in the background; GET its state."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from carbon.api.auth import Reader, Submitter
from carbon.api.problems import error_responses
from carbon.api.routes.writes import IdempotencyKey
from carbon.api.schemas import JobOut
from carbon.api.state import AppState, app_state
from carbon.api.uploads import check_free_space, declared_length, job_limits, receive
from carbon.core.jobs import Job, JobState, admit_upload
from carbon.errors import IdempotencyKeyReusedError, NotFoundError, RequestError

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["jobs"])
State = Annotated[AppState, Depends(app_state)]
JobId = Annotated[str, PathParam(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_]+$")]
FORMATS = {"text/csv": "csv", "application/x-ndjson": "ndjson", "application/vnd.apache.parquet": "parquet"}
_BODY = {
    "required": True,
    "description": "The file itself: CSV (header row), NDJSON (one loan per line) or Parquet.",
    "content": {media: {"schema": {"type": "string", "format": "binary"}} for media in FORMATS},
}


def _format(request: Request, given: str | None) -> str:
    if given is not None:
        return given
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in FORMATS:
        raise RequestError(f"say the file's format: Content-Type one of {', '.join(FORMATS)}, or ?format=")
    return FORMATS[media]


_REPORT_RESPONSES = error_responses(404, 422)
_REPORT_RESPONSES[200] = {
    "content": {"text/csv": {"schema": {"type": "string"}}},
    "description": "Every rejected row",
}


@router.post(
    "/jobs",
    status_code=202,
    response_model=JobOut,
    responses=error_responses(400, 409, 413, 422, 429, 507),
    openapi_extra={"requestBody": _BODY},
    summary="Upload a loan file to record in the background",
)
async def post_job(
    caller: Submitter,
    request: Request,
    response: Response,
    state: State,
    key: IdempotencyKey,
    file_format: Annotated[str | None, Query(alias="format", pattern="^(csv|ndjson|parquet)$")] = None,
) -> dict[str, Any]:
    """202 with `Location: /v1/jobs/{id}`; the same key and file answer with the same job."""
    fmt = _format(request, file_format)
    settings, store = state.settings, state.jobs.jobs
    limits, declared = job_limits(settings), declared_length(request) or 0
    existing = await run_in_threadpool(store.by_key, caller.tenant, key)
    if existing is None:  # a retry of an accepted upload is answered whatever the quota says now
        admit_upload(limits, declared, *await run_in_threadpool(store.usage, caller.tenant))
    # disk and database work runs in worker threads: the event loop serves the probes meanwhile
    await run_in_threadpool(check_free_space, state.work.path, declared, settings.min_free_disk_bytes)
    job_id = "j_" + uuid.uuid4().hex
    with await run_in_threadpool(state.work.spool) as spool:
        file_digest, size = await receive(
            request, spool, fmt, limits.max_upload_bytes, state.work.path, settings.min_free_disk_bytes
        )
        checksum = hashlib.sha256(f"{request.url.path}\n{fmt}\n{file_digest}".encode()).hexdigest()
        now = datetime.now(UTC)
        job = Job(job_id, caller.tenant, key, checksum, JobState.QUEUED, fmt, f"{job_id}.{fmt}", None, 0,
                  None, None, now, now, upload_bytes=size)  # fmt: skip
        if existing is None:
            stored = await run_in_threadpool(store.create, job, spool, partial(admit_upload, limits, size))
        else:
            stored = existing
    if stored.job_id != job_id:
        if stored.request_checksum != checksum:
            raise IdempotencyKeyReusedError("this Idempotency-Key was first used with another file")
    else:
        state.jobs.wake()
    response.headers["Location"] = f"/v1/jobs/{stored.job_id}"
    return state.job_view(stored)


@router.get("/jobs/{job_id}", response_model=JobOut, responses=error_responses(404, 422))
def get_job(caller: Reader, job_id: JobId, state: State) -> dict[str, Any]:
    """State, rows processed of total, and when done the same result as a loan batch plus rejected rows."""
    job = state.jobs.jobs.get(caller.tenant, job_id)
    if job is None:
        raise NotFoundError(f"no job {job_id!r}")
    return state.job_view(job)


@router.get(
    "/jobs/{job_id}/rejected",
    response_class=StreamingResponse,
    responses=_REPORT_RESPONSES,
)
def get_rejected(caller: Reader, job_id: JobId, state: State) -> StreamingResponse:
    """Every row the job did not count, with its line or row number and reason, as CSV (through any
    replica: the report is kept in the database for CARBON_JOB_REPORT_DAYS days)."""
    parts = state.jobs.jobs.report(caller.tenant, job_id)
    if parts is None:
        raise NotFoundError(f"no finished job {job_id!r} with a report")
    disposition = f'attachment; filename="{job_id}-rejected.csv"'
    return StreamingResponse(parts, media_type="text/csv", headers={"Content-Disposition": disposition})
