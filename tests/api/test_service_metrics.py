"""The service's counters at /metrics follow the ledger: new entries count, replays and refusals do not."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from carbon.api import create_app
from carbon.settings import Settings
from tests.api.test_jobs import finished, upload
from tests.keys import authorize

LOANS = [
    {"loan_id": "M-1", "disbursed_on": "2021-06-30", "channel": "online"},
    {"loan_id": "M-2", "disbursed_on": "2021-06-30", "channel": "online"},
    {"loan_id": "M-3", "disbursed_on": "2021-06-30", "channel": "branch"},
]
PER_LOAN_MG = 34_800
PER_LOAN_G = 34.8
ACTIVITIES = {
    "batch_id": "a-1",
    "activities": [{"activity_id": "e-1", "kind": "electricity", "date": "2021-06-30", "region": "CN",
                    "quantity": {"value": "1000", "unit": "kWh"}}],
}  # fmt: skip


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The app with the business totals asked for (they are off by default)."""
    with TestClient(create_app(settings.model_copy(update={"metrics_business_totals": True}))) as test_client:
        authorize(test_client)
        yield test_client


def samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics by (name, sorted labels)."""
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(found: dict[Any, float], name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_writes_loans_and_grams_are_counted_once(client: TestClient) -> None:
    batch = {"batch_id": "b-1", "loans": LOANS}
    first = client.post("/v1/loan-batches", json=batch, headers={"Idempotency-Key": "b-1"})
    assert first.status_code == 201
    assert client.post("/v1/loan-batches", json=batch, headers={"Idempotency-Key": "b-1"}).status_code == 201
    again = client.post("/v1/loan-batches", json={"batch_id": "b-2", "loans": LOANS},
                        headers={"Idempotency-Key": "b-2"})  # fmt: skip
    assert again.json()["loans_counted"] == 0  # every loan a duplicate: a write that counts no loan
    refused = client.post("/v1/loan-batches", json={"batch_id": "b-3", "loans": LOANS + LOANS[:1]},
                          headers={"Idempotency-Key": "b-3"})  # fmt: skip
    assert refused.status_code == 422
    inventory = client.post("/v1/activities", json=ACTIVITIES, headers={"Idempotency-Key": "a-1"})
    assert inventory.status_code == 201
    reversal = client.post(f"/v1/ledger/entries/{first.json()['entry_id']}/reversal")
    assert reversal.status_code == 201

    found = samples(client)
    assert value(found, "carbon_ledger_writes_total", kind="loan_batch") == 2
    assert value(found, "carbon_ledger_writes_total", kind="inventory_activity") == 1
    assert value(found, "carbon_ledger_writes_total", kind="reversal") == 1
    assert value(found, "carbon_loans_counted_total") == 3
    assert value(found, "carbon_recorded_grams_total", book="avoided") == pytest.approx(2 * PER_LOAN_G)
    inventory_g = client.get("/v1/totals", params={"book": "inventory", "unit": "gCO2e"}).json()
    assert value(found, "carbon_recorded_grams_total", book="inventory") == pytest.approx(
        float(inventory_g["totals"][0]["amount"]["value"])
    )
    assert (
        value(found, "carbon_http_requests_total", method="POST", route="/v1/loan-batches", status="201") == 3
    )
    assert (
        value(found, "carbon_http_requests_total", method="POST", route="/v1/loan-batches", status="422") == 1
    )
    assert (
        value(found, "carbon_http_requests_total", method="POST",
              route="/v1/ledger/entries/{entry_id}/reversal", status="201") == 1
    )  # fmt: skip


def test_jobs_are_counted_by_state_with_the_rows_they_processed(client: TestClient) -> None:
    rows = b"loan_id,disbursed_on,channel\nJ-1,2021-06-30,online\nJ-2,2021-06-30,online\nbad\n"
    job = upload(client, rows, "job-1")
    assert finished(client, job.headers["location"])["state"] == "succeeded"
    found = samples(client)
    assert value(found, "carbon_jobs_finished_total", state="succeeded") == 1
    assert value(found, "carbon_jobs_finished_total", state="failed") == 0
    assert value(found, "carbon_jobs", state="running") == 0
    assert value(found, "carbon_jobs", state="queued") == 0
    assert value(found, "carbon_jobs_rows_processed_total") == 3
    assert value(found, "carbon_ledger_writes_total", kind="loan_file") == 1
    assert value(found, "carbon_loans_counted_total") == 2
    assert value(found, "carbon_recorded_grams_total", book="avoided") == pytest.approx(2 * PER_LOAN_G)
