"""POST /v1/jobs: a loan file uploaded as the raw body, recorded in the background; GET its state."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse

from carbon.api.auth import Reader, Submitter
from carbon.api.problems import error_responses
from carbon.api.routes.writes import IdempotencyKey
from carbon.api.schemas import JobOut
from carbon.api.state import AppState, app_state
from carbon.core.jobs import Job, JobState
from carbon.core.upload_format import SNIFF_BYTES, check_file_start
from carbon.errors import IdempotencyKeyReusedError, NotFoundError, PayloadTooLargeError, RequestError

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


async def _receive(request: Request, target: Path, limit: int, fmt: str) -> tuple[str, int]:
    """Stream the body to a file, refusing it past `limit` bytes, or as soon as its first bytes say another
    format than `fmt`; return its SHA-256 and size."""
    digest = hashlib.sha256()
    size = 0
    head = b""
    with target.open("wb") as out:
        async for block in request.stream():
            if len(head) < SNIFF_BYTES:
                head += block[: SNIFF_BYTES - len(head)]
                if len(head) >= SNIFF_BYTES:
                    check_file_start(head, fmt, "the upload")
            size += len(block)
            if size > limit:
                raise PayloadTooLargeError(f"upload larger than {limit} bytes")
            digest.update(block)
            out.write(block)
    if size == 0:
        raise RequestError("the upload is empty")
    check_file_start(head, fmt, "the upload")
    return digest.hexdigest(), size


@router.post(
    "/jobs",
    status_code=202,
    response_model=JobOut,
    responses=error_responses(400, 409, 413, 422),
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
    job_id = "j_" + uuid.uuid4().hex
    upload = state.jobs.files.upload(job_id, fmt)
    upload.parent.mkdir(parents=True, exist_ok=True)
    try:
        file_digest, _ = await _receive(request, upload, state.settings.max_upload_bytes, fmt)
        checksum = hashlib.sha256(f"{request.url.path}\n{fmt}\n{file_digest}".encode()).hexdigest()
        now = datetime.now(UTC)
        job = Job(
            job_id,
            caller.tenant,
            key,
            checksum,
            JobState.QUEUED,
            fmt,
            upload.name,
            None,
            0,
            None,
            None,
            now,
            now,
        )
        stored = state.jobs.jobs.create(job)
    except BaseException:
        upload.unlink(missing_ok=True)
        raise
    if stored.job_id != job_id:
        upload.unlink(missing_ok=True)
        if stored.request_checksum != checksum:
            raise IdempotencyKeyReusedError("this Idempotency-Key was first used with another file")
    else:
        state.jobs.submit(stored)
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
    response_class=FileResponse,
    responses=_REPORT_RESPONSES,
)
def get_rejected(caller: Reader, job_id: JobId, state: State) -> FileResponse:
    """Every row the job did not count, with its line or row number and reason, as CSV."""
    job = state.jobs.jobs.get(caller.tenant, job_id)
    report = state.jobs.files.rejected(job_id)
    if job is None or job.state not in (JobState.SUCCEEDED, JobState.FAILED) or not report.is_file():
        raise NotFoundError(f"no finished job {job_id!r} with a report")
    return FileResponse(report, media_type="text/csv", filename=f"{job_id}-rejected.csv")
