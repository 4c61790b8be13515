"""create_app(settings): the FastAPI application factory; resources are made in the lifespan."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from carbon.adapters.account_store import SqlAccounts
from carbon.adapters.key_store import SqlKeys, read_or_create_secret
from carbon.adapters.loan_files import count_rows, guess_format, read_loan_chunks
from carbon.adapters.migrate import upgrade
from carbon.adapters.readiness import WriteReadiness
from carbon.adapters.sql_store import SqlLedger, create_ledger_engine
from carbon.adapters.work_dir import WorkDir, adopt_legacy_job_files
from carbon.api.auth import KeyGate, caller_for
from carbon.api.docs import install_docs
from carbon.api.edge import AllowedHosts, BodyDeadline
from carbon.api.job_metrics import CountedJobs
from carbon.api.limits import ConcurrencyLimit, RateLimiter, RequestTimeout
from carbon.api.observability import Metrics, install_observability
from carbon.api.problems import BodySizeLimit, error_responses, install_problem_handlers
from carbon.api.routes import factors, green, health, jobs, ledger, reports, writes
from carbon.api.schemas import Problem
from carbon.api.state import AppState, accounts, count_recorded, utc_now
from carbon.books.accounts import Accounts, account_routes
from carbon.core.access import Role
from carbon.core.columnar import LoanChunk
from carbon.registry import FactorRegistry, load_registry
from carbon.services.jobs import JobPolicy, JobRunner
from carbon.settings import Settings

__all__ = ["create_app", "load_key_secret"]

_log = logging.getLogger("carbon.api")


def create_app(settings: Settings, registry: FactorRegistry | None = None) -> FastAPI:
    """Build the service; the factor registry is loaded (and refused if broken) before it serves."""
    loaded = registry or load_registry(settings.factors_dir)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # database, key secret, uploads
        url = settings.resolved_database_url
        engine = create_ledger_engine(url, lock_wait=settings.db_lock_wait_seconds,
                                      pool_size=(settings.db_pool_size + 1) // 2,
                                      max_overflow=settings.db_pool_size // 2)  # fmt: skip
        upgrade(engine)
        ledger = SqlLedger(engine, lock_wait=settings.db_lock_wait_seconds)
        metrics: Metrics = app.state.metrics
        job_store = CountedJobs(engine, metrics)
        work = WorkDir(settings.data_dir / "work").open()
        adopt_legacy_job_files(settings.data_dir / "jobs", job_store)
        accounts_book = Accounts(SqlAccounts(ledger))
        runner = JobRunner(job_store, ledger.waiting(JOB_LOCK_WAIT_SECONDS), loaded, work.path,
                           read_chunks=_read_chunks, count_rows=count_rows,
                           default_region=settings.default_loan_region, policy=job_policy(settings),
                           on_recorded=partial(count_recorded, metrics),
                           on_rows=metrics.job_rows, subledger=accounts_book)  # fmt: skip
        app.state.carbon = AppState(
            settings=settings, registry=loaded, ledger=ledger, jobs=runner, work=work, keys=SqlKeys(engine),
            key_secret=load_key_secret(settings),
            limiter=RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst),
            failures=_failure_limiter(settings.auth_failures_per_minute),
            metrics=metrics, accounts=accounts_book,
            readiness=WriteReadiness(url, settings.data_dir, settings.ready_min_free_disk_bytes),
        )  # fmt: skip
        if settings.auth == "open":
            _log.warning("CARBON_AUTH=open: every request acts as tenant %r with every role; "
                         "for local development only", settings.open_tenant)  # fmt: skip
        runner.start()
        gc.collect()
        gc.freeze()  # long-lived start-up objects leave the collector's young generations: steadier p99
        try:
            yield
        finally:
            runner.shutdown()
            work.close()
            app.state.carbon.readiness.close()
            app.state.carbon.probe_threads.shutdown(wait=False)
            engine.dispose()

    app = FastAPI(
        title="carbon-ledger",
        version="1",
        summary="Avoided emissions of online lending and green computing, exact and traceable to factors.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,  # a slash redirect would name the host the request claimed
    )
    if settings.docs_enabled:
        install_docs(app)
    install_problem_handlers(app)
    for module in (writes, ledger, jobs, factors, green, reports, health):
        app.include_router(module.router)
    app.include_router(account_routes(
        reader=caller_for(Role.READ), admin=caller_for(Role.ADMIN), accounts=accounts, clock=utc_now,
        responses=error_responses,
    ))  # fmt: skip
    # Outermost last: request id and metrics around everything; then what is refused from the headers alone
    # (a host not served, no valid key); then the body, read whole within its deadline and size, before the
    # request takes anything; then the handler's timeout (a write that outlives it keeps its slot until
    # done), then the concurrency slots.
    app.add_middleware(ConcurrencyLimit, limit=settings.max_concurrent_requests,
                       wait=settings.queue_wait_seconds, exempt=UNLIMITED)  # fmt: skip
    app.add_middleware(
        RequestTimeout, seconds=settings.request_timeout_seconds, exempt=("/v1/jobs", *UNLIMITED)
    )
    app.add_middleware(BodySizeLimit, limit=settings.max_body_bytes, streamed=("/v1/jobs",))
    app.add_middleware(BodyDeadline, seconds=settings.body_timeout_seconds, streamed=("/v1/jobs",))
    app.add_middleware(KeyGate)
    app.add_middleware(AllowedHosts, hosts=settings.allowed_hosts, exempt=UNLIMITED)
    install_observability(app, json_logs=settings.json_logs, tracing=settings.tracing,
                          log_level=settings.log_level,
                          business_totals=settings.metrics_business_totals)  # fmt: skip
    _document_problems(app)
    return app


def _failure_limiter(per_minute: int) -> RateLimiter:
    """Requests without a valid key, per client address: a minute's worth at once, then per_minute / 60 a
    second."""
    return RateLimiter(per_minute / 60, max(1, per_minute),
                       subject="requests without a valid API key from this address")  # fmt: skip


def job_policy(settings: Settings) -> JobPolicy:
    """The jobs' lease, resume limit and report retention from the settings."""
    return JobPolicy(settings.job_lease_seconds, settings.job_max_resumes, settings.job_report_days)


