"""Jobs: a loan file uploaded over HTTP, recorded in the background with the same rules as `carbon ingest`.

A job's ledger write is one transaction keyed by the upload's Idempotency-Key, so running a job again
(after a crash, at start-up) records nothing twice: it replays.
"""

from __future__ import annotations

import csv
import json
import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from carbon.core.columnar import LoanChunk
from carbon.core.jobs import Job, JobState
from carbon.errors import CarbonError
from carbon.registry import FactorRegistry
from carbon.services.ingest import record_loan_file
from carbon.services.ledger import Recorded
from carbon.services.ledger_inputs import WriteContext
from carbon.services.ports import JobStore, LedgerStore

__all__ = ["JobFiles", "JobRunner", "job_view"]

_log = logging.getLogger("carbon.jobs")

ReadChunks = Callable[[Path, str], Iterable[LoanChunk]]
CountRows = Callable[[Path, str], int]


@dataclass(frozen=True, slots=True)
class JobFiles:
    """Where a job's upload and its report of rejected rows live."""

    directory: Path

    def upload(self, job_id: str, fmt: str) -> Path:
        return self.directory / f"{job_id}.{fmt}"

    def rejected(self, job_id: str) -> Path:
        return self.directory / f"{job_id}.rejected.csv"


class JobRunner:
    """Runs jobs one at a time on a worker thread; tracks progress in memory while they run."""

    def __init__(
        self,
        jobs: JobStore,
        ledger: LedgerStore,
        registry: FactorRegistry,
        files: JobFiles,
        *,
        read_chunks: ReadChunks,
        count_rows: CountRows,
        default_region: str,
        on_recorded: Callable[[Recorded], None] | None = None,
        on_rows: Callable[[int], None] | None = None,
    ) -> None:
        self.jobs = jobs
        self._ledger = ledger
        self._registry = registry
        self.files = files
        self._read = read_chunks
        self._count = count_rows
        self._region = default_region
        self._on_recorded = on_recorded  # the service's counters: each new entry, each block of rows
        self._on_rows = on_rows
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="carbon-job")
        self._progress: dict[str, int] = {}
        self._lock = threading.Lock()

    def submit(self, job: Job) -> Future[None] | None:
        """Queue a job; while shutting down it stays queued in the store and runs at the next start."""
        try:
            return self._executor.submit(self.run, job)
        except RuntimeError:  # the executor is shut down
            _log.info("job %s stays queued until the next start", job.job_id)
            return None

    def resume(self) -> int:
        """Queue the jobs a stopped process left unfinished; their ledger writes replay if they committed."""
        unfinished = self.jobs.unfinished()
        for job in unfinished:
            self.submit(job)
        return len(unfinished)

    def progress(self, job_id: str) -> int | None:
        """Rows processed so far by a running job (None when it is not running here)."""
        with self._lock:
            return self._progress.get(job_id)

    def shutdown(self) -> None:
        """Finish the running job, drop the queued ones (they resume at the next start)."""
        self._executor.shutdown(wait=True, cancel_futures=True)

    def run(self, job: Job) -> None:
        """Run one job to a final state; every failure becomes the job's error, never a crash."""
        path = self.files.upload(job.job_id, job.format)
        try:
            total = self._count(path, job.format)
            self.jobs.set_state(job.job_id, JobState.RUNNING, rows_total=total)
            outcome = self._record(job, path)
        except CarbonError as error:
            self._finish(job, JobState.FAILED, error={"title": "job failed", "detail": str(error)})
        except Exception:  # the worker must survive anything; the job records the failure
            _log.exception("job %s failed", job.job_id)
            self._finish(job, JobState.FAILED, error={"title": "job failed", "detail": "internal error"})
        else:
            self._finish(job, JobState.SUCCEEDED, result=outcome)

    def _record(self, job: Job, path: Path) -> dict[str, Any]:
        ctx = WriteContext(job.tenant, f"job:{job.idempotency_key}", job.request_checksum, datetime.now(UTC))
        report = self.files.rejected(job.job_id)
        with self._lock:
            self._progress[job.job_id] = 0
        with report.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(["where", "reason"])
            outcome = record_loan_file(
                self._ledger, self._registry, ctx, lambda: self._read(path, job.format),
                reference=f"job {job.job_id}", default_region=self._region,
                progress=lambda rows: self._advance(job.job_id, rows),
                rejected_sink=lambda rows: writer.writerows((r.where, r.reason) for r in rows),
            )  # fmt: skip
        if outcome.recorded is not None and self._on_recorded is not None:
            self._on_recorded(outcome.recorded)
        return outcome.body

    def _advance(self, job_id: str, rows: int) -> None:
        with self._lock:
            self._progress[job_id] = self._progress.get(job_id, 0) + rows
        if self._on_rows is not None:
            self._on_rows(rows)

    def _finish(
        self,
        job: Job,
        state: JobState,
        result: dict[str, Any] | None = None,
        error: dict[str, str] | None = None,
    ) -> None:
        with self._lock:
            processed = self._progress.pop(job.job_id, 0)
        self.jobs.set_state(
            job.job_id, state, rows_processed=processed,
            result=json.dumps(result, ensure_ascii=False) if result is not None else None,
            error=json.dumps(error, ensure_ascii=False) if error is not None else None,
        )  # fmt: skip


def job_view(job: Job, progress: int | None) -> dict[str, Any]:
    """A job's state for GET /v1/jobs/{id}: progress while it runs, the result or error when done."""
    processed = progress if progress is not None and job.state is JobState.RUNNING else job.rows_processed
    done = job.state in (JobState.SUCCEEDED, JobState.FAILED)
    return {
        "job_id": job.job_id,
        "state": str(job.state),
        "format": job.format,
        "rows_total": job.rows_total,
        "rows_processed": processed,
        "result": json.loads(job.result) if job.result else None,
        "error": json.loads(job.error) if job.error else None,
        "rejected_report": f"/v1/jobs/{job.job_id}/rejected" if done else None,
        "created_at": job.created_at.isoformat(),
        "updated_at": job.updated_at.isoformat(),
    }
