"""Crash safety: SIGKILL the real server while clients stream loan batches, restart it, and check the ledger.

What a kill may do to a write: lose it (never committed, never acknowledged), or keep it without the
client hearing back (committed, never acknowledged). What it must never do: lose or change a write that
was acknowledged, leave part of one (an entry without all its lines, a key without its entry or the
reverse), or let a retry under the same key count its loans again. The checks:

1. after the last restart, every acknowledged batch is in the ledger as acknowledged, every entry is
   whole (each line = its loans x the oracle's price of its factor, lines add up), the avoided total is
   the sum of the entries;
2. resending every batch under its original key and body replays the first response of each
   acknowledged one byte for byte; an unacknowledged one either replays an entry that was already there
   (committed before the kill) or is recorded now;
3. then the avoided total is exactly what the independent oracle (tests/oracle.py) gives the distinct
   loan ids ever sent (each with its own day and province, priced under the varied test release), each
   loan id is counted by exactly one batch, and resending everything again changes nothing.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from carbon.core.access import Role
from tests.backends import BACKENDS, database_url
from tests.integration.serverproc import ServerProcess
from tests.keys import TEST_SECRET, issue_in_database
from tests.oracle import EDGE_DAYS, REGIONS, VARIED_FACTORS, Oracle

log = logging.getLogger(__name__)

ORACLE = Oracle()
WRITE_PATH = "/v1/loan-batches?unit=mgCO2e"  # the query is part of what the key protects: never vary it
KILLS = 5
WORKERS = 3
MAX_BATCHES = 1_500
KILL_AFTER = (0.25, 1.0)  # seconds of streaming before each SIGKILL
REQUEST_TIMEOUT = 10.0


@dataclass
class Batch:
    """One logical write: its key and exact body never change; `ack` is the 201 seen while streaming."""

    batch_id: str
    key: str
    loan_ids: list[str]
    body: bytes
    ack: bytes | None = None

    @property
    def ack_json(self) -> dict[str, Any]:
        assert self.ack is not None
        return _json(self.ack)


def _json(content: bytes) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(content)
    return data


def _where(loan_id: str) -> tuple[str, str]:
    """A loan's day and region, fixed by its id: a reused id comes back on the same day, in the same place."""
    n = int(loan_id.rsplit("-", 1)[1])
    return EDGE_DAYS[n % len(EDGE_DAYS)], REGIONS[(n // len(EDGE_DAYS)) % len(REGIONS)] or "CN"


@functools.cache
def _price(loan_id: str) -> int:
    """The oracle's milligrams for one online loan, under the current varied release."""
    day, region = _where(loan_id)
    return ORACLE.mg(1, "loan", ORACLE.factor("online_loan", region, date.fromisoformat(day)))


def _body(batch_id: str, loan_ids: list[str]) -> bytes:
    loans = ",".join(
        '{{"loan_id":"{}","disbursed_on":"{}","region":"{}","channel":"online"}}'.format(i, *_where(i))
        for i in loan_ids
    )
    return f'{{"batch_id":"{batch_id}","loans":[{loans}]}}'.encode()


class BatchSource:
    """Hands out new batches (thread-safe, at most MAX_BATCHES); about a third reuse earlier loan ids."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._lock = threading.Lock()
        self._next_loan = 0
        self.seen: list[str] = []
        self.batches: list[Batch] = []

    def next(self) -> Batch | None:
        with self._lock:
            if len(self.batches) >= MAX_BATCHES:
                return None
            size = self._rng.randint(50, 200)
            reused: list[str] = []
            if self.seen and self._rng.random() < 0.35:
                reused = self._rng.sample(self.seen, self._rng.randint(1, min(40, len(self.seen))))
            fresh = [f"crash-{self._next_loan + n:07d}" for n in range(size - len(reused))]
            self._next_loan += len(fresh)
            self.seen.extend(fresh)
            loan_ids = reused + fresh
            self._rng.shuffle(loan_ids)
            batch_id = f"batch-{len(self.batches):05d}"
            batch = Batch(batch_id, f"crash-{uuid.uuid4().hex}", loan_ids, _body(batch_id, loan_ids))
            self.batches.append(batch)
            return batch


def _post(client: httpx.Client, batch: Batch) -> httpx.Response:
    headers = {"Idempotency-Key": batch.key, "Content-Type": "application/json"}
    return client.post(WRITE_PATH, content=batch.body, headers=headers)


def _stream(server: ServerProcess, source: BatchSource, stop: threading.Event) -> None:
    """Send new batches one after another until stopped; a connection error means 'not acknowledged'."""
    with server.client(REQUEST_TIMEOUT) as client:
        while not stop.is_set():
            batch = source.next()
            if batch is None:
                return
            try:
                response = _post(client, batch)
            except httpx.TransportError:
                return  # the server is gone: this batch is unacknowledged
            assert response.status_code == 201, (batch.batch_id, response.status_code, response.text)
            assert "Idempotent-Replayed" not in response.headers, batch.batch_id
            batch.ack = response.content
            _check_ack(batch)


def _check_ack(batch: Batch) -> None:
    data = batch.ack_json
    assert data["batch_id"] == batch.batch_id and data["entry_id"], data
    assert data["loans_received"] == len(batch.loan_ids)
    assert data["loans_counted"] + len(data["duplicates"]) == len(batch.loan_ids), data
    assert set(data["duplicates"]) <= set(batch.loan_ids), batch.batch_id
    counted = set(batch.loan_ids) - set(data["duplicates"])
    assert data["avoided"] == {"value": str(sum(map(_price, counted))), "unit": "mgCO2e"}, data


def _stream_then_kill(server: ServerProcess, source: BatchSource, rng: random.Random) -> int:
    """Stream with WORKERS clients, SIGKILL the server at a random moment; the batches it left unanswered."""
    before = len(source.batches)
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = [pool.submit(_stream, server, source, stop) for _ in range(WORKERS)]
        try:
            time.sleep(rng.uniform(*KILL_AFTER))
            server.kill()
        finally:
            stop.set()
        for future in futures:
            future.result(timeout=REQUEST_TIMEOUT + 5)
    return sum(1 for b in source.batches[before:] if b.ack is None)


# --- reading the ledger back ----------------------------------------------------------------------------


def _entries(client: httpx.Client) -> dict[str, dict[str, Any]]:
    """Every ledger entry in mg, by id, in recorded order (pages of 500, bounded)."""
    found: dict[str, dict[str, Any]] = {}
    params: dict[str, str | int] = {"limit": 500, "unit": "mgCO2e"}
    for _ in range(MAX_BATCHES // 500 + 2):
        response = client.get("/v1/ledger/entries", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        found.update((e["entry_id"], e) for e in page["data"])
        if not page["has_more"]:
            return found
        params["starting_after"] = page["data"][-1]["entry_id"]
    raise AssertionError("more ledger pages than batches sent")


def _avoided_total(client: httpx.Client) -> tuple[int, int]:
    response = client.get("/v1/totals", params={"book": "avoided", "unit": "mgCO2e"})
    assert response.status_code == 200, response.text
    (row,) = response.json()["totals"]
    assert row["book"] == "avoided" and row["amount"]["unit"] == "mgCO2e", row
    return int(row["amount"]["value"]), int(row["lines"])


def _counted(entry: dict[str, Any]) -> int:
    """Loans an entry counted, checking it is whole: each line is its loans x the oracle's price."""
    assert entry["kind"] == "loan_batch" and entry["book"] == "avoided", entry["entry_id"]
    assert entry["reverses"] is None, entry["entry_id"]
    loans = amount = 0
    for line in entry["lines"]:
        quantity = int(line["quantity"]["value"])
        assert line["activity"] == "online_loan" and line["quantity"]["unit"] == "loan", line
        assert line["factor"]["release"] == ORACLE.current, line
        [factor] = [f for f in ORACLE.factors[ORACLE.current] if f.id == line["factor"]["id"]]
        assert factor.valid_on(date.fromisoformat(line["activity_date"])), line
        assert int(line["amount"]["value"]) == quantity * ORACLE.mg(1, "loan", factor), (
            entry["entry_id"],
            line,
        )
        loans += quantity
        amount += int(line["amount"]["value"])
    assert int(entry["amount"]["value"]) == amount, (entry["entry_id"], amount, entry["amount"])
    return loans


def _check_whole(client: httpx.Client, batches: list[Batch]) -> dict[str, dict[str, Any]]:
    """Nothing half-written, every acknowledged batch present as acknowledged; the entries, by id."""
    entries = _entries(client)
    total, lines = _avoided_total(client)
    assert total == sum(int(e["amount"]["value"]) for e in entries.values())
    assert lines == sum(len(e["lines"]) for e in entries.values())
    counted = {entry_id: _counted(entry) for entry_id, entry in entries.items()}
    references = [e["client_reference"] for e in entries.values()]
    assert len(references) == len(set(references)), "a batch was recorded twice"
    assert set(references) <= {b.batch_id for b in batches}, "an entry of no batch"
    for batch in batches:
        if batch.ack is None:
            continue
        ack = batch.ack_json
        entry = entries.get(ack["entry_id"])
        assert entry is not None, f"acknowledged {batch.batch_id} ({ack['entry_id']}) is not in the ledger"
        assert entry["client_reference"] == batch.batch_id
        assert counted[ack["entry_id"]] == ack["loans_counted"], batch.batch_id
        assert entry["amount"] == ack["avoided"], batch.batch_id
    return entries


# --- resending ------------------------------------------------------------------------------------------


@dataclass
class Resend:
    responses: dict[str, bytes] = field(default_factory=dict)
    replayed: set[str] = field(default_factory=set)


def _resend_all(client: httpx.Client, batches: list[Batch]) -> Resend:
    result = Resend()
    for batch in batches:
        response = _post(client, batch)
        assert response.status_code == 201, (batch.batch_id, response.status_code, response.text)
        result.responses[batch.batch_id] = response.content
        if response.headers.get("Idempotent-Replayed") == "true":
            result.replayed.add(batch.batch_id)
    return result


def _check_first_resend(batches: list[Batch], before: dict[str, dict[str, Any]], resend: Resend) -> int:
    """Acknowledged batches replay exactly; unacknowledged ones replay an old entry or make a new one.

    Returns how many unacknowledged batches had committed before the kill."""
    committed_unacked = 0
    for batch in batches:
        content = resend.responses[batch.batch_id]
        entry_id = _json(content)["entry_id"]
        if batch.ack is not None:
            assert batch.batch_id in resend.replayed, f"acknowledged {batch.batch_id} was recorded again"
            assert content == batch.ack, f"{batch.batch_id} replayed something else than its first answer"
        elif batch.batch_id in resend.replayed:
            assert entry_id in before, f"{batch.batch_id} replayed {entry_id}, which was not in the ledger"
            committed_unacked += 1
        else:
            assert entry_id not in before, f"{batch.batch_id} was recorded again as {entry_id}"
    return committed_unacked


def _check_exact(client: httpx.Client, batches: list[Batch], resend: Resend) -> None:
    """Each distinct loan id counted by exactly one batch; the total is the oracle's price of each, once."""
    distinct = {loan_id for b in batches for loan_id in b.loan_ids}
    counted_by: dict[str, str] = {}
    for batch in batches:
        data = _json(resend.responses[batch.batch_id])
        for loan_id in set(batch.loan_ids) - set(data["duplicates"]):
            assert loan_id not in counted_by, (
                f"{loan_id} counted by {counted_by[loan_id]} and {batch.batch_id}"
            )
            counted_by[loan_id] = batch.batch_id
    assert set(counted_by) == distinct
    entries = _check_whole(client, batches)
    final_ids = {_json(c)["entry_id"] for c in resend.responses.values()}
    assert set(entries) == final_ids, "an entry that no batch answers with, or a batch answered twice"
    assert _avoided_total(client)[0] == sum(map(_price, distinct))


def _verify_after_last_restart(client: httpx.Client, batches: list[Batch]) -> tuple[int, int]:
    """All the checks; returns (committed but never acknowledged, duplicates reported)."""
    before = _check_whole(client, batches)
    first = _resend_all(client, batches)
    committed_unacked = _check_first_resend(batches, before, first)
    _check_exact(client, batches, first)
    total = _avoided_total(client)
    second = _resend_all(client, batches)
    assert second.replayed == {b.batch_id for b in batches}, "the second resend recorded something again"
    assert second.responses == first.responses, "the second resend answered differently"
    assert _avoided_total(client) == total
    assert len(_entries(client)) == len(before) + len(set(first.responses) - first.replayed)
    duplicates = sum(len(_json(c)["duplicates"]) for c in first.responses.values())
    return committed_unacked, duplicates


# --- the test ---------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_sigkill_while_streaming_loses_no_acknowledged_write_and_counts_nothing_twice(
    backend: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="httpx")  # not one line per request in a failure report
    caplog.set_level(logging.INFO, logger=__name__)
    started = time.monotonic()
    seed = int(os.environ.get("CARBON_TEST_CRASH_SEED") or random.randrange(2**32))
    log.info("crash safety %s: seed %d (set CARBON_TEST_CRASH_SEED to reuse the batches)", backend, seed)
    rng = random.Random(seed)
    source = BatchSource(rng)
    starts = 0
    with database_url(backend, tmp_path) as url:
        env = {
            "CARBON_FACTORS_DIR": str(VARIED_FACTORS),
            "CARBON_DATA_DIR": str(tmp_path / "data"),
            "CARBON_DATABASE_URL": url,
            "CARBON_KEY_SECRET": TEST_SECRET,
            "CARBON_RATE_LIMIT_PER_SECOND": "0",  # as fast as the writers go: limits are not under test here
        }
        api_key = issue_in_database(url, roles=[Role.SUBMIT])

        def start() -> ServerProcess:
            nonlocal starts
            starts += 1
            server = ServerProcess(env, tmp_path / f"server-{starts}.log", api_key)
            try:
                server.wait_ready()
            except BaseException:
                server.stop()
                raise
            return server

        unanswered = []
        for _ in range(KILLS):
            server = start()
            try:
                unanswered.append(_stream_then_kill(server, source, rng))
            finally:
                server.stop()

        server = start()
        try:
            with server.client(REQUEST_TIMEOUT) as client:
                committed_unacked, duplicates = _verify_after_last_restart(client, source.batches)
        finally:
            server.stop()

    batches = source.batches
    elapsed = time.monotonic() - started
    acked = sum(1 for b in batches if b.ack is not None)
    log.info(
        "crash safety %s: seed %d, %d kills, %d batches (%d acknowledged), unanswered per kill %s, "
        "%d committed but never acknowledged, %d distinct loans, %.1f s",
        backend, seed, KILLS, len(batches), acked, unanswered, committed_unacked,
        len({i for b in batches for i in b.loan_ids}), elapsed,
    )  # fmt: skip
    assert sum(unanswered) > 0, "no kill caught a request in flight"
    assert duplicates > 0, "no batch repeated a loan id"
