"""Rate, concurrency and deadline limits: problem+json refusals with Retry-After; no write is cut short."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient
from starlette.types import ASGIApp, Message

from carbon.api.limits import ConcurrencyLimit, RateLimiter, RequestTimeout
from carbon.api.problems import install_problem_handlers
from carbon.errors import RateLimitedError

PROBLEM = "application/problem+json"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def refused(limiter: RateLimiter, key: str) -> RateLimitedError:
    with pytest.raises(RateLimitedError) as caught:
        limiter.check(key)
    return caught.value


# --- RateLimiter ------------------------------------------------------------------------------------------


def test_a_key_gets_its_burst_then_is_refused_with_the_exact_wait() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=50, burst=100, clock=clock)
    for _ in range(100):
        limiter.check("key-a")
    error = refused(limiter, "key-a")
    assert error.retry_after == pytest.approx(0.02)
    assert "rate limit of 50 requests per second (burst 100) exceeded" in str(error)
    assert "retry after 0.02 s" in str(error)
    clock.now += 0.005  # a quarter of a token later
    assert refused(limiter, "key-a").retry_after == pytest.approx(0.015)


def test_tokens_come_back_at_the_rate_up_to_the_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=2, burst=3, clock=clock)
    for _ in range(3):
        limiter.check("k")
    refused(limiter, "k")
    clock.now += 0.5  # one token
    limiter.check("k")
    refused(limiter, "k")
    clock.now += 3600  # long idle: back to the burst, not more
    for _ in range(3):
        limiter.check("k")
    assert refused(limiter, "k").retry_after == pytest.approx(0.5)


def test_keys_have_independent_buckets() -> None:
    limiter = RateLimiter(rate=1, burst=2, clock=FakeClock())
    limiter.check("a")
    limiter.check("a")
    refused(limiter, "a")
    limiter.check("b")
    limiter.check("b")
    refused(limiter, "b")


def test_memory_is_bounded_by_max_keys_dropping_the_stalest() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=1, burst=1, clock=clock, max_keys=3)
    for key in ("a", "b", "c", "d", "e"):
        limiter.check(key)
        clock.now += 0.001
        assert len(limiter) <= 3
    refused(limiter, "e")  # the freshest buckets are kept
    refused(limiter, "d")
    assert len(limiter) == 3
    limiter.check("a")  # "a" was dropped: a new bucket, full


def test_buckets_that_refilled_are_dropped() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=10, burst=5, clock=clock)
    for n in range(1000):
        limiter.check(f"key-{n}")
    assert len(limiter) == 1000
    clock.now += 1  # every bucket is full again
    limiter.check("another")
    assert len(limiter) == 1


def test_a_rate_of_zero_means_unlimited() -> None:
    limiter = RateLimiter(rate=0, burst=0, clock=FakeClock())
    for _ in range(10_000):
        limiter.check("k")
    assert len(limiter) == 0


def test_a_rate_limit_needs_a_burst() -> None:
    with pytest.raises(ValueError, match="burst"):
        RateLimiter(rate=1, burst=0)


def test_threads_consume_exactly_the_tokens_allowed() -> None:
    limiter = RateLimiter(rate=1, burst=500, clock=FakeClock())  # the clock stands still: no refill
    allowed = [0] * 8
    start = threading.Barrier(8)

    def hammer(slot: int) -> None:
        start.wait()
        for _ in range(200):
            try:
                limiter.check("shared")
            except RateLimitedError:
                continue
            allowed[slot] += 1

    threads = [threading.Thread(target=hammer, args=(slot,)) for slot in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(allowed) == 500


def test_a_rate_limited_route_is_a_429_problem_with_retry_after() -> None:
    app = FastAPI()
    install_problem_handlers(app)
    limiter = RateLimiter(rate=0.5, burst=1, clock=FakeClock())

    @app.get("/direct")
    def direct() -> None:
        raise RateLimitedError("slow down", retry_after=1.2)

    @app.get("/limited")
    def limited() -> dict[str, bool]:
        limiter.check("key-1")
        return {"ok": True}

    with TestClient(app) as client:
        response = client.get("/direct")
        assert response.status_code == 429
        assert response.headers["content-type"] == PROBLEM
        assert response.headers["retry-after"] == "2"
        assert response.json()["type"] == "urn:problem:carbon:rate-limited"
        assert response.json()["detail"] == "slow down"
        assert client.get("/limited").status_code == 200
        response = client.get("/limited")
        assert response.status_code == 429
        assert response.headers["retry-after"] == "2"
        assert "rate limit of 0.5 requests per second (burst 1)" in response.json()["detail"]


# --- ConcurrencyLimit -------------------------------------------------------------------------------------


class Gate:
    """Routes that hold their slot until the test opens the gate."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.entered = 0
        self.all_in = asyncio.Event()
        self.expected = 0

    async def hold(self) -> None:
        self.entered += 1
        if self.entered >= self.expected:
            self.all_in.set()
        await self.open.wait()


