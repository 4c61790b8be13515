"""What the app holds for its lifetime, created in the lifespan and reached from requests."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import Request, Response

from carbon.adapters.key_store import SqlKeys
from carbon.adapters.readiness import WriteReadiness
from carbon.adapters.sql_store import SqlLedger
from carbon.adapters.work_dir import WorkDir
from carbon.api.limits import RateLimiter
from carbon.api.observability import Metrics
from carbon.books.accounts import Accounts
from carbon.core.jobs import Job
from carbon.errors import RequestInFlightError
from carbon.registry import FactorRegistry
from carbon.services.jobs import JobRunner, job_view
from carbon.services.ledger import Outcome, Recorded
from carbon.services.ledger_inputs import WriteContext
from carbon.settings import Settings

__all__ = [
    "AppState",
    "InFlight",
    "accounts",
    "app_state",
    "count_recorded",
    "idempotent_write",
    "request_checksum",
    "utc_now",
]


class InFlight:
    """Idempotency keys whose first request is still running in this process (a retry gets 409)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: set[tuple[str, str]] = set()

    @contextmanager
    def hold(self, tenant: str, key: str) -> Iterator[None]:
        """Hold the key for the duration of the request."""
        with self._lock:
            if (tenant, key) in self._keys:
                raise RequestInFlightError(
                    "a request with this Idempotency-Key is still running; retry shortly"
                )
            self._keys.add((tenant, key))
        try:
            yield
        finally:
            with self._lock:
                self._keys.discard((tenant, key))


@dataclass
class AppState:
    """The registry, the ledger and the settings of one app."""

    settings: Settings
    registry: FactorRegistry
    ledger: SqlLedger
    jobs: JobRunner
    work: WorkDir
    keys: SqlKeys
    key_secret: bytes
    limiter: RateLimiter
    failures: RateLimiter
    metrics: Metrics
    readiness: WriteReadiness
    accounts: Accounts
    in_flight: InFlight = field(default_factory=InFlight)
    probe_threads: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(2, thread_name_prefix="carbon-probe")
    )

    def count(self, recorded: Recorded | None) -> None:
        """Add a new entry to the service's counters (a replay adds nothing)."""
        if recorded is not None:
            count_recorded(self.metrics, recorded)

    def job_view(self, job: Job) -> dict[str, Any]:
        """A job with its live progress."""
        return job_view(job, self.jobs.progress(job.job_id))


def count_recorded(metrics: Metrics, recorded: Recorded) -> None:
    """One new entry in the counters; a reversal counts as a write, its negative milligrams are not taken off
    what was recorded."""
    metrics.ledger_write(recorded.kind, loans=recorded.loans, milligrams=max(recorded.mg, 0),
                         book=recorded.book)  # fmt: skip


def accounts(request: Request) -> Accounts:
    """The personal carbon accounts of the app serving this request."""
    return app_state(request).accounts


def app_state(request: Request) -> AppState:
    """The state of the app serving this request."""
    state: AppState = request.app.state.carbon
    return state


async def request_checksum(request: Request) -> str:
    """SHA-256 over method, path, query and body: what an Idempotency-Key promises not to change."""
    digest = hashlib.sha256()
    for part in (request.method, request.url.path, request.url.query):
        digest.update(part.encode() + b"\n")
    digest.update(await request.body())
    return digest.hexdigest()


def idempotent_write(
    state: AppState,
    tenant: str,
    key: str,
    checksum: str,
    response: Response,
    record: Callable[[WriteContext], Outcome],
) -> dict[str, Any]:
    """Run a write under its Idempotency-Key: 409 while the key's first request runs, the stored
    response (marked `Idempotent-Replayed`) when it ran before."""
    ctx = WriteContext(tenant, key, checksum, utc_now())
    with state.in_flight.hold(tenant, key):
        outcome = record(ctx)
    state.count(outcome.recorded)
    response.status_code = outcome.status
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return outcome.body


def utc_now() -> datetime:
    """The clock of the shell (the core reads none)."""
    return datetime.now(UTC)
