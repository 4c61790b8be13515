"""Two replicas on one PostgreSQL database, eight clients sending overlapping loan batches to both, a bulk
job uploaded to one; the replica running the job is killed with SIGKILL mid-job and restarted.

Then: every distinct online loan, sent by a batch or in the job's file, is counted exactly once (the
ledger's total equals an independent count of loan ids x 34,800 mg); the job ends `succeeded` exactly
once, with one ledger entry, its result and no error; no response was a 500, and every 503 said when to
come back (Retry-After).
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, create_engine, text

from carbon.core.access import Role
from tests.backends import database_url
from tests.conftest import SHIPPED_FACTORS
from tests.integration.serverproc import ServerProcess
from tests.keys import TEST_SECRET, issue_in_database

log = logging.getLogger(__name__)

MG_PER_LOAN = 34_800  # mybank.online_loan.2021: every loan here is online and disbursed in 2021
CLIENTS = 8
JOB_ROWS = 300_000
BATCH = 100
POOL = 4_000  # batch loan ids are drawn from B-0..B-3999 and from the job's first rows: they overlap
LEASE = "2"
BUDGET = 90.0
WRITE_PATH = "/v1/loan-batches?unit=mgCO2e"

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


class Replicas:
    """The two servers; a restarted one takes its old place (on a new port)."""

    def __init__(self, url: str, key: str, tmp_path: Path) -> None:
        self._tmp = tmp_path
        self.key = key
        self._starts = 0
        self.env = {"CARBON_FACTORS_DIR": str(SHIPPED_FACTORS), "CARBON_DATABASE_URL": url,
                    "CARBON_KEY_SECRET": TEST_SECRET, "CARBON_RATE_LIMIT_PER_SECOND": "0",
                    "CARBON_JOB_LEASE_SECONDS": LEASE}  # fmt: skip
        self.servers = [self._spawn(0), self._spawn(1)]
        for server in self.servers:
            server.wait_ready(timeout=60)

    def _spawn(self, index: int) -> ServerProcess:
        self._starts += 1
        env = {**self.env, "CARBON_DATA_DIR": str(self._tmp / f"replica-{index}")}
        return ServerProcess(env, self._tmp / f"replica-{index}-{self._starts}.log", self.key)

    def restart(self, index: int) -> None:
        self.servers[index].kill()
        self.servers[index].stop()
        fresh = self._spawn(index)
        fresh.wait_ready(timeout=60)
        self.servers[index] = fresh

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


class Traffic:
    """What the clients saw, and every loan id a batch of theirs got acknowledged."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.statuses: Counter[int] = Counter()
        self.without_retry_after: list[int] = []
        self.acknowledged: set[str] = set()
        self.batches = 0

    def saw(self, response: httpx.Response) -> None:
        with self.lock:
            self.statuses[response.status_code] += 1
            if response.status_code == 503 and "retry-after" not in response.headers:
                self.without_retry_after.append(response.status_code)


def _body(batch_id: str, loan_ids: list[str]) -> bytes:
    loans = [{"loan_id": i, "disbursed_on": "2021-06-30", "channel": "online"} for i in loan_ids]
    return json.dumps({"batch_id": batch_id, "loans": loans}).encode()


def _send(replicas: Replicas, first: int, key: str, body: bytes, traffic: Traffic) -> None:
    """One batch until it is acknowledged, on either replica, always with its key and body."""
    headers = {
        "Idempotency-Key": key,
        "Content-Type": "application/json",
        **replicas.servers[0].headers,
    }
    attempt = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        server = replicas.servers[(first + attempt) % 2]
        attempt += 1
        try:
            response = httpx.post(server.base_url + WRITE_PATH, content=body, headers=headers, timeout=30)
        except httpx.TransportError:
            time.sleep(0.05)  # that replica is down (or restarting): the other one will do
            continue
        traffic.saw(response)
        if response.status_code == 201:
            return
        assert response.status_code in (409, 429, 503, 504), (response.status_code, response.text)
        time.sleep(min(float(response.headers.get("retry-after", "1")), 1.0))
    raise AssertionError(f"batch {key} not acknowledged within 60 s")