def limited_app(gate: Gate, limit: int, wait: float = 0.05) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/hold")
    async def hold() -> dict[str, bool]:
        await gate.hold()
        return {"ok": True}

    @app.get("/fast")
    async def fast() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    @app.get("/livez")
    async def livez() -> dict[str, bool]:
        return {"ok": True}

    app.add_middleware(ConcurrencyLimit, limit=limit, wait=wait, exempt=("/livez",))
    return app


def async_client(app: ASGIApp) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def hold_all_slots(
    client: httpx.AsyncClient, gate: Gate, slots: int
) -> list[asyncio.Task[httpx.Response]]:
    gate.expected = slots
    holders = [asyncio.create_task(client.get("/hold")) for _ in range(slots)]
    await asyncio.wait_for(gate.all_in.wait(), 1)
    return holders


def test_a_request_over_the_limit_is_a_503_problem_and_exempt_paths_still_answer() -> None:
    async def run() -> None:
        gate = Gate()
        async with async_client(limited_app(gate, limit=2)) as client:
            holders = await hold_all_slots(client, gate, 2)
            started = time.monotonic()
            response = await client.get("/fast")
            assert time.monotonic() - started < 0.5
            assert response.status_code == 503
            assert response.headers["content-type"] == PROBLEM
            assert response.headers["retry-after"] == "1"
            body = response.json()
            assert body["type"] == "urn:problem:carbon:overloaded"
            assert body["status"] == 503
            assert "limit of 2 concurrent requests" in body["detail"]
            assert (await client.get("/livez")).status_code == 200
            gate.open.set()
            assert [holder.status_code for holder in await asyncio.gather(*holders)] == [200, 200]
            assert (await client.get("/fast")).status_code == 200

    asyncio.run(run())


def test_a_request_waits_for_a_slot_that_frees_within_the_wait() -> None:
    async def run() -> None:
        gate = Gate()
        async with async_client(limited_app(gate, limit=1, wait=1.0)) as client:
            holders = await hold_all_slots(client, gate, 1)
            waiting = asyncio.create_task(client.get("/fast"))
            await asyncio.sleep(0.05)
            assert not waiting.done()
            gate.open.set()
            assert (await waiting).status_code == 200
            assert (await holders[0]).status_code == 200

    asyncio.run(run())


def test_slots_are_released_after_errors() -> None:
    async def run() -> None:
        async with async_client(limited_app(Gate(), limit=1)) as client:
            for _ in range(3):
                response = await client.get("/boom")
                assert response.status_code == 500
            assert (await client.get("/fast")).status_code == 200

    asyncio.run(run())


def test_the_limit_works_in_every_event_loop_that_serves_the_app() -> None:
    gate = Gate()
    app = limited_app(gate, limit=1)

    async def run() -> None:
        gate.open, gate.all_in, gate.entered = asyncio.Event(), asyncio.Event(), 0
        async with async_client(app) as client:
            holders = await hold_all_slots(client, gate, 1)
            assert (await client.get("/fast")).status_code == 503  # a waiter: the semaphore meets the loop
            gate.open.set()
            await asyncio.gather(*holders)

    asyncio.run(run())
    asyncio.run(run())  # a new loop: a semaphore of the closed one would fail here
    with TestClient(app) as client:
        assert client.get("/fast").status_code == 200


# --- RequestTimeout ---------------------------------------------------------------------------------------


def timed_app(done: list[str], seconds: float = 0.1) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/slow")
    async def slow(request: Request) -> dict[str, bool]:
        payload = await request.json()
        await asyncio.sleep(0.3)
        done.append(payload["write"])
        return {"ok": True}

    @app.post("/slow-sync")
    def slow_sync() -> dict[str, bool]:
        time.sleep(0.3)
        done.append("sync")
        return {"ok": True}

    @app.get("/fast")
    async def fast() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/fails-late")
    async def fails_late() -> None:
        await asyncio.sleep(0.2)
        raise RuntimeError("late failure")

    @app.get("/download")
    async def download() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"first,"
            await asyncio.sleep(0.25)
            yield b"second"

        return StreamingResponse(chunks(), media_type="text/plain")

    @app.post("/v1/jobs")
    async def upload() -> dict[str, bool]:
        await asyncio.sleep(0.2)
        return {"ok": True}

    app.add_middleware(RequestTimeout, seconds=seconds, exempt=("/v1/jobs",))
    return app


def test_a_slow_request_gets_a_504_problem_and_its_write_still_completes() -> None:
    done: list[str] = []
    with TestClient(timed_app(done)) as client:
        response = client.post("/slow", json={"write": "async"})
        assert response.status_code == 504
        assert response.headers["content-type"] == PROBLEM
        body = response.json()
        assert body["type"] == "urn:problem:carbon:timeout"
        assert "longer than 0.1 s" in body["detail"]
        assert "Idempotency-Key" in body["detail"]
        assert done == ["async"]
        assert client.post("/slow-sync").status_code == 504
        assert done == ["async", "sync"]


