"""Every error is problem+json, nothing bad reaches the ledger, probes stay outside /v1."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from tests.api.test_loan_batches import entry_count, loans

PROBLEM = "application/problem+json"
GOOD = {"batch_id": "g", "loans": loans("G", 1)}


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b"[]",
        b"null",
        json.dumps({"batch_id": 1, "loans": loans("A", 1)}).encode(),
        json.dumps({**GOOD, "extra": True}).encode(),
        json.dumps({"batch_id": "b", "loans": []}).encode(),
        json.dumps({"batch_id": "b", "loans": [{**loans("A", 1)[0], "disbursed_on": 20210101}]}).encode(),
        json.dumps({"batch_id": "b", "loans": [{**loans("A", 1)[0], "disbursed_on": "2021-02-30"}]}).encode(),
        json.dumps({"batch_id": "b", "loans": [{**loans("A", 1)[0], "channel": "mobile"}]}).encode(),
        json.dumps({"batch_id": "b", "loans": [{**loans("A", 1)[0], "loan_id": "bad\u0000id"}]}).encode(),
        json.dumps({"batch_id": "b", "loans": [{**loans("A", 1)[0], "loan_id": True}]}).encode(),
        json.dumps({"batch_id": "b", "loans": loans("A", 10_001)}).encode(),
    ],
)
def test_malformed_or_mistyped_batches_are_4xx_problems_and_change_nothing(
    client: TestClient, raw: bytes
) -> None:
    headers = {"Idempotency-Key": "k", "Content-Type": "application/json"}
    response = client.post("/v1/loan-batches", content=raw, headers=headers)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == response.status_code
    assert problem["detail"]
    assert entry_count(client) == 0


def test_the_idempotency_key_is_required(client: TestClient) -> None:
    response = client.post("/v1/loan-batches", json=GOOD)
    assert response.status_code == 422
    assert response.json()["detail"] == "header.Idempotency-Key: Field required"


def test_oversized_bodies_are_413_with_or_without_length(client: TestClient) -> None:
    big = b"x" * (2 * 1024 * 1024)
    declared = client.post("/v1/loan-batches", content=big, headers={"Idempotency-Key": "k"})
    assert (declared.status_code, declared.headers["content-type"]) == (413, PROBLEM)

    def chunks() -> object:
        yield big[: len(big) // 2]
        yield big[len(big) // 2 :]

    streamed = client.post("/v1/loan-batches", content=chunks(), headers={"Idempotency-Key": "k"})
    assert streamed.status_code == 413
    assert entry_count(client) == 0


def test_unknown_paths_and_methods(client: TestClient) -> None:
    missing = client.get("/v1/nothing-here")
    assert (missing.status_code, missing.headers["content-type"]) == (404, PROBLEM)
    wrong = client.delete("/v1/loan-batches")
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "POST"
    assert wrong.headers["content-type"] == PROBLEM


def test_probes_answer_outside_v1_and_outside_the_schema(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.json() == {"status": "ready", "factor_release": "2026-12"}
    paths = client.get("/openapi.json").json()["paths"]
    assert "/healthz" not in paths and "/readyz" not in paths
    assert all(p.startswith("/v1/") for p in paths)


def test_factor_endpoints(client: TestClient) -> None:
    releases = client.get("/v1/factor-releases").json()
    assert [(r["id"], r["current"]) for r in releases] == [("2026-12", True), ("2026-11", False)]
    assert len(releases[0]["checksum"]) == 64
    assert client.get("/v1/factor-releases/2026-12").json()["factor_count"] == releases[0]["factor_count"]
    assert client.get("/v1/factor-releases/1999").status_code == 404
    factor = client.get("/v1/factors/ant.green_computing.2021").json()
    assert factor["derivation"].startswith("21,883.63 tCO2e avoided")
    listed = client.get("/v1/factors", params={"activity": "electricity", "region": "CN", "on": "2023-05-01"})
    assert sorted(f["method"] for f in listed.json()) == ["location", "market"]
    assert client.get("/v1/factors/nope").status_code == 404
    assert client.get("/v1/factors", params={"release": "nope"}).status_code == 422


def test_a_retry_while_the_first_request_runs_is_409(client: TestClient) -> None:
    state = client.app.state.carbon  # type: ignore[attr-defined]
    with state.in_flight.hold("default", "busy-key"):
        response = client.post("/v1/loan-batches", json=GOOD, headers={"Idempotency-Key": "busy-key"})
    assert response.status_code == 409
    assert response.headers["retry-after"] == "1"
    assert response.headers["content-type"] == PROBLEM
    after = client.post("/v1/loan-batches", json=GOOD, headers={"Idempotency-Key": "busy-key"})
    assert after.status_code == 201
