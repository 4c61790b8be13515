"""A job: an uploaded file processed in the background; its state moves queued -> running -> done.

Across replicas a running job is held by a lease (owner, expiry) that its runner renews; only a job whose
lease has expired (its runner died) is taken over, and a job started too many times is given up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from carbon.errors import PayloadTooLargeError, QuotaExceededError

__all__ = ["FINAL_STATES", "Job", "JobLimits", "JobState", "LeaseLostError", "admit_upload"]


class JobState(StrEnum):
    """Where a job is; only `succeeded` has a result, only `failed` an error."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


FINAL_STATES = (JobState.SUCCEEDED, JobState.FAILED)


@dataclass(frozen=True, slots=True)
class Job:
    """A job's record; `attempts` counts the runs started (a run cut short by a dead process counts)."""

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
    upload_bytes: int = 0
    attempts: int = 0
    owner: str | None = None
    lease_expires_at: datetime | None = None


class LeaseLostError(Exception):
    """Another runner took the job over (this one's lease expired): stop, write nothing. Never shown to a
    client, so not a CarbonError."""


@dataclass(frozen=True, slots=True)
class JobLimits:
    """What one tenant may hold at once: unfinished jobs, and bytes of their stored uploads."""

    max_upload_bytes: int
    quota_bytes: int
    max_jobs: int
    retry_after: float = 30.0


def admit_upload(limits: JobLimits, size: int, unfinished_jobs: int, held_bytes: int) -> None:
    """Refuse an upload over the size limit or the tenant's quota (413 when it could never fit, 429 while
    the tenant's other jobs hold the room), or past the tenant's unfinished jobs."""
    if size > limits.max_upload_bytes:
        raise PayloadTooLargeError(f"upload larger than {limits.max_upload_bytes} bytes")
    if size > limits.quota_bytes:
        raise PayloadTooLargeError(
            f"upload larger than the tenant's upload quota of {limits.quota_bytes} bytes"
        )
    if unfinished_jobs >= limits.max_jobs:
        raise QuotaExceededError(
            f"{unfinished_jobs} jobs of this tenant are queued or running (at most {limits.max_jobs}); "
            "retry when one has finished",
            retry_after=limits.retry_after,
        )
    if held_bytes + size > limits.quota_bytes:
        raise QuotaExceededError(
            f"uploads of unfinished jobs hold {held_bytes} of this tenant's {limits.quota_bytes} bytes; "
            "retry when a job has finished",
            retry_after=limits.retry_after,
        )
