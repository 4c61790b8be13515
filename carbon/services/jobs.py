"""Jobs: a loan file uploaded over HTTP, recorded in the background with the same rules as `carbon ingest`.

Every replica runs a worker that claims jobs from the database under a lease (see `carbon.core.jobs`), so
a job runs on one replica at a time and is taken over only when its runner's lease expires. The upload
is read from the database into a file of this process; the ledger write is keyed by the upload's
Idempotency-Key and the job's final state commits in the same transaction, so a job finishes exactly once
and never says `succeeded` without its entry (or the reverse).
"""

from __future__ import annotations

import csv
import json
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from carbon.core.columnar import LoanChunk
from carbon.core.jobs import FINAL_STATES, Job, JobState, LeaseLostError
from carbon.errors import CarbonError, NotFoundError
from carbon.registry import FactorRegistry
from carbon.services.ingest import record_loan_file
from carbon.services.job_lease import Lease
from carbon.services.ledger import Outcome, Recorded
from carbon.services.ledger_inputs import WriteContext
from carbon.services.ports import JobStore, LedgerStore, LedgerWrite, Subledger

__all__ = ["JobPolicy", "JobRunner", "job_view", "runner_id"]

_log = logging.getLogger("carbon.jobs")

ReadChunks = Callable[[Path, str], Iterable[LoanChunk]]
CountRows = Callable[[Path, str], int]
_SWEEP_EVERY = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class JobPolicy:
    """Lease length, how often a job may be taken over after its runner died, how long reports stay."""

    lease_seconds: float = 30.0
    max_resumes: int = 2
    report_days: int = 30

    @property
    def poll_seconds(self) -> float:
        """How often an idle worker looks for jobs (an upload here wakes it at once)."""
        return min(self.lease_seconds / 2, 5.0)


