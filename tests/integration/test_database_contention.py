"""A tenant's write lock held by someone else (another process, another replica's long job) for longer
than the server lets a write wait: the tenant's writes are answered 503 with Retry-After within the bound,
nothing is recorded by them and their retries succeed afterwards; other tenants' reads (and, on
PostgreSQL, their writes) and /readyz answer meanwhile. No response is a 500.

Twelve batches of the locked tenant at once used to hold ten pooled connections waiting on PostgreSQL, so
after 30 s other tenants and the probe got 500 or "database unreachable"; on SQLite a write waited 30 s for
the write lock and got 500 "database is locked".
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from statistics import median

import httpx
import pytest

from carbon.adapters.sql_store import SqlLedger, create_ledger_engine
from carbon.core.access import Role
from tests.backends import BACKENDS, database_url
from tests.conftest import SHIPPED_FACTORS
from tests.integration.serverproc import ServerProcess
from tests.keys import TEST_SECRET, issue_in_database

pytestmark = pytest.mark.slow
log = logging.getLogger(__name__)

LOCK_WAIT = 2  # seconds the server lets a write wait for its lock
HOLD = 25.0  # seconds the test may hold tenant a's lock: far longer than the wait, so a 503 must come first
WAITERS = 12
LOANS = 50


def _batch(client: httpx.Client, tenant_key: str, name: str) -> httpx.Response:
    loans = [
        {"loan_id": f"{name}-{i}", "disbursed_on": "2021-06-30", "channel": "online"} for i in range(LOANS)
    ]
    headers = {"Idempotency-Key": name, "Authorization": f"Bearer {tenant_key}"}
    return client.post(
        "/v1/loan-batches?unit=mgCO2e", json={"batch_id": name, "loans": loans}, headers=headers
    )


def _job(client: httpx.Client, tenant_key: str) -> httpx.Response:
    """A small job upload (branch loans: it adds nothing to the avoided total)."""
    body = "loan_id,disbursed_on,channel\n" + "".join(f"j-{i},2021-06-30,branch\n" for i in range(LOANS))
    headers = {"Idempotency-Key": "job", "Authorization": f"Bearer {tenant_key}", "Content-Type": "text/csv"}
    return client.post("/v1/jobs", content=body.encode(), headers=headers)


def _job_finished(client: httpx.Client, tenant_key: str, location: str) -> None:
    """Wait for a job's final state, so writes after it do not meet the lock it holds while it runs."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        state = client.get(location, headers={"Authorization": f"Bearer {tenant_key}"}).json()["state"]
        if state in ("succeeded", "failed"):
            return
        time.sleep(0.05)
    raise AssertionError("the admitted job did not end in 120 s")


def _timed(call: object) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = call()  # type: ignore[operator]
    return response, time.perf_counter() - started


def _is_busy(response: httpx.Response) -> bool:
    return (
        response.status_code == 503
        and int(response.headers["Retry-After"]) >= 1
        and response.headers["content-type"].startswith("application/problem+json")
        and response.json()["status"] == 503
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_locked_tenant_is_answered_busy_and_others_and_the_probe_go_on(
    backend: str, tmp_path: Path
) -> None:
    with database_url(backend, tmp_path) as url:
        env = {"CARBON_FACTORS_DIR": str(SHIPPED_FACTORS), "CARBON_DATA_DIR": str(tmp_path / "data"),
               "CARBON_DATABASE_URL": url, "CARBON_KEY_SECRET": TEST_SECRET,
               "CARBON_RATE_LIMIT_PER_SECOND": "0",
               "CARBON_DB_LOCK_WAIT_SECONDS": str(LOCK_WAIT)}  # fmt: skip
        key_a = issue_in_database(url, tenant="a", roles=[Role.SUBMIT, Role.READ])
        key_b = issue_in_database(url, tenant="b", roles=[Role.SUBMIT, Role.READ])
        server = ServerProcess(env, tmp_path / "server.log")
        holder = create_ledger_engine(url)
        try:
            server.wait_ready(timeout=60)
            with server.client(HOLD + 40) as client, ThreadPoolExecutor(WAITERS + 1) as pool:
                assert _batch(client, key_b, "b-warm").status_code == 201
                # tenant a's lock, as a write of another process takes it (on SQLite: the database's)
                with SqlLedger(holder).write("a"):
                    locked_at = time.monotonic()
                    waiting = [pool.submit(_timed, lambda n=n: _batch(client, key_a, f"a{n}"))
                               for n in range(WAITERS)]  # fmt: skip
                    upload = pool.submit(_timed, lambda: _job(client, key_a))
                    time.sleep(0.2)  # the waiters are in the server
                    others = [
                        _timed(lambda: client.get("/v1/totals", headers={"Authorization": f"Bearer {key_b}"}))
                        for _ in range(5)
                    ]
                    probes = [_timed(lambda: client.get("/readyz")) for _ in range(5)]
                    other_write = _timed(lambda: _batch(client, key_b, "b-during"))
                    done, _ = wait(waiting, timeout=max(0.0, HOLD - (time.monotonic() - locked_at)))
                    answered_while_held = len(done)
                answers = [future.result() for future in waiting]
                job = upload.result()
                if job[0].status_code == 202:  # the admitted job runs once the lock is free: let it end first
                    _job_finished(client, key_a, job[0].headers["Location"])
                retries = [_batch(client, key_a, f"a{n}") for n in range(WAITERS)]
                totals = client.get("/v1/totals?book=avoided&unit=mgCO2e",
                                    headers={"Authorization": f"Bearer {key_a}"})  # fmt: skip
            output = server.tail(200_000)
        finally:
            holder.dispose()
            server.stop()

        log.info("%s: locked tenant's writes %.3f s (median), other tenant's reads %.3f s, /readyz %.3f s "
                 "(max %.3f), other tenant's write %.3f s (%d), job upload %.3f s (%d)", backend,
                 median(s for _, s in answers), median(s for _, s in others), median(s for _, s in probes),
                 max(s for _, s in probes), other_write[1], other_write[0].status_code, job[1],
                 job[0].status_code)  # fmt: skip
        assert answered_while_held == WAITERS, "a locked tenant's write waited beyond its bound"
        assert all(_is_busy(r) for r, _ in answers), [(r.status_code, r.text[:200]) for r, _ in answers]
        if backend == "postgres":  # a job's admission takes a lock of its own, not the ledger's
            assert job[0].status_code == 202, job[0].text
        else:  # the upload is stored in the database file: it waits for the write lock, off the event loop
            assert _is_busy(job[0]), job[0].text
        assert [r.status_code for r, _ in others] == [200] * 5
        assert [r.status_code for r, _ in probes] == [200] * 5
        if backend == "postgres":  # tenants write side by side
            assert other_write[0].status_code == 201, other_write[0].text
        else:  # one writer for the whole file: busy too, said so
            assert _is_busy(other_write[0]), other_write[0].text
        assert [r.status_code for r in retries] == [201] * WAITERS, [r.text[:200] for r in retries]
        assert [r.json()["loans_counted"] for r in retries] == [LOANS] * WAITERS
        assert totals.json()["totals"][0]["amount"]["value"] == str(WAITERS * LOANS * 34_800)
        assert '"status": 500' not in output and "Traceback" not in output