def load_key_secret(settings: Settings) -> bytes:
    """CARBON_KEY_SECRET, or the secret generated once under the data directory."""
    if settings.key_secret is not None:
        return settings.key_secret.get_secret_value().encode()
    return read_or_create_secret(settings.key_secret_path)


def _read_chunks(path: Path, fmt: str) -> Iterator[LoanChunk]:
    """The file reader jobs use."""
    return read_loan_chunks(path, guess_format(path, fmt))


JOB_LOCK_WAIT_SECONDS = 3600.0  # a job waits out the tenant's other writes (another replica's job, say)
UNLIMITED = ("/healthz", "/readyz", "/metrics")  # probes and scrapes answer even when the service is full
GUARD_STATUSES = (401, 403, 429, 503, 504)  # no key, wrong role, rate, concurrency, timeout


def _document_guarded(schema: dict[str, Any]) -> None:
    """Every operation behind an API key can also answer with the access and limit problems, and one that
    takes a body with 408 when the body is too slow to arrive."""
    guarded = {str(status): documented for status, documented in error_responses(*GUARD_STATUSES).items()}
    slow_body = {str(status): documented for status, documented in error_responses(408).items()}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict) and operation.get("security"):
                responses = operation.setdefault("responses", {})
                extra = slow_body if "requestBody" in operation else {}
                for status, documented in {**guarded, **extra}.items():
                    responses.setdefault(status, documented)


def _document_problems(app: FastAPI) -> None:
    """Add the Problem schema that every documented error response refers to."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
            _document_guarded(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
