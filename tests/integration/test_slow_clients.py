"""Hostile clients against a real `carbon serve` on loopback: slow bodies without a key, slow bodies with one,
and a rotated X-Forwarded-For. Bounded: 70 attacking connections for ATTACK_SECONDS at most."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from carbon.core.access import Role
from tests.backends import database_url
from tests.conftest import SHIPPED_FACTORS
from tests.integration.serverproc import HOST, ServerProcess
from tests.keys import TEST_SECRET, issue_in_database

pytestmark = pytest.mark.slow

ATTACKERS = 70  # more than the 64 concurrency slots
TRICKLE_SECONDS = 2.0  # one body byte this often
ATTACK_SECONDS = 12.0  # longer than the 5 s a request waits for a slot before 503
BODY_TIMEOUT = 3.0


@dataclass
class Attack:
    """What one slow connection saw: the status line (if any), after how long, and whether it was closed."""

    status: int | None = None
    answered_after: float | None = None
    closed: bool = False


def _env(tmp_path: Path, url: str, **extra: str) -> dict[str, str]:
    return {"CARBON_FACTORS_DIR": str(SHIPPED_FACTORS), "CARBON_DATA_DIR": str(tmp_path / "data"),
            "CARBON_DATABASE_URL": url, "CARBON_KEY_SECRET": TEST_SECRET, **extra}  # fmt: skip


async def _slow_body(port: int, key: str | None) -> Attack:
    """POST a batch declaring 10,000 bytes and send one byte every TRICKLE_SECONDS until answered or the
    attack ends."""
    seen = Attack()
    reader, writer = await asyncio.open_connection(HOST, port)
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    writer.write(f"POST /v1/loan-batches HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
                 "Content-Type: application/json\r\nContent-Length: 10000\r\n"
                 f"Idempotency-Key: slow\r\n{auth}\r\n".encode())  # fmt: skip
    started = time.monotonic()
    first = asyncio.create_task(reader.readline())
    try:
        while time.monotonic() - started < ATTACK_SECONDS and not first.done():
            try:
                writer.write(b" ")
                await writer.drain()
            except ConnectionError:
                break
            await asyncio.wait([first], timeout=TRICKLE_SECONDS)
        if first.done() and not first.exception() and first.result():
            seen.status = int(first.result().split()[1])
            seen.answered_after = time.monotonic() - started
            seen.closed = await _closed(reader)
    finally:
        first.cancel()
        writer.close()
    return seen


async def _closed(reader: asyncio.StreamReader) -> bool:
    """The server closes the connection after its answer (reads reach the end within 2 s)."""
    try:
        async with asyncio.timeout(2):
            while await reader.read(65536):
                pass
    except TimeoutError:
        return False
    except ConnectionError:
        return True
    return True


async def _keyed_batches(base_url: str, key: str) -> list[tuple[int, float]]:
    """A batch every 0.5 s while the attack runs: each one's status and seconds to answer."""
    results = []
    async with httpx.AsyncClient(base_url=base_url, timeout=30,
                                 headers={"Authorization": f"Bearer {key}"}) as client:  # fmt: skip
        await asyncio.sleep(1.0)  # the attackers are connected and holding whatever they can hold
        n = 0
        end = time.monotonic() + ATTACK_SECONDS - 2
        while time.monotonic() < end:
            n += 1
            loans = [{"loan_id": f"k{n}-{i}", "disbursed_on": "2021-06-30", "channel": "online"}
                     for i in range(100)]  # fmt: skip
            began = time.monotonic()
            answer = await client.post("/v1/loan-batches", json={"batch_id": f"k{n}", "loans": loans},
                                       headers={"Idempotency-Key": f"k{n}"})  # fmt: skip
            results.append((answer.status_code, time.monotonic() - began))
            await asyncio.sleep(0.5)
    return results


async def _attack(
    server: ServerProcess, key: str, slow_key: str
) -> tuple[list[Attack], Attack, list[tuple[int, float]]]:
    """The keyless attackers, one keyed slow body and the keyed batches, all at once."""
    keyless = asyncio.gather(*(_slow_body(server.port, None) for _ in range(ATTACKERS)))
    attacks, keyed_slow, batches = await asyncio.gather(
        keyless, _slow_body(server.port, slow_key), _keyed_batches(server.base_url, key)
    )
    return attacks, keyed_slow, batches


def test_slow_bodies_neither_hold_slots_nor_block_keyed_batches(tmp_path: Path) -> None:
    with database_url("sqlite", tmp_path) as url:
        key = issue_in_database(url, roles=[Role.SUBMIT])
        slow_key = issue_in_database(url, tenant="slow", roles=[Role.SUBMIT])
        env = _env(tmp_path, url, CARBON_BODY_TIMEOUT_SECONDS=str(BODY_TIMEOUT),
                   CARBON_AUTH_FAILURES_PER_MINUTE="1000")  # fmt: skip
        server = ServerProcess(env, tmp_path / "server.log")
        try:
            server.wait_ready()
            attacks, keyed_slow, batches = asyncio.run(_attack(server, key, slow_key))
            log = server.tail()
        finally:
            server.stop()
    # every batch of a valid key was recorded, each within a second, all through the attack
    assert batches and len(batches) >= 10, batches
    assert [status for status, _ in batches] == [201] * len(batches), (batches, log)
    assert max(seconds for _, seconds in batches) < 1.0, batches
    # the keyless connections were refused from their headers, at once, and closed
    assert [a.status for a in attacks] == [401] * ATTACKERS, attacks
    assert max(a.answered_after or 99 for a in attacks) < 2.0, attacks
    assert all(a.closed for a in attacks), attacks
    # a key does not buy time: its body had BODY_TIMEOUT seconds to arrive, then 408 and a closed connection
    assert keyed_slow.status == 408, keyed_slow
    assert keyed_slow.answered_after is not None
    assert BODY_TIMEOUT <= keyed_slow.answered_after < 2 * BODY_TIMEOUT
    assert keyed_slow.closed


def test_a_rotated_forwarded_for_from_an_untrusted_peer_changes_nothing(tmp_path: Path) -> None:
    with database_url("sqlite", tmp_path) as url:
        env = _env(tmp_path, url, CARBON_AUTH_FAILURES_PER_MINUTE="3")
        server = ServerProcess(env, tmp_path / "server.log")
        try:
            server.wait_ready()
            with server.client(10) as client:
                claimed = [{"X-Forwarded-For": f"203.0.113.{n}"} for n in range(1, 7)]
                statuses = [client.get("/v1/totals", headers=headers).status_code for headers in claimed]
        finally:
            server.stop()
    # one bucket for the real peer (loopback): three 401s, then 429 whatever address the header claims
    assert statuses == [401, 401, 401, 429, 429, 429]
