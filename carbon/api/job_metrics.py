"""The jobs table, watched: jobs queued and running in this process are counted in memory as their states
change, so a scrape of /metrics never queries the database."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from sqlalchemy import Engine

from carbon.adapters.job_store import SqlJobs
from carbon.api.observability import LIVE_JOB_STATES, Metrics
from carbon.core.jobs import Job, JobState

__all__ = ["CountedJobs"]


class CountedJobs(SqlJobs):
    """SqlJobs that reports each state change of the jobs this process holds to the metrics."""

    def __init__(self, engine: Engine, metrics: Metrics) -> None:
        super().__init__(engine)
        self._metrics = metrics
        self._live: dict[str, str] = {}
        self._lock = threading.Lock()

    def create(self, job: Job) -> Job:
        """A new job is queued here; a replayed one (the key's earlier job) changes no count."""
        created = super().create(job)
        if created is job:
            self._note(job.job_id, job.state)
        return created

    def unfinished(self) -> list[Job]:
        """Jobs left by a stopped process are queued again here."""
        found = super().unfinished()
        for job in found:
            self._note(job.job_id, JobState.QUEUED)
        return found

    def set_state(self, job_id: str, state: JobState, **changes: Any) -> None:
        """Move a job, then count it where it now is."""
        super().set_state(job_id, state, **changes)
        self._note(job_id, state)

    def _note(self, job_id: str, state: JobState) -> None:
        with self._lock:
            if str(state) in LIVE_JOB_STATES:
                self._live[job_id] = str(state)
            elif self._live.pop(job_id, None) is not None:
                self._metrics.job_finished(str(state))
            self._metrics.set_jobs(Counter(self._live.values()))