def test_fast_requests_streams_that_started_and_exempt_paths_are_untouched() -> None:
    with TestClient(timed_app([])) as client:
        response = client.get("/fast")
        assert (response.status_code, response.json()) == (200, {"ok": True})
        response = client.get("/download")
        assert (response.status_code, response.text) == (200, "first,second")
        assert client.post("/v1/jobs").status_code == 200


def test_a_failure_after_the_504_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="carbon.api"), TestClient(timed_app([])) as client:
        assert client.get("/fails-late").status_code == 504
    failures = [record for record in caplog.records if "failed after its 504" in record.getMessage()]
    assert len(failures) == 1
    assert failures[0].exc_info is not None
    assert str(failures[0].exc_info[1]) == "late failure"


class Server:
    """A bare ASGI server for one request: when each message was sent, and http.disconnect once the response
    is complete (as uvicorn does), so it shows what the client sees and when."""

    def __init__(self, body_parts: list[tuple[float, bytes]]) -> None:
        self.parts = list(body_parts)
        self.sent: list[tuple[float, Message]] = []
        self.complete = asyncio.Event()
        self.started = time.monotonic()

    async def receive(self) -> Message:
        if self.parts:
            delay, chunk = self.parts[0]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.complete.wait(), delay)
            if not self.complete.is_set():
                self.parts.pop(0)
                return {"type": "http.request", "body": chunk, "more_body": bool(self.parts)}
        await self.complete.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        assert not self.complete.is_set(), f"sent after the response was complete: {message}"
        self.sent.append((time.monotonic() - self.started, message))
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            self.complete.set()

    def status(self) -> tuple[float, int]:
        at, start = next((at, m) for at, m in self.sent if m["type"] == "http.response.start")
        return at, start["status"]

    def body(self) -> Any:
        return json.loads(
            b"".join(m.get("body", b"") for _, m in self.sent if m["type"] == "http.response.body")
        )


def call(app: ASGIApp, server: Server, path: str, method: str = "POST") -> Callable[[], Awaitable[None]]:
    length = sum(len(chunk) for _, chunk in server.parts)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"test"),
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % length),
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("test", 80),
    }
    return lambda: app(scope, server.receive, server.send)


def test_the_504_goes_at_the_deadline_while_the_app_runs_on_with_its_whole_body() -> None:
    done: list[str] = []

    async def run() -> None:
        server = Server([(0, b'{"write": '), (0.15, b'"late body"}')])  # the body ends after the deadline
        await call(timed_app(done), server, "/slow")()
        at, status = server.status()
        assert status == 504
        assert 0.1 <= at < 0.3  # once the body is in, not when the app ends (0.45 s)
        assert server.body()["type"] == "urn:problem:carbon:timeout"
        assert len(server.sent) == 2  # the app's own 200 was discarded
        assert done == ["late body"]

    asyncio.run(run())


def test_a_download_that_started_in_time_streams_past_the_deadline() -> None:
    async def run() -> None:
        server = Server([(0, b"")])
        await call(timed_app([]), server, "/download", method="GET")()
        assert server.status()[1] == 200
        chunks = [(at, m["body"]) for at, m in server.sent if m["type"] == "http.response.body" and m["body"]]
        assert [chunk for _, chunk in chunks] == [b"first,", b"second"]
        assert chunks[-1][0] > 0.2  # well past the 0.1 s deadline

    asyncio.run(run())


def test_a_write_past_its_504_keeps_its_concurrency_slot_until_it_ends() -> None:
    done: list[str] = []
    app = timed_app(done)
    app.add_middleware(ConcurrencyLimit, limit=1, wait=0.05)  # outside the deadline: sees the call end

    async def run() -> None:
        async with async_client(app) as client:
            slow = asyncio.create_task(client.post("/slow", json={"write": "w"}))
            await asyncio.sleep(0.15)  # past the deadline, the write still running
            assert (await client.get("/fast")).status_code == 503
            assert (await slow).status_code == 504
            assert done == ["w"]
            assert (await client.get("/fast")).status_code == 200

    asyncio.run(run())


def test_a_cancelled_call_cancels_the_app_as_it_would_without_the_deadline() -> None:
    entered = asyncio.Event()
    cancelled: list[bool] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        entered.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def run() -> None:
        server = Server([(0, b"")])
        call_task = asyncio.ensure_future(call(RequestTimeout(app, seconds=5), server, "/x")())
        await entered.wait()
        call_task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call_task
        await asyncio.sleep(0)
        assert cancelled == [True]
        assert server.sent == []

    asyncio.run(run())
