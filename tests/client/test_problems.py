"""problem+json to typed exceptions: one test per problem type the service sends, against the real app
(and, for the statuses it cannot be made to send here, a mock transport); errors that cannot succeed on a
retry are sent once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from carbon.api import create_app
from carbon.api.state import AppState
from carbon.client import (
    BadRequest,
    CarbonApiError,
    CarbonClient,
    Conflict,
    IdempotencyKeyReused,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    RequestInFlight,
    RetryPolicy,
    ServerError,
    ServiceUnavailable,
    Unauthorized,
    Unprocessable,
    Upstream,
    ValidationFailed,
)
from carbon.client.types import LoanIn
from carbon.settings import Settings
from tests.client.conftest import FAST
from tests.conftest import SHIPPED_FACTORS
from tests.integration.serverproc import free_port
from tests.keys import authorize

URN = "urn:problem:carbon:"
LOAN: LoanIn = {"loan_id": "P-1", "disbursed_on": "2021-06-30", "channel": "online"}


def test_404_not_found(client: CarbonClient, sent: list[str]) -> None:
    with pytest.raises(NotFound) as caught:
        client.get_entry("e_missing")
    error = caught.value
    assert (error.status, error.type, error.title) == (404, URN + "not-found", "Not Found")
    assert error.detail == str(error) == "no ledger entry 'e_missing'"
    assert error.instance == "/v1/ledger/entries/e_missing" and error.slug == "not-found"
    assert sent == ["GET /v1/ledger/entries/e_missing"]  # never retried
    with pytest.raises(NotFound):
        client.get_job("j_missing")
    with pytest.raises(NotFound):
        client.factor("no.such.factor")


def test_422_validation_lists_the_errors(client: CarbonClient, sent: list[str]) -> None:
    bad: Any = {"loan_id": "P-1", "disbursed_on": "2021-06-30", "channel": "bus"}
    with pytest.raises(ValidationFailed) as caught:
        client.record_loan_batch("b", [bad])
    error = caught.value
    assert error.status == 422 and error.type == URN + "validation" and isinstance(error, Unprocessable)
    assert error.detail == "body.loans.0.channel: Input should be 'online' or 'branch'"
    assert error.errors[0]["loc"] == ["body", "loans", "0", "channel"]
    assert len(sent) == 1


def test_422_idempotency_key_reused(client: CarbonClient, sent: list[str]) -> None:
    client.record_loan_batch("b1", [LOAN], idempotency_key="same-key")
    with pytest.raises(IdempotencyKeyReused) as caught:
        client.record_loan_batch("b2", [LOAN], idempotency_key="same-key")
    assert caught.value.status == 422 and caught.value.type == URN + "idempotency-key-reused"
    assert len(sent) == 2


def test_422_other_problem_types_are_unprocessable(client: CarbonClient) -> None:
    with pytest.raises(Unprocessable) as caught:
        client.record_loan_batch("b", [{"loan_id": "P-1", "disbursed_on": "1990-06-30", "channel": "online"}])
    assert type(caught.value) is Unprocessable and caught.value.type == URN + "factor"
    assert "no factor for online_loan in CN on 1990-06-30" in caught.value.detail


def test_409_request_in_flight_is_raised_then_retried_with_the_same_key(
    api: TestClient, sent: list[str]
) -> None:
    state: AppState = api.app.state.carbon  # type: ignore[attr-defined]
    hold = state.in_flight.hold("default", "in-flight-key")
    hold.__enter__()
    once = CarbonClient(http=api, retry=RetryPolicy(max_attempts=1))
    with pytest.raises(RequestInFlight) as caught:
        once.record_loan_batch("b", [LOAN], idempotency_key="in-flight-key")
    error = caught.value
    assert isinstance(error, Conflict) and error.status == 409 and error.type == URN + "request-in-flight"
    assert error.retry_after == 1.0 and error.attempts == 1

    waits: list[float] = []

    def release(seconds: float) -> None:  # the first request finishes while the client waits
        waits.append(seconds)
        hold.__exit__(None, None, None)

    retrying = CarbonClient(http=api, retry=FAST, sleep=release)
    result = retrying.record_loan_batch("b", [LOAN], idempotency_key="in-flight-key")
    assert result["loans_counted"] == 1 and waits == [1.0]  # Retry-After honoured
    assert len(sent) == 3


def test_413_payload_too_large(client: CarbonClient, sent: list[str]) -> None:
    loans: list[LoanIn] = [
        {"loan_id": f"big-{n:06d}", "disbursed_on": "2021-06-30", "channel": "online"} for n in range(2_000)
    ]
    with pytest.raises(PayloadTooLarge) as caught:
        client.record_loan_batch("big", loans)
    assert caught.value.status == 413 and caught.value.type == URN + "body-too-large"
    assert len(sent) == 1


def test_502_upstream_is_retried_within_bounds_then_raised(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}/grid"  # nothing listens: the provider fails at once
    settings = Settings(factors_dir=SHIPPED_FACTORS, data_dir=tmp_path, grid_intensity_url=closed,
                        grid_intensity_retries=0, grid_intensity_backoff=0)  # fmt: skip
    with TestClient(create_app(settings), raise_server_exceptions=False) as api:
        authorize(api)
        sent: list[str] = []
        api.event_hooks["request"].append(lambda request: sent.append(request.url.path))
        client = CarbonClient(http=api, retry=RetryPolicy(max_attempts=2, backoff=0), sleep=lambda _: None)
        with pytest.raises(Upstream) as caught:
            client.carbon_aware_windows(
                {"region": "CN", "profile": {"unit": "kWh", "steps": ["1"]},
                 "deadline": "2026-11-22T05:00:00Z", "now": "2026-11-22T00:00:00Z"}
            )  # fmt: skip
    error = caught.value
    assert isinstance(error, ServerError) and error.status == 502 and error.type == URN + "upstream"
    assert error.attempts == 2 and sent == ["/v1/carbon-aware-windows"] * 2


def _answering(
    status: int, body: dict[str, Any] | str, headers: dict[str, str] | None = None
) -> CarbonClient:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(body, str):
            return httpx.Response(status, text=body, headers=headers)
        content = json.dumps(body).encode()
        return httpx.Response(status, content=content, headers={"content-type": "application/problem+json",
                                                                **(headers or {})})  # fmt: skip

    return CarbonClient("http://carbon.test", transport=httpx.MockTransport(handler),
                        retry=RetryPolicy(max_attempts=1))  # fmt: skip


def _problem(status: int, slug: str | None, detail: str, **extra: Any) -> dict[str, Any]:
    kind = URN + slug if slug else "about:blank"
    return {"type": kind, "title": "T", "status": status, "detail": detail, "instance": "/x", **extra}


@pytest.mark.parametrize(
    ("status", "slug", "headers", "expected"),
    [
        (400, None, {}, BadRequest),
        (401, None, {"WWW-Authenticate": "Bearer"}, Unauthorized),
        (409, "reversal-conflict", {}, Conflict),
        (429, "rate-limited", {"Retry-After": "7"}, RateLimited),
        (500, None, {}, ServerError),
        (503, "not-ready", {}, ServiceUnavailable),
        (418, None, {}, CarbonApiError),
    ],
)
def test_statuses_the_app_does_not_send_here(
    status: int, slug: str | None, headers: dict[str, str], expected: type[CarbonApiError]
) -> None:
    client = _answering(status, _problem(status, slug, "what went wrong", limit=3), headers)
    with pytest.raises(expected) as caught:
        client.get_entry("e_1")
    error = caught.value
    assert type(error) is expected and error.status == status and str(error) == "what went wrong"
    assert error.extras == {"limit": 3} and error.instance == "/x"
    if "Retry-After" in headers:
        assert error.retry_after == 7.0


def test_a_body_that_is_not_a_problem_still_raises_the_status_class() -> None:
    with pytest.raises(Upstream) as caught:
        _answering(502, "<html>bad gateway</html>").healthz()
    assert caught.value.type == "about:blank" and "bad gateway" in caught.value.detail


def test_readyz_raises_service_unavailable_without_retrying() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(503, json=_problem(503, "not-ready", "database unreachable"))

    client = CarbonClient("http://carbon.test", transport=httpx.MockTransport(handler), sleep=lambda _: None)
    with pytest.raises(ServiceUnavailable, match="database unreachable"):
        client.readyz()
    assert calls == [1]
