"""Prometheus metrics per app (its own registry), request metrics, and the wiring of logs, metrics, traces."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from fastapi import FastAPI
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from carbon.api.logs import RequestContext, configure_logging, method_label, route_template
from carbon.api.routes import metrics as metrics_routes
from carbon.core.jobs import JobState
from carbon.core.model import Book

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

# No `_created` series beside every counter: Prometheus ignores them and they double the exposition.
disable_created_metrics()  # type: ignore[no-untyped-call]

__all__ = [
    "BOOKS",
    "FINAL_JOB_STATES",
    "LIVE_JOB_STATES",
    "Metrics",
    "RequestMetrics",
    "install_observability",
]

BOOKS = (str(Book.AVOIDED), str(Book.INVENTORY))  # the books entries are recorded in
LIVE_JOB_STATES = (str(JobState.QUEUED), str(JobState.RUNNING))
FINAL_JOB_STATES = tuple(str(state) for state in JobState if str(state) not in LIVE_JOB_STATES)
# 1 ms (a cached read) to 30 s (a large synchronous batch); slower requests land in +Inf
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """The service's metrics, in a registry of their own so that apps in one process never share counts.

    Everything is counted in memory as it happens, so a scrape reads no table. Business totals (loans
    counted, CO2e recorded, every tenant together) are left out unless `business_totals` asks for them.
    """

    def __init__(self, *, business_totals: bool = False) -> None:
        self.registry = r = CollectorRegistry()
        by_route = ("method", "route")
        self.requests = Counter(
            "carbon_http_requests", "HTTP requests answered", (*by_route, "status"), registry=r
        )
        self.duration = Histogram("carbon_http_request_duration_seconds", "HTTP request latency in seconds",
                                  by_route, buckets=DURATION_BUCKETS, registry=r)  # fmt: skip
        self.in_flight = Gauge("carbon_http_requests_in_flight", "HTTP requests being handled", registry=r)
        self.ledger_writes = Counter("carbon_ledger_writes", "Ledger writes, by kind", ("kind",), registry=r)
        self.job_rows_processed = Counter("carbon_jobs_rows_processed", "Rows processed by jobs", registry=r)
        self.jobs = Gauge("carbon_jobs", "Jobs queued or running in this process, by state", ("state",),
                          registry=r)  # fmt: skip
        self.jobs_finished = Counter("carbon_jobs_finished", "Jobs this process ran to a final state",
                                     ("state",), registry=r)  # fmt: skip
        self.loans_counted: Counter | None = None
        self.recorded: Counter | None = None
        if business_totals:
            self.loans_counted = Counter("carbon_loans_counted", "Loans newly counted in the ledger",
                                         registry=r)  # fmt: skip
            self.recorded = Counter("carbon_recorded_grams", "CO2e recorded in new entries, in grams",
                                    ("book",), registry=r)  # fmt: skip
            for book in BOOKS:
                self.recorded.labels(book=book)
        self.set_jobs({})
        for state in FINAL_JOB_STATES:
            self.jobs_finished.labels(state=state)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request and its latency."""
        self.requests.labels(method=method, route=route, status=str(status)).inc()
        self.duration.labels(method=method, route=route).observe(seconds)

    def ledger_write(self, kind: str, *, loans: int = 0, milligrams: int = 0, book: str = "avoided") -> None:
        """Count one ledger write and, with business totals on, the loans it newly counted and its CO2e."""
        if book not in BOOKS:
            raise ValueError(f"book must be one of {BOOKS}, not {book!r}")
        if loans < 0 or milligrams < 0:
            raise ValueError("loans and milligrams only grow; count a reversal as its own kind")
        self.ledger_writes.labels(kind=kind).inc()
        if loans and self.loans_counted is not None:
            self.loans_counted.inc(loans)
        if milligrams and self.recorded is not None:
            self.recorded.labels(book=book).inc(milligrams / 1000)  # base unit: grams

    def job_rows(self, n: int) -> None:
        """Count rows a job processed."""
        if n < 0:
            raise ValueError("rows processed only grow")
        self.job_rows_processed.inc(n)

    def set_jobs(self, counts: Mapping[str, int]) -> None:
        """Set the number of jobs queued and running here; both are always shown, 0 when absent."""
        for state in (*LIVE_JOB_STATES, *(s for s in counts if s not in LIVE_JOB_STATES)):
            self.jobs.labels(state=state).set(counts.get(state, 0))

    def job_finished(self, state: str) -> None:
        """Count a job this process ran to a final state."""
        self.jobs_finished.labels(state=state).inc()

    def render(self) -> tuple[bytes, str]:
        """The text exposition and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class RequestMetrics:
    """Count requests by method, route template and status, time them, and gauge those in flight."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # if the app raises before it answers, the client gets a 500 from further out

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        self.metrics.in_flight.inc()
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            self.metrics.in_flight.dec()
            seconds = time.perf_counter() - started
            self.metrics.observe_request(method_label(scope), route_template(scope), status, seconds)


def install_observability(
    app: FastAPI,
    *,
    json_logs: bool,
    tracing: bool,
    log_level: str = "INFO",
    tracer_provider: TracerProvider | None = None,
    business_totals: bool = False,
) -> Metrics:
    """Metrics at /metrics, request ids and access lines, logging, and (optionally) OpenTelemetry traces.

    Call it after every other `add_middleware`, so that RequestContext is the outermost user middleware and
    every answer (413 and 500 included) carries X-Request-ID. Trace export is configured by the standard
    OTEL_* environment variables; `tracer_provider` is for tests.
    """
    metrics = Metrics(business_totals=business_totals)
    app.state.metrics = metrics
    app.include_router(metrics_routes.router)
    app.add_middleware(RequestMetrics, metrics=metrics)
    app.add_middleware(RequestContext)
    configure_logging(json_logs, log_level)
    if tracing:
        _instrument(app, tracer_provider)
    return metrics


def _instrument(app: FastAPI, tracer_provider: TracerProvider | None) -> None:
    """Trace every request with OpenTelemetry's FastAPI instrumentation (an optional dependency)."""
    try:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    except ImportError as error:
        raise RuntimeError("tracing needs the otel extra: pip install 'carbon-ledger[otel]'") from error
    FastAPIInstrumentor.instrument_app(app, tracer_provider=tracer_provider)