def runner_id() -> str:
    """Who holds a lease: host, process and a random part (a restarted process is a new owner)."""
    return f"{socket.gethostname()[:48]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class JobRunner:
    """One worker thread per process: claims a job, runs it under its lease, settles it, claims the next."""

    def __init__(
        self,
        jobs: JobStore,
        ledger: LedgerStore,
        registry: FactorRegistry,
        work_dir: Path,
        *,
        read_chunks: ReadChunks,
        count_rows: CountRows,
        default_region: str,
        policy: JobPolicy | None = None,
        on_recorded: Callable[[Recorded], None] | None = None,
        on_rows: Callable[[int], None] | None = None,
        subledger: Subledger | None = None,
    ) -> None:
        self.jobs = jobs
        self._ledger = ledger
        self._registry = registry
        self._work = work_dir
        self._read = read_chunks
        self._count = count_rows
        self._region = default_region
        self.policy = policy or JobPolicy()
        self._on_recorded = on_recorded  # the service's counters: each new entry, each block of rows
        self._on_rows = on_rows
        self._subledger = subledger  # the personal accounts, credited in the job's ledger transaction
        self.owner = runner_id()
        self._progress: dict[str, int] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._swept_at: datetime | None = None

    def start(self) -> None:
        """Start the worker: it runs what stopped processes left and whatever is uploaded after."""
        self._thread = threading.Thread(target=self._work_loop, name="carbon-jobs", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """A job was uploaded: look now rather than at the next poll."""
        self._wake.set()

    def progress(self, job_id: str) -> int | None:
        """Rows processed so far by a job running here (None when it is not running here)."""
        with self._lock:
            return self._progress.get(job_id)

    def shutdown(self) -> None:
        """Finish the running job, take no other (queued jobs run at the next start, or on a replica)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()

    def _work_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self._sweep_reports()
                job = self.jobs.claim_next(self.owner, self.policy.lease_seconds)
            except Exception as error:  # a busy or unreachable database: look again at the next poll
                _log.warning("no job claimed (%s)", type(error).__name__)
                job = None
            if job is not None:
                try:
                    self.run(job)
                except Exception:  # not even its failure could be recorded: the lease runs out, it is retried
                    _log.exception("job %s could not be settled", job.job_id)
                continue
            self._wake.wait(self.policy.poll_seconds)
            self._wake.clear()

    def _sweep_reports(self) -> None:
        """Drop rejected-rows reports past their retention, once an hour."""
        now = datetime.now(UTC)
        if self._swept_at is None or now - self._swept_at > _SWEEP_EVERY:
            self._swept_at = now
            self.jobs.drop_reports(now - timedelta(days=self.policy.report_days))

    def run(self, job: Job) -> None:
        """Run a job this runner has claimed to a final state; every failure becomes the job's error."""
        if job.attempts > 1 + self.policy.max_resumes:
            self._give_up(job)
            return
        upload = self._work / f"{job.job_id}.{job.format}"
        report = self._work / f"{job.job_id}.rejected.csv"
        with self._lock:
            self._progress[job.job_id] = 0
        try:
            with Lease(self.jobs, job.job_id, self.owner, self.policy.lease_seconds,
                       lambda: self.progress(job.job_id) or 0) as lease:  # fmt: skip
                self._attempt(job, upload, report, lease)
        finally:
            with self._lock:
                self._progress.pop(job.job_id, None)
            upload.unlink(missing_ok=True)
            report.unlink(missing_ok=True)

    def _attempt(self, job: Job, upload: Path, report: Path, lease: Lease) -> None:
        try:
            with upload.open("wb") as into:
                if self.jobs.read_upload(job.job_id, into) == 0:
                    raise NotFoundError(f"the upload {job.file_name} is no longer stored")
            lease.rows_total = self._count(upload, job.format)
            lease.renew()
            self._record(job, upload, report, lease)
        except LeaseLostError:
            _log.warning("job %s was taken over by another runner; this run stops", job.job_id)
        except CarbonError as error:
            self._fail(job, report, {"title": "job failed", "detail": str(error)})
        except Exception:  # the worker must survive anything; the job records the failure
            _log.exception("job %s failed", job.job_id)
            self._fail(job, report, {"title": "job failed", "detail": "internal error"})

    def _record(self, job: Job, upload: Path, report: Path, lease: Lease) -> None:
        ctx = WriteContext(job.tenant, f"job:{job.idempotency_key}", job.request_checksum, datetime.now(UTC))
        settled = False

        def settle(tx: LedgerWrite, outcome: Outcome) -> None:
            nonlocal settled
            out.flush()
            with report.open("rb") as rejected:
                settled = self._settle(
                    job, JobState.SUCCEEDED, result=outcome.body, report=rejected, within=tx
                )
            if not settled:
                raise LeaseLostError(f"job {job.job_id} was taken over by another runner")

        def advance(rows: int) -> None:
            lease.check()
            self._advance(job.job_id, rows)

        with report.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(["where", "reason"])
            outcome = record_loan_file(
                self._ledger, self._registry, ctx, lambda: self._read(upload, job.format),
                reference=f"job {job.job_id}", default_region=self._region, progress=advance,
                rejected_sink=lambda rows: writer.writerows((r.where, r.reason) for r in rows), settle=settle,
                subledger=self._subledger,
            )  # fmt: skip
        if not settled:  # a replay: the entry was recorded by a run that could not settle the job
            self._settle(job, JobState.SUCCEEDED, result=outcome.body)
        if outcome.recorded is not None and self._on_recorded is not None:
            self._on_recorded(outcome.recorded)

    def _advance(self, job_id: str, rows: int) -> None:
        with self._lock:
            self._progress[job_id] = self._progress.get(job_id, 0) + rows
        if self._on_rows is not None:
            self._on_rows(rows)

    def _fail(self, job: Job, report: Path, error: dict[str, str]) -> None:
        if report.is_file():
            with report.open("rb") as rejected:
                self._settle(job, JobState.FAILED, error=error, report=rejected)
        else:
            self._settle(job, JobState.FAILED, error=error)

    def _give_up(self, job: Job) -> None:
        """A job whose runner died every time (killed, out of memory): fail it instead of looping."""
        runs = job.attempts - 1
        _log.error("job %s: its runner stopped %d times; given up", job.job_id, runs)
        self._settle(job, JobState.FAILED, error={
            "title": "job abandoned",
            "detail": f"the process running this job stopped {runs} times before it finished (killed, or "
                      "out of memory?); it is not run again. Split the file, or ask the operator.",
        })  # fmt: skip

    def _settle(
        self,
        job: Job,
        state: JobState,
        *,
        result: dict[str, Any] | None = None,
        error: dict[str, str] | None = None,
        report: IO[bytes] | None = None,
        within: LedgerWrite | None = None,
    ) -> bool:
        settled = self.jobs.settle(
            job.job_id, self.owner, state, rows_processed=self.progress(job.job_id) or 0,
            result=json.dumps(result, ensure_ascii=False) if result is not None else None,
            error=json.dumps(error, ensure_ascii=False) if error is not None else None,
            report=report, within=within,
        )  # fmt: skip
        if not settled:
            _log.warning("job %s: not settled here, another runner holds it", job.job_id)
        return settled


def job_view(job: Job, progress: int | None) -> dict[str, Any]:
    """A job's state for GET /v1/jobs/{id}: progress while it runs, the result or error when done."""
    processed = progress if progress is not None and job.state is JobState.RUNNING else job.rows_processed
    done = job.state in FINAL_STATES
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
