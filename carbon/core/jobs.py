"""A job: an uploaded file processed in the background; its state moves queued -> running -> done."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

__all__ = ["Job", "JobState"]


class JobState(StrEnum):
    """Where a job is; only `succeeded` has a result, only `failed` an error."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Job:
    """A job's record."""

    job_id: str
    tenant: str
    idempotency_key: str
    request_checksum: str
    state: JobState
    format: str
    file_name: str
    rows_total: int | None
    rows_processed: int
    result: str | None
    error: str | None
    created_at: datetime
    updated_at: datetime
