"""A job whose process dies every time it runs it (killed for memory, say) is not resumed forever: after
CARBON_JOB_MAX_RESUMES takeovers the next start fails it with `job abandoned`, and the server serves on."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from carbon.core.access import Role
from tests.conftest import SHIPPED_FACTORS
from tests.integration.serverproc import ServerProcess
from tests.keys import TEST_SECRET, issue_in_database

ROWS = 300_000

pytestmark = pytest.mark.slow


def _row(database: Path) -> tuple[str, int]:
    with sqlite3.connect(database, timeout=30) as db:
        state, attempts = db.execute("SELECT state, attempts FROM jobs").fetchone()
    return str(state), int(attempts)


def _wait(condition: object, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_job_that_kills_its_process_every_time_ends_failed_not_in_a_crash_loop(tmp_path: Path) -> None:
    data = tmp_path / "data"
    database = data / "ledger.sqlite3"
    url = f"sqlite:///{database}"
    env = {"CARBON_FACTORS_DIR": str(SHIPPED_FACTORS), "CARBON_DATA_DIR": str(data),
           "CARBON_DATABASE_URL": url, "CARBON_KEY_SECRET": TEST_SECRET, "CARBON_JOB_LEASE_SECONDS": "1",
           "CARBON_JOB_MAX_RESUMES": "1"}  # fmt: skip
    key = issue_in_database(url, roles=[Role.SUBMIT])
    rows = "".join(f"K-{n:07d},2021-{1 + n % 12:02d}-{1 + n % 28:02d},online\n" for n in range(ROWS))
    body = ("loan_id,disbursed_on,channel\n" + rows).encode()
    location = ""
    for run in (1, 2):  # the job starts, and its process dies mid-run; twice
        server = ServerProcess(env, tmp_path / f"server-{run}.log", key)
        try:
            server.wait_ready(timeout=60)
            if run == 1:
                with server.client(60) as client:
                    headers = {"Idempotency-Key": "loop", "Content-Type": "text/csv"}
                    response = client.post("/v1/jobs", content=body, headers=headers)
                assert response.status_code == 202, response.text
                location = response.headers["location"]
            _wait(lambda run=run: _row(database) == ("running", run), f"run {run} of the job")
            time.sleep(0.3)
            server.kill()
            assert _row(database) == ("running", run), "the job ended before its process was killed"
        finally:
            server.stop()
    server = ServerProcess(env, tmp_path / "server-3.log", key)
    try:
        server.wait_ready(timeout=60)
        with server.client(10) as client:
            _wait(lambda: client.get(location).json()["state"] == "failed", "the job to be given up", 30)
            job = client.get(location).json()
            assert job["error"]["title"] == "job abandoned"
            assert "stopped 2 times" in job["error"]["detail"]
            assert job["result"] is None
            assert client.get("/v1/ledger/entries").json()["data"] == []
            assert client.get("/readyz").status_code == 200
    except httpx.TransportError as error:
        raise AssertionError(f"the server died: {error}\n{server.tail()}") from error
    finally:
        server.stop()
    assert _row(database) == ("failed", 3)
