"""Job leases on a real database: a live runner's job is left alone, a stalled runner's job is taken over,
and whoever loses the lease records nothing, so a job finishes once with a consistent row."""

from __future__ import annotations

import io
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from carbon.adapters.job_store import SqlJobs
from carbon.adapters.loan_files import count_rows, guess_format, read_loan_chunks
from carbon.adapters.migrate import upgrade
from carbon.adapters.schema import entries
from carbon.adapters.sql_store import SqlLedger, create_ledger_engine
from carbon.api.job_metrics import CountedJobs
from carbon.api.observability import Metrics
from carbon.core.jobs import Job, JobState, LeaseLostError
from carbon.registry import FactorRegistry, load_registry
from carbon.services.ingest import record_loan_file
from carbon.services.jobs import JobPolicy, JobRunner
from carbon.services.ledger_inputs import WriteContext
from tests.backends import BACKENDS, database_url
from tests.conftest import SHIPPED_FACTORS
from tests.integration.test_bulk_files import synthetic_loans, write

LEASE = 0.6
PER_LOAN_MG = 34_800


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with database_url(str(request.param), tmp_path) as url:
        made = create_ledger_engine(url)
        upgrade(made)
        yield made
        made.dispose()


@pytest.fixture(scope="module")
def registry() -> FactorRegistry:
    return load_registry(SHIPPED_FACTORS)


class StallingJobs(SqlJobs):
    """A replica that can stall: its lease renewals stop reaching the database (a frozen VM, a long pause)."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.stalled = threading.Event()

    def renew(
        self, job_id: str, owner: str, lease_seconds: float, *, rows_processed: int, rows_total: int | None
    ) -> bool:
        if self.stalled.is_set():
            return True
        return super().renew(
            job_id, owner, lease_seconds, rows_processed=rows_processed, rows_total=rows_total
        )


def queue_job(store: SqlJobs, data: bytes) -> Job:
    now = datetime.now(UTC)
    job_id = "j_" + uuid.uuid4().hex
    job = Job(job_id, "default", f"key-{job_id}", "c" * 64, JobState.QUEUED, "csv", f"{job_id}.csv", None, 0,
              None, None, now, now, upload_bytes=len(data))  # fmt: skip
    return store.create(job, io.BytesIO(data))


def runner(
    store: SqlJobs, engine: Engine, registry: FactorRegistry, work: Path, gate: threading.Event
) -> JobRunner:
    """A runner whose row count waits for `gate` (outside any transaction: it holds only its lease)."""
    work.mkdir()

    def gated_count(path: Path, fmt: str) -> int:
        gate.wait(30)
        return count_rows(path, fmt)

    return JobRunner(
        store, SqlLedger(engine), registry, work,
        read_chunks=lambda path, fmt: read_loan_chunks(path, guess_format(path, fmt)),
        count_rows=gated_count, default_region="CN", policy=JobPolicy(lease_seconds=LEASE),
    )  # fmt: skip


def wait_for(condition: object, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def entry_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(entries)).scalar_one())


def test_a_live_runners_job_is_left_alone_and_a_stalled_ones_is_taken_over_once(
    engine: Engine, registry: FactorRegistry, tmp_path: Path
) -> None:
    loans = synthetic_loans(400, seed=11)
    data = write(tmp_path / "l.csv", loans, "csv").read_bytes()
    jobs_a, jobs_b = StallingJobs(engine), SqlJobs(engine)
    job = queue_job(jobs_a, data)
    held, free = threading.Event(), threading.Event()
    free.set()
    a = runner(jobs_a, engine, registry, tmp_path / "a", held)
    b = runner(jobs_b, engine, registry, tmp_path / "b", free)
    a.start()
    try:
        wait_for(lambda: a.progress(job.job_id) is not None, "runner a to take the job")
        b.start()
        time.sleep(4 * LEASE)  # a renews its lease: b must not touch the job
        mid = jobs_b.find(job.job_id)
        assert mid is not None and (mid.state, mid.owner, mid.attempts) == (JobState.RUNNING, a.owner, 1)
        jobs_a.stalled.set()  # a stalls: its lease runs out, b takes the job over and finishes it
        wait_for(lambda: (found := jobs_b.find(job.job_id)) is not None and found.state is JobState.SUCCEEDED,
                 "runner b to finish the job")  # fmt: skip
        jobs_a.stalled.clear()
        held.set()  # a wakes up and carries on: it must record nothing and leave the row as b wrote it
        wait_for(lambda: a.progress(job.job_id) is None, "runner a to give up its run")
    finally:
        held.set()
        a.shutdown()
        b.shutdown()
    done = jobs_b.find(job.job_id)
    assert done is not None
    assert (done.state, done.owner, done.attempts, done.error) == (JobState.SUCCEEDED, b.owner, 2, None)
    assert done.result is not None and f'"loans_counted": {len(loans)}' in done.result
    assert (done.rows_total, done.rows_processed) == (len(loans), len(loans))
    assert entry_count(engine) == 1
    assert jobs_b.read_upload(job.job_id, io.BytesIO()) == 0  # the upload went with the final state


def test_a_runner_that_lost_its_lease_commits_no_entry(
    engine: Engine, registry: FactorRegistry, tmp_path: Path
) -> None:
    path = write(tmp_path / "l.csv", synthetic_loans(50, seed=2), "csv")
    store = SqlJobs(engine)
    job = queue_job(store, path.read_bytes())
    assert store.claim_next("a", lease_seconds=0.01) is not None
    time.sleep(0.05)
    taken = store.claim_next("b", lease_seconds=30)
    assert taken is not None and (taken.owner, taken.attempts) == ("b", 2)
    assert store.claim_next("c", lease_seconds=30) is None  # b holds a live lease

    def settle_as_a(tx: object, outcome: object) -> None:
        if not store.settle(job.job_id, "a", JobState.SUCCEEDED, rows_processed=50, result="{}", within=tx):
            raise LeaseLostError("taken over")

    with pytest.raises(LeaseLostError):
        record_loan_file(
            SqlLedger(engine), registry, WriteContext("default", "job:x", "c" * 64, datetime.now(UTC)),
            lambda: read_loan_chunks(path, guess_format(path, "csv")), reference="job", default_region="CN",
            settle=settle_as_a,
        )  # fmt: skip
    assert entry_count(engine) == 0  # the entry rolled back with the refused settle
    assert store.settle(job.job_id, "b", JobState.FAILED, rows_processed=0, error='{"title":"x"}')
    assert not store.settle(job.job_id, "b", JobState.SUCCEEDED, rows_processed=0, result="{}")  # once only


def test_a_job_another_replica_took_leaves_this_ones_gauges(engine: Engine, tmp_path: Path) -> None:
    metrics = Metrics()
    here, there = CountedJobs(engine, metrics), SqlJobs(engine)

    def gauge(state: str) -> float:
        return float(metrics.jobs.labels(state=state)._value.get())

    job = queue_job(here, write(tmp_path / "l.csv", synthetic_loans(10), "csv").read_bytes())
    assert gauge("queued") == 1
    taken = there.claim_next("there", lease_seconds=30)
    assert taken is not None and taken.job_id == job.job_id
    assert here.claim_next("here", lease_seconds=30) is None  # nothing to take; the look forgets the job
    assert (gauge("queued"), gauge("running")) == (0, 0)
    assert float(metrics.jobs_finished.labels(state="succeeded")._value.get()) == 0