def _client(replicas: Replicas, number: int, stop: threading.Event, traffic: Traffic) -> None:
    rng = random.Random(number)
    while not stop.is_set():
        ids = {f"B-{rng.randrange(POOL)}" for _ in range(BATCH // 2)}
        ids |= {f"J-{rng.randrange(POOL):07d}" for _ in range(BATCH // 2)}  # also in the job's file
        batch_id = f"c{number}-{uuid.uuid4().hex[:8]}"
        loan_ids = sorted(ids)
        _send(replicas, number, f"chaos-{batch_id}", _body(batch_id, loan_ids), traffic)
        with traffic.lock:
            traffic.acknowledged.update(loan_ids)
            traffic.batches += 1


def _job_file() -> bytes:
    rows = [f"J-{n:07d},2021-{1 + n % 12:02d}-{1 + n % 28:02d},online\n" for n in range(JOB_ROWS)]
    return ("loan_id,disbursed_on,channel\n" + "".join(rows)).encode()


def _job_row(engine: Engine, job_id: str) -> dict[str, Any]:
    with engine.connect() as connection:
        row = connection.execute(text("SELECT * FROM jobs WHERE job_id = :j"), {"j": job_id}).mappings().one()
    return dict(row)


def _wait(condition: Any, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def schema_url(tmp_path: Path) -> Iterator[str]:
    with database_url("postgres", tmp_path) as url:
        yield url


def test_two_replicas_a_killed_job_runner_and_eight_clients_count_every_loan_once(
    schema_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="httpx")
    started = time.monotonic()
    engine = create_engine(schema_url)
    replicas = Replicas(schema_url, issue_in_database(schema_url, roles=[Role.SUBMIT]), tmp_path)
    traffic, stop = Traffic(), threading.Event()
    try:
        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            clients = [pool.submit(_client, replicas, n, stop, traffic) for n in range(CLIENTS)]
            try:
                uploaded = httpx.post(
                    replicas.servers[0].base_url + "/v1/jobs", content=_job_file(), timeout=60,
                    headers={"Idempotency-Key": "chaos-job", "Content-Type": "text/csv",
                             **replicas.servers[0].headers},
                )  # fmt: skip
                assert uploaded.status_code == 202, uploaded.text
                job_id = uploaded.json()["job_id"]
                _wait(lambda: _job_row(engine, job_id)["state"] == "running", "the job to start", 30)
                time.sleep(0.5)  # mid-job
                runner = _job_row(engine, job_id)["owner"]
                victim = next(i for i, s in enumerate(replicas.servers) if f":{s.pid}:" in runner)
                replicas.servers[victim].kill()
                at_kill = _job_row(engine, job_id)
                assert (at_kill["state"], at_kill["attempts"]) == ("running", 1), (
                    "the job ended before the kill"
                )
                replicas.restart(victim)
                _wait(
                    lambda: _job_row(engine, job_id)["state"] in ("succeeded", "failed"), "the job to end", 60
                )
                time.sleep(0.5)  # a little more traffic to both, the restarted one included
            finally:
                stop.set()
            for future in clients:
                future.result(timeout=90)
        with httpx.Client(
            base_url=replicas.servers[victim].base_url, headers=replicas.servers[0].headers
        ) as c:
            job = c.get(f"/v1/jobs/{job_id}").json()
            total = c.get("/v1/totals", params={"book": "avoided", "unit": "mgCO2e"}).json()["totals"]
    finally:
        replicas.stop()
    row = _job_row(engine, job_id)
    with engine.connect() as connection:
        job_entries = connection.execute(
            text("SELECT entry_id, mg FROM entries WHERE kind = 'loan_file' AND tenant = 'default'")
        ).all()
        claims, distinct = connection.execute(
            text("SELECT count(*), count(DISTINCT loan_id) FROM loan_claims WHERE tenant = 'default'")
        ).one()
    engine.dispose()

    expected = traffic.acknowledged | {f"J-{n:07d}" for n in range(JOB_ROWS)}
    elapsed = time.monotonic() - started
    log.info("chaos: %d batches, statuses %s, job attempts %s, %d distinct loans, %.1f s",
             traffic.batches, dict(traffic.statuses), row["attempts"], len(expected), elapsed)  # fmt: skip
    assert traffic.statuses[500] == 0, traffic.statuses
    assert traffic.without_retry_after == [], "a 503 without Retry-After"
    assert (job["state"], job["error"], row["error"]) == ("succeeded", None, None), job
    assert row["attempts"] >= 2, "the job was not taken over after the kill"
    assert len(job_entries) == 1, "the job was recorded more than once"
    assert job["result"]["entry_id"] == job_entries[0].entry_id
    assert (job["rows_total"], job["rows_processed"]) == (JOB_ROWS, JOB_ROWS)
    assert job["result"]["loans_counted"] + job["result"]["duplicates_in_ledger"] == JOB_ROWS
    assert claims == distinct == len(expected), "a loan was counted twice, or not at all"
    (avoided,) = total
    assert avoided["amount"] == {"value": str(len(expected) * MG_PER_LOAN), "unit": "mgCO2e"}, avoided
    assert traffic.batches >= CLIENTS
    assert elapsed < BUDGET, f"took {elapsed:.1f} s"
