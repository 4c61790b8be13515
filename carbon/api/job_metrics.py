"""The jobs table, watched: jobs queued and running in this process are counted in memory as their states
change, so a scrape of /metrics never queries the database."""

from __future__ import annotations

import threading
from collections import Counter
from typing import IO, Any

from sqlalchemy import Engine, select

from carbon.adapters.job_store import Admit, SqlJobs
from carbon.adapters.schema import jobs
from carbon.api.observability import LIVE_JOB_STATES, Metrics
from carbon.core.jobs import Job, JobState

__all__ = ["CountedJobs"]


class CountedJobs(SqlJobs):
    """SqlJobs that reports each state change of the jobs this process holds to the metrics: queued when
    uploaded here, running when claimed here, finished when settled here. A job another replica took
    (or took over) leaves this process's gauges without counting as finished here."""

    def __init__(self, engine: Engine, metrics: Metrics) -> None:
        super().__init__(engine)
        self._metrics = metrics
        self._live: dict[str, str] = {}
        self._owner: str | None = None
        self._lock = threading.Lock()

    def create(self, job: Job, upload: IO[bytes] | None = None, admit: Admit | None = None) -> Job:
        """A new job is queued here; a replayed one (the key's earlier job) changes no count."""
        created = super().create(job, upload, admit)
        if created is job:
            self._note(job.job_id, job.state)
        return created

    def claim_next(self, owner: str, lease_seconds: float) -> Job | None:
        """A job claimed here is running here; first forget the ones another replica holds now."""
        self._owner = owner
        self._forget_taken_elsewhere()
        job = super().claim_next(owner, lease_seconds)
        if job is not None:
            self._note(job.job_id, JobState.RUNNING)
        return job

    def settle(self, job_id: str, owner: str, state: JobState, **changes: Any) -> bool:
        """A job settled here is counted as finished here."""
        settled = super().settle(job_id, owner, state, **changes)
        if settled:
            self._note(job_id, state)
        return settled

    def _forget_taken_elsewhere(self) -> None:
        """One look (only when this process holds jobs) at who holds them now."""
        with self._lock:
            ids = list(self._live)
        if not ids:
            return
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(jobs.c.job_id, jobs.c.state, jobs.c.owner).where(jobs.c.job_id.in_(ids))
            )
            queued, running = str(JobState.QUEUED), str(JobState.RUNNING)
            held = {job_id for job_id, state, owner in rows
                    if state == queued or (state == running and owner == self._owner)}  # fmt: skip
        with self._lock:
            for job_id in ids:
                if job_id not in held:
                    self._live.pop(job_id, None)
            self._metrics.set_jobs(Counter(self._live.values()))

    def _note(self, job_id: str, state: JobState) -> None:
        with self._lock:
            if str(state) in LIVE_JOB_STATES:
                self._live[job_id] = str(state)
            elif self._live.pop(job_id, None) is not None:
                self._metrics.job_finished(str(state))
            self._metrics.set_jobs(Counter(self._live.values()))
