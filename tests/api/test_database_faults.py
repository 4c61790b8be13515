"""A database that cannot take writes: /readyz says so (it means "can write"), and writes are answered with a
problem that says what is wrong, never a bare 500. A full disk is 507, a read-only database 503 with
Retry-After; nothing is recorded."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from carbon.adapters.migrate import upgrade
from carbon.adapters.sql_store import SqlLedger, create_ledger_engine
from carbon.api import create_app
from carbon.settings import Settings
from tests.backends import database_url
from tests.conftest import SHIPPED_FACTORS
from tests.keys import authorize

PROBLEM = "application/problem+json"


def _batch(client: TestClient, name: str, loans: int = 500) -> Any:
    body = {"batch_id": name, "loans": [{"loan_id": f"{name}-{i}", "disbursed_on": "2021-06-30",
                                         "channel": "online"} for i in range(loans)]}  # fmt: skip
    return client.post("/v1/loan-batches", json=body, headers={"Idempotency-Key": name})


def _settings(tmp_path: Path, url: str, **extra: Any) -> Settings:
    return Settings(factors_dir=SHIPPED_FACTORS, data_dir=tmp_path, database_url=url, **extra)


def _entries(client: TestClient) -> int:
    return len(client.get("/v1/ledger/entries").json()["data"])


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    with database_url("sqlite", tmp_path) as url:
        yield url


def test_sqlite_disk_full_is_507_and_nothing_is_recorded(tmp_path: Path, sqlite_url: str) -> None:
    with TestClient(create_app(_settings(tmp_path, sqlite_url)), raise_server_exceptions=False) as client:
        authorize(client)
        assert _batch(client, "fits", loans=10).status_code == 201
        engine = client.app.state.carbon.ledger.engine  # type: ignore[attr-defined]
        with engine.connect() as connection:
            pages = connection.exec_driver_sql("PRAGMA page_count").scalar_one()

        def no_more_pages(dbapi_connection: sqlite3.Connection, _record: object) -> None:
            dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own "disk is full"

        engine.dispose()
        event.listen(engine, "connect", no_more_pages)
        answer = _batch(client, "too-big", loans=2_000)
        assert answer.status_code == 507, answer.text
        assert answer.headers["content-type"].startswith(PROBLEM)
        assert "disk is full" in answer.json()["detail"]
        event.remove(engine, "connect", no_more_pages)
        engine.dispose()
        assert _entries(client) == 1
        assert _batch(client, "too-big", loans=2_000).status_code == 201  # space again: the retry works


def test_readyz_is_503_when_the_disk_is_nearly_full(tmp_path: Path, sqlite_url: str) -> None:
    beyond = shutil.disk_usage(tmp_path).free + 1024**4  # more free space than this disk can have
    settings = _settings(tmp_path, sqlite_url, ready_min_free_disk_bytes=beyond)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.headers["content-type"].startswith(PROBLEM)
    assert int(answer.headers["Retry-After"]) >= 1
    assert "disk full" in answer.json()["detail"]


def _read_only_twin(tmp_path: Path, url: str) -> Iterator[TestClient]:
    """Migrate and issue a key through a writable app, then serve the same ledger read-only."""
    with TestClient(create_app(_settings(tmp_path, url)), raise_server_exceptions=False) as writable:
        key_header = {"Authorization": f"Bearer {authorize(writable)}"}
        assert _batch(writable, "before", loans=5).status_code == 201
    if url.startswith("sqlite"):
        read_only = f"sqlite:///file:{quote(url.removeprefix('sqlite:///'))}?mode=ro&uri=true"
    else:
        read_only = f"{url}{quote(' -cdefault_transaction_read_only=on')}"
    with TestClient(create_app(_settings(tmp_path, read_only)), raise_server_exceptions=False) as client:
        client.headers.update(key_header)
        yield client


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_read_only_database_is_not_ready_and_writes_are_503(backend: str, tmp_path: Path) -> None:
    with database_url(backend, tmp_path) as url:
        for client in _read_only_twin(tmp_path, url):
            ready = client.get("/readyz")
            assert ready.status_code == 503, ready.text
            assert "read-only" in ready.json()["detail"]
            assert int(ready.headers["Retry-After"]) >= 1
            answer = _batch(client, "after", loans=5)
            assert answer.status_code == 503, answer.text
            assert answer.headers["content-type"].startswith(PROBLEM)
            assert int(answer.headers["Retry-After"]) >= 1
            assert "read-only" in answer.json()["detail"]
            assert client.get("/healthz").status_code == 200
            assert _entries(client) == 1


def test_a_job_s_long_lock_wait_does_not_stay_with_the_pooled_connection(sqlite_url: str) -> None:
    engine = create_ledger_engine(sqlite_url, lock_wait=1.5)
    try:
        upgrade(engine)
        job_ledger = SqlLedger(engine, lock_wait=1.5).waiting(3600)  # as the job runner's
        with job_ledger.write("a"):
            pass
        with engine.connect() as connection:  # the same pooled connection, for the next request
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == 1500
    finally:
        engine.dispose()
