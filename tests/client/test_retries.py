"""Retries against a mock transport that fails N times, then answers: the same Idempotency-Key and body on
every attempt, bounded attempts and total time, Retry-After honoured, other 4xx never retried."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from carbon.client import (
    AsyncCarbonClient,
    CarbonClient,
    CarbonTransportError,
    Conflict,
    NotFound,
    RateLimited,
    RetryPolicy,
    ServiceUnavailable,
    ValidationFailed,
)
from carbon.client.types import LoanIn

URN = "urn:problem:carbon:"
LOANS: list[LoanIn] = [{"loan_id": "R-1", "disbursed_on": date(2021, 6, 30), "channel": "online"}]
RESULT = {
    "batch_id": "b", "entry_id": "e_1", "loans_received": 1, "loans_counted": 1, "duplicates": [],
    "avoided": {"value": "0.0000348", "unit": "tCO2e"}, "factor_release": "2026-12", "factors": [],
}  # fmt: skip
POLICY = RetryPolicy(max_attempts=5, backoff=0.1, max_backoff=1.0, total_timeout=30.0, jitter=lambda a, b: b)

Failure = Callable[[httpx.Request], httpx.Response]


def _problem(status: int, slug: str, headers: dict[str, str] | None = None) -> Failure:
    body = {"type": URN + slug, "title": "x", "status": status, "detail": f"{slug} detail"}
    return lambda request: httpx.Response(status, json=body, headers=headers)


def _raise(kind: type[httpx.TransportError]) -> Failure:
    def fail(request: httpx.Request) -> httpx.Response:
        raise kind("simulated", request=request)

    return fail


FAILURES: dict[str, tuple[Failure, float | None]] = {
    "connect-error": (_raise(httpx.ConnectError), None),
    "dropped-connection": (_raise(httpx.RemoteProtocolError), None),
    "read-error": (_raise(httpx.ReadError), None),
    "read-timeout": (_raise(httpx.ReadTimeout), None),
    "500": (_problem(500, "internal"), None),
    "502": (_problem(502, "upstream"), None),
    "503": (_problem(503, "not-ready"), None),
    "429-retry-after": (_problem(429, "rate-limited", {"Retry-After": "2"}), 2.0),
    "409-in-flight": (_problem(409, "request-in-flight", {"Retry-After": "1"}), 1.0),
}


class Flaky:
    """Fails the first `failures` requests with `failure`, then answers 201 with RESULT; keeps requests."""

    def __init__(self, failure: Failure, failures: int) -> None:
        self.failure = failure
        self.failures = failures
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if len(self.requests) <= self.failures:
            return self.failure(request)
        return httpx.Response(201, json=RESULT)

    @property
    def keys(self) -> list[str | None]:
        return [r.headers.get("Idempotency-Key") for r in self.requests]


def _client(flaky: Flaky, sleeps: list[float], policy: RetryPolicy = POLICY) -> CarbonClient:
    return CarbonClient("http://carbon.test", transport=httpx.MockTransport(flaky), retry=policy,
                        sleep=sleeps.append)  # fmt: skip


@pytest.mark.parametrize("name", FAILURES)
def test_a_write_survives_failures_with_one_key_and_one_body(name: str) -> None:
    failure, retry_after = FAILURES[name]
    flaky = Flaky(failure, failures=3)
    sleeps: list[float] = []
    result = _client(flaky, sleeps).record_loan_batch("b", LOANS, unit="mgCO2e")
    assert result == RESULT
    assert len(flaky.requests) == 4 and len(sleeps) == 3
    key = flaky.keys[0]
    assert key is not None and flaky.keys == [key] * 4, "one logical write, one Idempotency-Key"
    assert len({r.content for r in flaky.requests}) == 1 and len({str(r.url) for r in flaky.requests}) == 1
    assert str(flaky.requests[0].url) == "http://carbon.test/v1/loan-batches?unit=mgCO2e"
    body = json.loads(flaky.requests[0].content)
    assert body["loans"][0]["disbursed_on"] == "2021-06-30"
    backoff = [0.1, 0.2, 0.4]  # jitter at its ceiling: exponential
    assert sleeps == ([max(b, retry_after) for b in backoff] if retry_after else backoff)


@pytest.mark.parametrize("name", ["connect-error", "503", "429-retry-after", "409-in-flight"])
def test_attempts_are_bounded(name: str) -> None:
    failure, _ = FAILURES[name]
    flaky = Flaky(failure, failures=100)
    sleeps: list[float] = []
    expected = (
        CarbonTransportError if name == "connect-error" else (ServiceUnavailable, RateLimited, Conflict)
    )
    with pytest.raises(expected) as caught:
        _client(flaky, sleeps).record_loan_batch("b", LOANS)
    assert len(flaky.requests) == 5 and len(sleeps) == 4 and len(set(flaky.keys)) == 1
    assert getattr(caught.value, "attempts", None) == 5


def test_total_time_is_bounded_even_against_a_long_retry_after() -> None:
    flaky = Flaky(_problem(429, "rate-limited", {"Retry-After": "120"}), failures=100)
    sleeps: list[float] = []
    with pytest.raises(RateLimited) as caught:
        _client(flaky, sleeps, RetryPolicy(total_timeout=10.0)).record_loan_batch("b", LOANS)
    assert len(flaky.requests) == 1 and sleeps == [] and caught.value.retry_after == 120.0


def test_the_clock_bounds_retries() -> None:
    now = [0.0]
    flaky = Flaky(_raise(httpx.ConnectError), failures=100)

    def sleep(seconds: float) -> None:
        now[0] += seconds

    policy = RetryPolicy(
        max_attempts=100, backoff=1.0, max_backoff=4.0, total_timeout=10.0, jitter=lambda a, b: b
    )
    transport = httpx.MockTransport(flaky)
    client = CarbonClient(
        "http://carbon.test", transport=transport, retry=policy, sleep=sleep, clock=lambda: now[0]
    )
    with pytest.raises(CarbonTransportError) as caught:
        client.get_entry("e_1")
    assert now[0] == 7.0 and len(flaky.requests) == 4  # waits 1 + 2 + 4; another 4 would pass 10 s
    assert caught.value.attempts == 4 and isinstance(caught.value.__cause__, httpx.ConnectError)


@pytest.mark.parametrize(
    ("status", "slug", "error"),
    [(400, "bad", Exception), (404, "not-found", NotFound), (409, "conflict", Conflict),
     (413, "body-too-large", Exception), (422, "validation", ValidationFailed)],
)  # fmt: skip
def test_other_client_errors_are_never_retried(status: int, slug: str, error: type[Exception]) -> None:
    flaky = Flaky(_problem(status, slug), failures=100)
    sleeps: list[float] = []
    with pytest.raises(error):
        _client(flaky, sleeps).record_loan_batch("b", LOANS)
    assert len(flaky.requests) == 1 and sleeps == []


def test_each_logical_write_gets_its_own_key_unless_the_caller_gives_one() -> None:
    flaky = Flaky(_problem(503, "x"), failures=0)
    sleeps: list[float] = []
    client = _client(flaky, sleeps)
    client.record_loan_batch("b", LOANS)
    client.record_loan_batch("b", LOANS)
    client.record_loan_batch("b", LOANS, idempotency_key="mine-1")
    client.record_energy_saving({"saving_id": "s", "period": {"start": "2021-01-01", "end": "2021-01-31"}})
    client.record_activities("a", [{"activity_id": "x", "kind": "fuel", "date": "2021-01-01",
                                    "quantity": {"value": Decimal("1.50"), "unit": "L"}}])  # fmt: skip
    client.reverse_entry("e_1")
    client.upload_job(b"loan_id\n", format="csv")
    keys = flaky.keys
    assert keys[2] == "mine-1" and len(set(keys)) == len(keys) and all(keys)
    assert json.loads(flaky.requests[4].content)["activities"][0]["quantity"]["value"] == "1.50"
    assert flaky.requests[6].headers["content-type"] == "text/csv"
    client.get_entry("e_1")
    client.calculate_loan_batch("b", LOANS)
    assert flaky.requests[-1].headers.get("Idempotency-Key") is None  # reads and previews carry none
    assert flaky.requests[-2].headers.get("Idempotency-Key") is None


def test_numbers_are_parsed_exactly_never_as_floats() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b'{"status": "ok", "ratio": 0.1, "count": 3}')

    client = CarbonClient("http://carbon.test", transport=httpx.MockTransport(handler))
    answer: dict[str, Any] = dict(client.healthz())
    assert answer["ratio"] == Decimal("0.1") and isinstance(answer["ratio"], Decimal) and answer["count"] == 3


def test_the_async_client_retries_the_same_way() -> None:
    flaky = Flaky(_raise(httpx.RemoteProtocolError), failures=2)
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async def run() -> dict[str, Any]:
        async with AsyncCarbonClient("http://carbon.test", transport=httpx.MockTransport(flaky), retry=POLICY,
                                     sleep=sleep) as client:  # fmt: skip
            result = await client.record_loan_batch("b", LOANS)
            with pytest.raises(NotFound):
                flaky.failure, flaky.failures, flaky.requests[:] = _problem(404, "not-found"), 100, []
                await client.get_entry("e_1")
            return dict(result)

    assert asyncio.run(run()) == RESULT
    assert sleeps == [0.1, 0.2] and len(flaky.requests) == 1


def test_a_transport_error_not_worth_retrying_is_raised_at_once() -> None:
    flaky = Flaky(_raise(httpx.UnsupportedProtocol), failures=100)
    sleeps: list[float] = []
    with pytest.raises(CarbonTransportError) as caught:
        _client(flaky, sleeps).record_loan_batch("b", LOANS)
    assert len(flaky.requests) == 1 and sleeps == [] and caught.value.attempts == 1
    assert isinstance(caught.value.__cause__, httpx.UnsupportedProtocol)
