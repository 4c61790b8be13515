"""POST /v1/loan-batches: counted once per tenant, exact, idempotent, traceable."""

from __future__ import annotations

import uuid
from fractions import Fraction
from typing import Any

from fastapi.testclient import TestClient

PER_LOAN_MG = 34_800  # MYbank 2021: 34.80 gCO2e per online loan


def loans(
    prefix: str, n: int, day: str = "2021-06-30", channel: str = "online", **extra: str
) -> list[dict[str, Any]]:
    return [{"loan_id": f"{prefix}{i}", "disbursed_on": day, "channel": channel, **extra} for i in range(n)]


def post(client: TestClient, body: dict[str, Any], key: str | None = None, **params: str) -> Any:
    headers = {"Idempotency-Key": key or str(uuid.uuid4())}
    return client.post("/v1/loan-batches", json=body, headers=headers, params=params)


def mg(amount: dict[str, str]) -> int:
    factor = {"tCO2e": 10**9, "kgCO2e": 10**6, "gCO2e": 10**3, "mgCO2e": 1}[amount["unit"]]
    value = Fraction(amount["value"]) * factor
    assert value.denominator == 1
    return int(value)


def avoided_total(client: TestClient) -> int:
    totals = client.get("/v1/totals", params={"book": "avoided", "unit": "mgCO2e"}).json()["totals"]
    return mg(totals[0]["amount"])


def entry_count(client: TestClient) -> int:
    return len(client.get("/v1/ledger/entries", params={"limit": 500}).json()["data"])


def test_a_batch_records_its_online_loans_with_their_factor(client: TestClient) -> None:
    body = {"batch_id": "b-1", "loans": loans("L", 3) + loans("B", 2, channel="branch")}
    response = post(client, body)
    assert response.status_code == 201, response.text
    result = response.json()
    assert result["loans_received"] == 5
    assert result["loans_counted"] == 5
    assert result["duplicates"] == []
    assert result["avoided"] == {"value": "0.0001044", "unit": "tCO2e"}
    assert result["factor_release"] == "2026-12"
    [factor] = result["factors"]
    assert (factor["id"], factor["version"], factor["value"], factor["unit"]) == (
        "mybank.online_loan.2021", 1, "34.80", "gCO2e/loan",
    )  # fmt: skip
    assert factor["confidence"] == "secondary"
    assert factor["source"]["publisher"].startswith("MYbank")
    entry = client.get(f"/v1/ledger/entries/{result['entry_id']}").json()
    assert entry["book"] == "avoided"
    assert {line["activity"]: line["quantity"]["value"] for line in entry["lines"]} == {
        "online_loan": "3", "branch_loan": "2",
    }  # fmt: skip


def test_the_same_key_and_body_replays_the_first_response(client: TestClient) -> None:
    body = {"batch_id": "b-2", "loans": loans("R", 4)}
    first = post(client, body, key="key-2")
    again = post(client, body, key="key-2")
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert entry_count(client) == 1
    assert avoided_total(client) == 4 * PER_LOAN_MG


def test_the_same_key_with_another_body_is_refused_and_changes_nothing(client: TestClient) -> None:
    post(client, {"batch_id": "b-3", "loans": loans("K", 1)}, key="key-3")
    response = post(client, {"batch_id": "b-3", "loans": loans("K", 2)}, key="key-3")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "urn:problem:carbon:idempotency-key-reused"
    assert avoided_total(client) == PER_LOAN_MG


def test_loans_sent_again_in_other_batches_are_counted_once(client: TestClient) -> None:
    acknowledged = []
    for batch, chosen in enumerate([range(6), range(4, 10), range(10)]):
        body = {"batch_id": f"overlap-{batch}", "loans": [loans("D", 10)[i] for i in chosen]}
        acknowledged.append(post(client, body).json())
    assert [r["loans_counted"] for r in acknowledged] == [6, 4, 0]
    assert acknowledged[1]["duplicates"] == ["D4", "D5"]
    assert sum(mg(r["avoided"]) for r in acknowledged) == avoided_total(client) == 10 * PER_LOAN_MG


def test_any_split_of_the_same_loans_gives_the_same_total(client: TestClient) -> None:
    everything = loans("S", 30, day="2021-02-01") + loans("T", 7, day="2021-11-30")
    for start, stop in [(0, 5), (5, 6), (6, 20), (20, 37)]:
        post(client, {"batch_id": f"split-{start}", "loans": everything[start:stop]})
    assert avoided_total(client) == 37 * PER_LOAN_MG


def test_a_province_falls_back_to_its_countrys_factor(client: TestClient) -> None:
    result = post(client, {"batch_id": "he", "loans": loans("H", 2, region="CN-HE")}).json()
    assert result["factors"][0]["region"] == "CN"
    assert mg(result["avoided"]) == 2 * PER_LOAN_MG


def test_a_loan_without_a_factor_on_its_day_fails_the_whole_batch(client: TestClient) -> None:
    body = {"batch_id": "late", "loans": loans("X", 2) + loans("Y", 1, day="2022-01-01")}
    response = post(client, body)
    assert response.status_code == 422
    assert "loan Y0: no factor for online_loan in CN on 2022-01-01" in response.json()["detail"]
    assert "2021-01-01..2021-12-31" in response.json()["detail"]
    assert entry_count(client) == 0
    assert post(client, {"batch_id": "ok", "loans": loans("X", 2)}).json()["loans_counted"] == 2


def test_a_loan_id_twice_in_one_batch_is_refused(client: TestClient) -> None:
    response = post(client, {"batch_id": "twice", "loans": loans("Z", 2) + loans("Z", 1)})
    assert response.status_code == 422
    assert "repeated: Z0" in response.json()["detail"]
    assert entry_count(client) == 0


def test_a_pinned_release_that_does_not_exist_is_refused(client: TestClient) -> None:
    response = post(client, {"batch_id": "pin", "loans": loans("P", 1), "factor_release": "1999-01"})
    assert response.status_code == 422
    assert "no factor release '1999-01'" in response.json()["detail"]


def test_amounts_convert_exactly_on_request(client: TestClient) -> None:
    result = post(client, {"batch_id": "kg", "loans": loans("G", 3)}, unit="kgCO2e").json()
    assert result["avoided"] == {"value": "0.1044", "unit": "kgCO2e"}
