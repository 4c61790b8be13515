"""SIGTERM while writes are in flight: every one of them finishes and is answered, then the server exits 0.

The test holds the tenant's ledger write lock itself (SQLite's BEGIN IMMEDIATE, PostgreSQL's advisory lock)
so that the writes are certainly inside the server, waiting, when SIGTERM arrives; it lets go after
the signal, and the server must still finish them."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from carbon.adapters.sql_store import SqlLedger, create_ledger_engine
from carbon.core.access import Role
from tests.backends import BACKENDS, database_url
from tests.conftest import SHIPPED_FACTORS
from tests.integration.serverproc import ServerProcess
from tests.keys import TEST_SECRET, issue_in_database

pytestmark = pytest.mark.slow
WRITES = 4
LOANS = 1_000


def _in_flight(client: httpx.Client) -> float:
    """Requests the server is running now, the scrape itself included."""
    for family in text_string_to_metric_families(client.get("/metrics").text):
        if family.name == "carbon_http_requests_in_flight":
            return family.samples[0].value
    raise AssertionError("no in-flight gauge at /metrics")


def _batch(client: httpx.Client, n: int) -> httpx.Response:
    loans = [
        {"loan_id": f"g{n}-{i}", "disbursed_on": "2021-06-30", "channel": "online"} for i in range(LOANS)
    ]
    return client.post("/v1/loan-batches", json={"batch_id": f"g{n}", "loans": loans},
                       headers={"Idempotency-Key": f"g{n}"})  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS)
def test_sigterm_finishes_the_writes_in_flight_and_exits_0(backend: str, tmp_path: Path) -> None:
    with database_url(backend, tmp_path) as url:
        env = {"CARBON_FACTORS_DIR": str(SHIPPED_FACTORS), "CARBON_DATA_DIR": str(tmp_path / "data"),
               "CARBON_DATABASE_URL": url, "CARBON_KEY_SECRET": TEST_SECRET}  # fmt: skip
        key = issue_in_database(url, roles=[Role.SUBMIT])
        server = ServerProcess(env, tmp_path / "server.log", key)
        lock = create_ledger_engine(url)
        try:
            server.wait_ready()
            with server.client(60) as client, ThreadPoolExecutor(WRITES) as pool:
                # the tenant's write lock, as every ledger write takes it
                with SqlLedger(lock).write("default"):
                    pending = [pool.submit(_batch, client, n) for n in range(WRITES)]
                    deadline = time.monotonic() + 30
                    while _in_flight(client) < WRITES + 1:  # every write is inside the server, waiting
                        assert time.monotonic() < deadline, server.tail()
                        time.sleep(0.01)
                    server.terminate()
                    time.sleep(0.5)
                    assert server.process.poll() is None, "the server left before its writes were done"
                code = server.process.wait(timeout=30)
                answers = [future.result() for future in pending]
            log = server.tail(100_000)
        finally:
            lock.dispose()
            server.stop()
        assert code == 0, log
        assert [a.status_code for a in answers] == [201] * WRITES, [a.text for a in answers]
        assert [a.json()["loans_counted"] for a in answers] == [LOANS] * WRITES
        assert '"logger": "carbon.access"' in log and "Traceback" not in log

        again = ServerProcess(env, tmp_path / "again.log", key)
        try:
            again.wait_ready()
            with again.client(30) as client:
                entries = client.get("/v1/ledger/entries", params={"limit": 10}).json()["data"]
        finally:
            again.stop()
        assert sorted(e["client_reference"] for e in entries) == [f"g{n}" for n in range(WRITES)]
