"""Jobs in SQL: claimed by idempotency key, then moved through their states."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import IntegrityError

from carbon.adapters.schema import jobs
from carbon.adapters.sql_store import aware, write_transaction
from carbon.core.jobs import Job, JobState

__all__ = ["SqlJobs"]


def _job(row: Any) -> Job:
    return Job(
        job_id=row.job_id, tenant=row.tenant, idempotency_key=row.idempotency_key,
        request_checksum=row.request_checksum, state=JobState(row.state), format=row.format,
        file_name=row.file_name, rows_total=row.rows_total, rows_processed=int(row.rows_processed),
        result=row.result, error=row.error, created_at=aware(row.created_at),
        updated_at=aware(row.updated_at),
    )  # fmt: skip


class SqlJobs:
    """The jobs table over one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self, job: Job) -> Job:
        """Insert a job, or return the one already holding its (tenant, key)."""
        try:
            with write_transaction(self.engine) as connection:
                connection.execute(jobs.insert().values(
                    job_id=job.job_id, tenant=job.tenant, idempotency_key=job.idempotency_key,
                    request_checksum=job.request_checksum, state=str(job.state), format=job.format,
                    file_name=job.file_name, rows_total=job.rows_total, rows_processed=job.rows_processed,
                    result=None, error=None, created_at=job.created_at, updated_at=job.updated_at,
                ))  # fmt: skip
            return job
        except IntegrityError:
            existing = self.by_key(job.tenant, job.idempotency_key)
            assert existing is not None
            return existing

    def by_key(self, tenant: str, key: str) -> Job | None:
        """The job a key created, if any."""
        with self.engine.connect() as connection:
            row = connection.execute(
                select(jobs).where(jobs.c.tenant == tenant, jobs.c.idempotency_key == key)
            ).first()
        return _job(row) if row else None

    def get(self, tenant: str, job_id: str) -> Job | None:
        """One job of a tenant."""
        with self.engine.connect() as connection:
            row = connection.execute(
                select(jobs).where(jobs.c.tenant == tenant, jobs.c.job_id == job_id)
            ).first()
        return _job(row) if row else None

    def unfinished(self) -> list[Job]:
        """Jobs a stopped process left queued or running: to be run again at start-up."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(jobs).where(jobs.c.state.in_([str(JobState.QUEUED), str(JobState.RUNNING)]))
            ).all()
        return [_job(row) for row in rows]

    def count_by_state(self) -> dict[str, int]:
        """How many jobs are in each state, every tenant together (for the metrics)."""
        with self.engine.connect() as connection:
            rows = connection.execute(select(jobs.c.state, func.count()).group_by(jobs.c.state)).all()
        return {str(state): int(count) for state, count in rows}

    def set_state(
        self,
        job_id: str,
        state: JobState,
        *,
        rows_processed: int | None = None,
        rows_total: int | None = None,
        result: str | None = None,
        error: str | None = None,
    ) -> None:
        """Move a job on."""
        values: dict[str, Any] = {"state": str(state), "updated_at": datetime.now(UTC)}
        for key, value in (("rows_processed", rows_processed), ("rows_total", rows_total),
                           ("result", result), ("error", error)):  # fmt: skip
            if value is not None:
                values[key] = value
        with write_transaction(self.engine) as connection:
            connection.execute(update(jobs).where(jobs.c.job_id == job_id).values(**values))
