"""create_app(settings): the FastAPI application factory; resources are made in the lifespan."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from carbon.adapters.job_store import SqlJobs
from carbon.adapters.loan_files import count_rows, guess_format, read_loan_chunks
from carbon.adapters.migrate import upgrade
from carbon.adapters.sql_store import SqlLedger, create_ledger_engine
from carbon.api.problems import BodySizeLimit, install_problem_handlers
from carbon.api.routes import factors, green, health, jobs, ledger, reports, writes
from carbon.api.schemas import Problem
from carbon.api.state import AppState
from carbon.core.columnar import LoanChunk
from carbon.registry import FactorRegistry, load_registry
from carbon.services.jobs import JobFiles, JobRunner
from carbon.settings import Settings

__all__ = ["create_app"]


def create_app(settings: Settings, registry: FactorRegistry | None = None) -> FastAPI:
    """Build the service; the factor registry is loaded (and refused if broken) before it serves."""
    loaded = registry or load_registry(settings.factors_dir)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_ledger_engine(settings.resolved_database_url)
        upgrade(engine)
        ledger = SqlLedger(engine)
        runner = JobRunner(SqlJobs(engine), ledger, loaded, JobFiles(settings.data_dir / "jobs"),
                           read_chunks=_read_chunks, count_rows=count_rows,
                           default_region=settings.default_loan_region)  # fmt: skip
        app.state.carbon = AppState(settings=settings, registry=loaded, ledger=ledger, jobs=runner)
        runner.resume()
        gc.collect()
        gc.freeze()  # long-lived start-up objects leave the collector's young generations: steadier p99
        try:
            yield
        finally:
            runner.shutdown()
            engine.dispose()

    app = FastAPI(
        title="carbon-ledger",
        version="1",
        summary="Avoided emissions of online lending and green computing, exact and traceable to factors.",
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    for module in (writes, ledger, jobs, factors, green, reports, health):
        app.include_router(module.router)
    app.add_middleware(BodySizeLimit, limit=settings.max_body_bytes, streamed=("/v1/jobs",))
    _document_problems(app)
    return app


def _read_chunks(path: Path, fmt: str) -> Iterator[LoanChunk]:
    """The file reader jobs use."""
    return read_loan_chunks(path, guess_format(path, fmt))


def _document_problems(app: FastAPI) -> None:
    """Add the Problem schema that every documented error response refers to."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
