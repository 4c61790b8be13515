"""Done when: "the client retries a batch after a dropped connection and the ledger counts it once".

The real server runs as a child process behind a small loopback TCP proxy. The proxy forwards the client's
first loan batch and then drops the client's connection, and the test SIGKILLs the server, in one of two
places: after the server has answered (the batch committed, never acknowledged: what a kill -9 harness
found here) or halfway through the request body (nothing committed). While the client retries with
backoff (its connections are dropped while no server listens), a new server starts on the same
database. The retry must reach it with the same Idempotency-Key and the ledger must count the batch once.
"""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from carbon.client import CarbonClient, RetryPolicy
from carbon.client.types import LoanBatchResult, LoanIn
from carbon.core.access import Role
from tests.backends import BACKENDS, database_url
from tests.conftest import SHIPPED_FACTORS
from tests.integration.serverproc import ServerProcess
from tests.keys import TEST_SECRET, issue_in_database

HOST = "127.0.0.1"
LOANS = 200
MG_PER_LOAN = 34_800  # mybank.online_loan.2021
BUDGET = 30.0
RETRY = RetryPolicy(max_attempts=60, backoff=0.05, max_backoff=0.4, total_timeout=25.0)


def _read_message(sock: socket.socket) -> bytes | None:
    """One HTTP/1.1 message (head and Content-Length body), or None when the peer closed first."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        body += chunk
    return head + b"\r\n\r\n" + body


def _header(message: bytes, name: str) -> str | None:
    for line in message.partition(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name.lower().encode():
            return value.strip().decode()
    return None


class DroppingProxy:
    """Relays HTTP/1.1 requests one by one to `target_port`; drops the first loan batch as `mode` says."""

    def __init__(self, target_port: int, mode: str, kill: ServerProcess) -> None:
        self.target_port = target_port
        self.mode = mode
        self.victim = kill
        self.dropped = threading.Event()
        self.batch_keys: list[str | None] = []  # Idempotency-Key of every batch request that reached us
        self.replayed: list[str | None] = []  # Idempotent-Replayed of every batch answer relayed
        self._lock = threading.Lock()
        self._listener = socket.create_server((HOST, 0))
        self.port: int = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            while (request := _read_message(conn)) is not None:
                if not self._relay(conn, request):
                    return  # closing the client's connection: to it, a dropped connection

    def _relay(self, conn: socket.socket, request: bytes) -> bool:
        is_batch = request.startswith(b"POST /v1/loan-batches")
        with self._lock:
            first = is_batch and not self.dropped.is_set()
            if is_batch:
                self.batch_keys.append(_header(request, "Idempotency-Key"))
            if first:
                self.dropped.set()
        try:
            upstream = socket.create_connection((HOST, self.target_port), timeout=10)
        except OSError:
            return False  # no server: drop the client's connection
        with upstream:
            if first and self.mode == "mid-body":
                upstream.sendall(request[: len(request) - 1000])  # the head and part of the body
                time.sleep(0.2)
                self.victim.kill()
                return False
            upstream.sendall(request)
            response = _read_message(upstream)
            if response is None:
                return False
            if first:  # after-response: committed on the server, never acknowledged to the client
                self.victim.kill()
                return False
            if is_batch:
                self.replayed.append(_header(response, "Idempotent-Replayed"))
            conn.sendall(response)
            return True

    def close(self) -> None:
        self._listener.close()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["after-response", "mid-body"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_batch_retried_after_a_dropped_connection_and_a_killed_server_counts_once(
    backend: str, mode: str, tmp_path: Path
) -> None:
    started = time.monotonic()
    loans: list[LoanIn] = [
        {"loan_id": f"drop-{n:05d}", "disbursed_on": "2021-06-30", "channel": "online"} for n in range(LOANS)
    ]
    with database_url(backend, tmp_path) as url:
        env = {"CARBON_FACTORS_DIR": str(SHIPPED_FACTORS), "CARBON_DATA_DIR": str(tmp_path / "data"),
               "CARBON_DATABASE_URL": url, "CARBON_KEY_SECRET": TEST_SECRET}  # fmt: skip
        api_key = issue_in_database(url, roles=[Role.SUBMIT])
        servers = [ServerProcess(env, tmp_path / "server-1.log")]
        proxy: DroppingProxy | None = None
        try:
            servers[0].wait_ready()
            proxy = DroppingProxy(servers[0].port, mode, servers[0])
            with (
                CarbonClient(
                    f"http://{HOST}:{proxy.port}", api_key=api_key, retry=RETRY, timeout=10.0
                ) as client,
                ThreadPoolExecutor(max_workers=1) as pool,
            ):
                pending = pool.submit(client.record_loan_batch, "dropped-batch", loans, unit="mgCO2e")
                assert proxy.dropped.wait(timeout=10), "the batch never reached the proxy"
                servers[0].process.wait(timeout=10)  # killed by the proxy
                servers.append(ServerProcess(env, tmp_path / "server-2.log"))
                servers[1].wait_ready()
                proxy.target_port = servers[1].port
                result: LoanBatchResult = pending.result(timeout=BUDGET)

                # the same call again under the key the client chose replays; nothing more is counted
                key = proxy.batch_keys[0]
                assert key is not None
                again = client.record_loan_batch("dropped-batch", loans, unit="mgCO2e", idempotency_key=key)
                entries = list(client.iter_entries(page_size=1, unit="mgCO2e"))
                totals = client.totals(book="avoided", unit="mgCO2e")
        finally:
            if proxy is not None:
                proxy.close()
            for server in servers:
                server.stop()

    assert len(proxy.batch_keys) >= 3, "the client did not retry"
    assert set(proxy.batch_keys) == {key}, "every attempt of one logical write carries one key"
    assert result["loans_counted"] == LOANS and result["duplicates"] == []
    assert result["avoided"] == {"value": str(LOANS * MG_PER_LOAN), "unit": "mgCO2e"}
    assert again == result
    # committed before the kill: the retry is a replay; killed mid-body: the retry recorded it
    expected_first_answer = "true" if mode == "after-response" else None
    assert proxy.replayed[0] == expected_first_answer and proxy.replayed[-1] == "true"
    assert [e["entry_id"] for e in entries] == [result["entry_id"]]
    assert entries[0]["client_reference"] == "dropped-batch"
    assert entries[0]["amount"] == {"value": str(LOANS * MG_PER_LOAN), "unit": "mgCO2e"}
    assert totals["totals"] == [
        {"book": "avoided", "amount": {"value": str(LOANS * MG_PER_LOAN), "unit": "mgCO2e"}, "lines": 1}
    ]
    elapsed = time.monotonic() - started
    assert elapsed < BUDGET, f"took {elapsed:.1f} s"
