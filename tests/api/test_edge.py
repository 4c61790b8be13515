"""The HTTP edge: what is refused from the headers alone (no key, a host not served), how long a body may
take to arrive, and that no answer takes its host from the request."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.types import Message

from carbon.api import create_app
from carbon.settings import Settings
from tests.keys import authorize

PROBLEM = "application/problem+json"
Receive = Callable[[], Awaitable[Message]]


@pytest.fixture
def started(settings: Settings) -> Iterator[Callable[..., TestClient]]:
    """Start apps with some settings changed; each is stopped at the end of the test."""
    clients: list[TestClient] = []

    def start(**changes: Any) -> TestClient:
        client = TestClient(create_app(settings.model_copy(update=changes)), raise_server_exceptions=False)
        clients.append(client.__enter__())
        return client

    yield start
    for client in clients:
        client.__exit__(None, None, None)


def _scope(method: str, path: str, headers: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(name.lower().encode(), value.encode()) for name, value in headers.items()],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000), "state": {},
    }  # fmt: skip


def _call(app: FastAPI, path: str, headers: dict[str, str], receive: Receive) -> tuple[int, dict[str, str]]:
    """One POST straight through the ASGI app (a client whose body may never come); its status and headers.
    Bounded: an app still waiting after 5 s fails the test."""
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def call() -> None:
        async with asyncio.timeout(5):
            await app(_scope("POST", path, headers), receive, send)

    asyncio.run(call())
    start = next(message for message in sent if message["type"] == "http.response.start")
    return start["status"], {k.decode().lower(): v.decode() for k, v in start["headers"]}


async def _never() -> Message:
    """A client that sent its headers and then nothing."""
    await asyncio.sleep(3600)
    raise AssertionError("unreachable")


BATCH_HEADERS = {"Content-Type": "application/json", "Content-Length": "10000", "Idempotency-Key": "k-1"}


# --- refused from the headers, before a slot or a body ---------------------------------------------------


def test_a_request_without_a_key_is_refused_before_its_body_is_read(client: TestClient) -> None:
    reads = 0

    async def receive() -> Message:
        nonlocal reads
        reads += 1
        return await _never()

    status, headers = _call(client.app, "/v1/loan-batches", BATCH_HEADERS, receive)  # type: ignore[arg-type]
    assert status == 401
    assert headers["content-type"] == PROBLEM
    assert headers["www-authenticate"] == 'Bearer realm="carbon"'
    assert headers["connection"] == "close"
    assert reads == 0


def test_a_bad_key_is_refused_before_its_body_is_read(client: TestClient) -> None:
    headers = {**BATCH_HEADERS, "Authorization": "Bearer cbk_00000000_" + "A" * 43}
    status, answered = _call(client.app, "/v1/loan-batches", headers, _never)  # type: ignore[arg-type]
    assert status == 401
    assert 'error="invalid_token"' in answered["www-authenticate"]


def test_requests_without_a_key_take_no_concurrency_slot(started: Callable[..., TestClient]) -> None:
    client = started(max_concurrent_requests=1, queue_wait_seconds=0)
    key = authorize(client)
    # one keyed request holds the only slot while its body trickles in; keyless ones are still refused 401
    # at once rather than 503, and the keyed body, once complete, is answered
    release = asyncio.Event()

    async def main() -> tuple[list[int], int]:
        app: Any = client.app
        loan = b'{"loan_id": "L-1", "disbursed_on": "2021-06-30", "channel": "online"}'
        body = b'{"batch_id": "b", "loans": [' + loan + b"]}"
        parts = iter([{"type": "http.request", "body": body[:10], "more_body": True},
                      {"type": "http.request", "body": body[10:], "more_body": False}])  # fmt: skip

        async def slow() -> Message:
            message = next(parts)
            if not message["more_body"]:
                await release.wait()
            return message

        sent: list[Message] = []

        async def send(message: Message) -> None:
            sent.append(message)

        keyed = {**BATCH_HEADERS, "Content-Length": str(len(body)), "Authorization": f"Bearer {key}"}
        slow_call = asyncio.create_task(app(_scope("POST", "/v1/loan-batches", keyed), slow, send))
        await asyncio.sleep(0.2)
        statuses = []
        for _ in range(5):
            keyless: list[Message] = []

            async def collect(message: Message, into: list[Message] = keyless) -> None:
                into.append(message)

            async with asyncio.timeout(5):
                await app(_scope("POST", "/v1/loan-batches", BATCH_HEADERS), _never, collect)
            statuses.append(keyless[0]["status"])
        release.set()
        async with asyncio.timeout(10):
            await slow_call
        return statuses, sent[0]["status"]

    keyless_statuses, keyed_status = asyncio.run(main())
    assert keyless_statuses == [401] * 5
    assert keyed_status == 201


# --- the body deadline -----------------------------------------------------------------------------------


def test_a_body_that_does_not_arrive_in_time_gets_408_and_the_connection_closes(
    started: Callable[..., TestClient],
) -> None:
    client = started(body_timeout_seconds=0.3, request_timeout_seconds=60)
    key = authorize(client)
    pieces = iter([{"type": "http.request", "body": b'{"batch_id": ', "more_body": True}])

    async def trickle() -> Message:
        message = next(pieces, None)
        return message if message is not None else await _never()

    headers = {**BATCH_HEADERS, "Authorization": f"Bearer {key}"}
    status, answered = _call(client.app, "/v1/loan-batches", headers, trickle)  # type: ignore[arg-type]
    assert status == 408
    assert answered["content-type"] == PROBLEM
    assert answered["connection"] == "close"
    assert client.get("/v1/totals").status_code == 200  # and nothing else is held up


def test_a_body_that_arrives_in_time_is_served(started: Callable[..., TestClient]) -> None:
    client = started(body_timeout_seconds=5)
    authorize(client)
    loans = [{"loan_id": "L-1", "disbursed_on": "2021-06-30", "channel": "online"}]
    answer = client.post("/v1/loan-batches", headers={"Idempotency-Key": "b-1"},
                         json={"batch_id": "b-1", "loans": loans})  # fmt: skip
    assert answer.status_code == 201, answer.text


# --- hosts and redirects ---------------------------------------------------------------------------------


@pytest.mark.parametrize("keyed", [True, False])
def test_no_redirect_takes_its_host_from_the_request(client: TestClient, keyed: bool) -> None:
    headers = {"Host": "evil.example"} if keyed else {"Host": "evil.example", "Authorization": ""}
    answer = client.get("/v1/totals/", headers=headers, follow_redirects=False)
    assert "evil.example" not in answer.headers.get("location", "")
    assert answer.status_code in (401, 404)
    assert answer.headers["content-type"] == PROBLEM


def test_a_host_that_is_not_allowed_gets_400(started: Callable[..., TestClient]) -> None:
    client = started(allowed_hosts=["carbon.example", "*.carbon.internal"])
    authorize(client)
    for host in ("carbon.example", "carbon.example:8443", "api.carbon.internal"):
        assert client.get("/v1/totals", headers={"Host": host}).status_code == 200, host
    for host in ("evil.example", "carbon.example.evil.example", "carbon.internal", ""):
        refused = client.get("/v1/totals", headers={"Host": host})
        assert refused.status_code == 400, host
        assert refused.headers["content-type"] == PROBLEM
        assert "host" in refused.json()["detail"]
    # probes and scrapes answer whatever host an orchestrator calls them by
    for probe in ("/healthz", "/readyz", "/metrics"):
        assert client.get(probe, headers={"Host": "10.0.0.7:8000"}).status_code == 200, probe


def test_every_host_is_served_by_default(client: TestClient) -> None:
    assert client.get("/v1/totals", headers={"Host": "anything.example"}).status_code == 200


def test_operations_that_take_a_body_document_the_408(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    operations = [op for ops in paths.values() for op in ops.values() if op.get("security")]
    with_body = [op for op in operations if "requestBody" in op]
    assert with_body and all("408" in op["responses"] for op in with_body)
    assert all("408" not in op["responses"] for op in operations if "requestBody" not in op)
    assert paths["/v1/loan-batches"]["post"]["responses"]["408"]["content"] == {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
    }
