"""Jobs in SQL: claimed by idempotency key, leased by one runner at a time, settled once.

A runner claims a job with one conditional UPDATE (queued, or running under an expired lease), renews the
lease while it works, and settles it with another UPDATE that only matches while it still holds the lease;
the settle may run inside the ledger write's own transaction, so the entry and the final state commit
together or not at all. Uploads and rejected-rows reports live in `job_files` (`carbon.adapters.job_files`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import IO, Any

from sqlalchemy import Connection, Engine, and_, delete, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError

from carbon.adapters.job_files import REJECTED, UPLOAD, read_parts, write_parts
from carbon.adapters.schema import job_files, jobs
from carbon.adapters.sql_store import SqlWrite, aware, write_transaction
from carbon.core.jobs import FINAL_STATES, Job, JobState

__all__ = ["Admit", "SqlJobs"]

_UNFINISHED = (str(JobState.QUEUED), str(JobState.RUNNING))
_JOBS_LOCK_SPACE = 0x6A6F62  # "job": the first key of the two-key advisory lock on a tenant's job admissions
_CANDIDATES = 8  # jobs looked at per claim: enough that a few lost races still find one
Admit = Callable[[int, int], None]  # (unfinished jobs, bytes their uploads hold): raises to refuse


def _job(row: Any) -> Job:
    return Job(
        job_id=row.job_id, tenant=row.tenant, idempotency_key=row.idempotency_key,
        request_checksum=row.request_checksum, state=JobState(row.state), format=row.format,
        file_name=row.file_name, rows_total=row.rows_total, rows_processed=int(row.rows_processed),
        result=row.result, error=row.error, created_at=aware(row.created_at),
        updated_at=aware(row.updated_at), upload_bytes=int(row.upload_bytes), attempts=int(row.attempts),
        owner=row.owner, lease_expires_at=aware(row.lease_expires_at) if row.lease_expires_at else None,
    )  # fmt: skip


def _now() -> datetime:
    return datetime.now(UTC)


def _claimable(now: datetime) -> Any:
    """Queued, or running under a lease that has expired (or that a process before leases never took)."""
    expired = or_(jobs.c.lease_expires_at.is_(None), jobs.c.lease_expires_at < now)
    return or_(jobs.c.state == str(JobState.QUEUED), and_(jobs.c.state == str(JobState.RUNNING), expired))


def _held_by(job_id: str, owner: str) -> Any:
    return and_(jobs.c.job_id == job_id, jobs.c.owner == owner, jobs.c.state == str(JobState.RUNNING))


class SqlJobs:
    """The jobs table and the job files over one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._postgres = engine.dialect.name == "postgresql"

    def create(self, job: Job, upload: IO[bytes] | None = None, admit: Admit | None = None) -> Job:
        """Insert a job with its upload in one transaction, or return the job already holding its (tenant,
        key). `admit` sees the tenant's unfinished jobs and held bytes under a per-tenant lock, and raises to
        refuse; a partial upload is never visible."""
        existing = self.by_key(job.tenant, job.idempotency_key)
        if existing is not None:
            return existing
        try:
            with write_transaction(self.engine) as connection:
                if admit is not None:
                    admit(*self._usage(connection, job.tenant))
                connection.execute(jobs.insert().values(
                    job_id=job.job_id, tenant=job.tenant, idempotency_key=job.idempotency_key,
                    request_checksum=job.request_checksum, state=str(job.state), format=job.format,
                    file_name=job.file_name, rows_total=job.rows_total, rows_processed=job.rows_processed,
                    result=None, error=None, created_at=job.created_at, updated_at=job.updated_at,
                    upload_bytes=job.upload_bytes, attempts=0,
                ))  # fmt: skip
                if upload is not None:
                    write_parts(connection, job.job_id, UPLOAD, upload)
            return job
        except IntegrityError:
            existing = self.by_key(job.tenant, job.idempotency_key)
            assert existing is not None
            return existing

    def _usage(self, connection: Connection, tenant: str) -> tuple[int, int]:
        """The tenant's unfinished jobs and their upload bytes, read under the tenant's job lock (SQLite's
        write lock is one already), so two replicas cannot both admit the last slot."""
        if self._postgres:
            # the two-key form: a key space apart from the ledger's per-tenant write lock
            connection.execute(text("SELECT pg_advisory_xact_lock(:space, hashtext(:t))"),
                               {"space": _JOBS_LOCK_SPACE, "t": tenant})  # fmt: skip
        found = connection.execute(
            select(func.count(), func.coalesce(func.sum(jobs.c.upload_bytes), 0)).where(
                jobs.c.tenant == tenant, jobs.c.state.in_(_UNFINISHED)
            )
        ).one()
        return int(found[0]), int(found[1])

    def usage(self, tenant: str) -> tuple[int, int]:
        """The tenant's unfinished jobs and the bytes their uploads hold (a check before a long upload)."""
        with self.engine.connect() as connection:
            found = connection.execute(
                select(func.count(), func.coalesce(func.sum(jobs.c.upload_bytes), 0)).where(
                    jobs.c.tenant == tenant, jobs.c.state.in_(_UNFINISHED)
                )
            ).one()
        return int(found[0]), int(found[1])

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

    def find(self, job_id: str) -> Job | None:
        """A job by id alone, whatever its tenant (for start-up housekeeping, never for a request)."""
        with self.engine.connect() as connection:
            row = connection.execute(select(jobs).where(jobs.c.job_id == job_id)).first()
        return _job(row) if row else None

    def count_by_state(self) -> dict[str, int]:
        """How many jobs are in each state, every tenant together (for the metrics)."""
        with self.engine.connect() as connection:
            rows = connection.execute(select(jobs.c.state, func.count()).group_by(jobs.c.state)).all()
        return {str(state): int(count) for state, count in rows}

    def claim_next(self, owner: str, lease_seconds: float) -> Job | None:
        """Take the oldest job nobody holds: queued, or running under an expired lease. One conditional
        UPDATE per candidate, so of two runners racing for a job exactly one gets it."""
        now = _now()
        with self.engine.connect() as connection:
            candidates = connection.execute(
                select(jobs.c.job_id).where(_claimable(now)).order_by(jobs.c.created_at).limit(_CANDIDATES)
            ).scalars().all()  # fmt: skip
        for job_id in candidates:
            with write_transaction(self.engine) as connection:
                claimed = connection.execute(
                    update(jobs).where(jobs.c.job_id == job_id, _claimable(now)).values(
                        state=str(JobState.RUNNING), owner=owner, attempts=jobs.c.attempts + 1,
                        lease_expires_at=now + timedelta(seconds=lease_seconds), updated_at=now,
                    )
                ).rowcount  # fmt: skip
            if claimed == 1:
                return self.find(job_id)
        return None

    def renew(
        self, job_id: str, owner: str, lease_seconds: float, *, rows_processed: int, rows_total: int | None
    ) -> bool:
        """Extend the lease and publish progress (every replica shows it); False when the lease is gone."""
        values: dict[str, Any] = {
            "lease_expires_at": _now() + timedelta(seconds=lease_seconds),
            "rows_processed": rows_processed,
        }
        if rows_total is not None:
            values["rows_total"] = rows_total
        with write_transaction(self.engine) as connection:
            return (
                connection.execute(update(jobs).where(_held_by(job_id, owner)).values(**values)).rowcount == 1
            )

    def settle(
        self,
        job_id: str,
        owner: str,
        state: JobState,
        *,
        rows_processed: int,
        result: str | None = None,
        error: str | None = None,
        report: IO[bytes] | None = None,
        within: object | None = None,
    ) -> bool:
        """Give a job its final state, exactly one of result and error, its report, and drop its upload;
        only while `owner` holds it. `within` is the ledger write (a `SqlWrite`) to commit with."""
        assert state in FINAL_STATES and (result is None) != (error is None)
        if within is not None:
            assert isinstance(within, SqlWrite)
            return self._settle(
                within.connection, job_id, owner, state, rows_processed, result, error, report
            )
        with write_transaction(self.engine) as connection:
            return self._settle(connection, job_id, owner, state, rows_processed, result, error, report)

    def _settle(
        self,
        connection: Connection,
        job_id: str,
        owner: str,
        state: JobState,
        rows_processed: int,
        result: str | None,
        error: str | None,
        report: IO[bytes] | None,
    ) -> bool:
        settled = connection.execute(update(jobs).where(_held_by(job_id, owner)).values(
            state=str(state), result=result, error=error, rows_processed=rows_processed,
            lease_expires_at=None, updated_at=_now(),
        )).rowcount  # fmt: skip
        if settled != 1:
            return False
        connection.execute(delete(job_files).where(job_files.c.job_id == job_id, job_files.c.kind == UPLOAD))
        if report is not None:
            write_parts(connection, job_id, REJECTED, report)
        return True

    def read_upload(self, job_id: str, into: IO[bytes]) -> int:
        """Copy a job's stored upload into a local file; the number of bytes (0 when there is none)."""
        return sum(into.write(part) for part in read_parts(self.engine, job_id, UPLOAD))

    def report(self, tenant: str, job_id: str) -> Iterator[bytes] | None:
        """A finished job's rejected-rows report, part by part; None when there is none (or not any more)."""
        job = self.get(tenant, job_id)
        if job is None or job.state not in FINAL_STATES or not self._has(job_id, REJECTED):
            return None
        return read_parts(self.engine, job_id, REJECTED)

    def _has(self, job_id: str, kind: str) -> bool:
        with self.engine.connect() as connection:
            found = connection.execute(
                select(job_files.c.part)
                .where(job_files.c.job_id == job_id, job_files.c.kind == kind)
                .limit(1)
            ).first()
        return found is not None

    def store_file(self, job_id: str, kind: str, source: IO[bytes]) -> bool:
        """Store a job's upload or report unless it has one already (adopting files of an older version)."""
        with write_transaction(self.engine) as connection:
            present = connection.execute(
                select(job_files.c.part)
                .where(job_files.c.job_id == job_id, job_files.c.kind == kind)
                .limit(1)
            ).first()
            if present is not None:
                return False
            write_parts(connection, job_id, kind, source)
        return True

    def drop_reports(self, finished_before: datetime) -> int:
        """Delete the rejected-rows reports of jobs that finished before a moment (retention is over)."""
        old = select(jobs.c.job_id).where(jobs.c.state.in_([str(s) for s in FINAL_STATES]),
                                          jobs.c.updated_at < finished_before)  # fmt: skip
        with write_transaction(self.engine) as connection:
            return connection.execute(
                delete(job_files).where(job_files.c.kind == REJECTED, job_files.c.job_id.in_(old))
            ).rowcount
