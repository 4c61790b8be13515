"""POST /v1/jobs: a file recorded in the background, equal to per-batch posting, all or nothing."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from carbon.api import create_app
from carbon.settings import Settings
from tests.api.test_loan_batches import avoided_total, entry_count, post
from tests.integration.test_bulk_files import synthetic_loans, write
from tests.keys import authorize

PER_LOAN_MG = 34_800


def upload(client: TestClient, data: bytes, key: str, media: str = "text/csv") -> Any:
    return client.post("/v1/jobs", content=data, headers={"Idempotency-Key": key, "Content-Type": media})


def finished(client: TestClient, location: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(location).json()
        if job["state"] in ("succeeded", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError("job did not finish in 30 s")


def test_a_job_records_what_per_batch_posting_would(client: TestClient, tmp_path: Path) -> None:
    loans = synthetic_loans(2400, seed=4)
    accepted = upload(client, write(tmp_path / "l.csv", loans, "csv").read_bytes(), "job-1")
    assert accepted.status_code == 202
    assert accepted.headers["location"] == f"/v1/jobs/{accepted.json()['job_id']}"
    job = finished(client, accepted.headers["location"])
    assert job["state"] == "succeeded", job
    assert (job["rows_total"], job["rows_processed"]) == (2400, 2400)
    online = sum(loan["channel"] == "online" for loan in loans)
    assert job["result"]["loans_counted"] == 2400
    assert avoided_total(client) == online * PER_LOAN_MG
    as_json = [{k: v for k, v in loan.items() if v} for loan in loans]
    again = [
        post(client, {"batch_id": f"b{i}", "loans": as_json[i : i + 1000]}) for i in range(0, 2400, 1000)
    ]
    assert [r.json()["loans_counted"] for r in again] == [0, 0, 0]  # the job counted every loan already


def test_the_same_key_and_file_is_the_same_job(client: TestClient, tmp_path: Path) -> None:
    data = write(tmp_path / "l.ndjson", synthetic_loans(300), "ndjson").read_bytes()
    first = upload(client, data, "job-2", "application/x-ndjson")
    finished(client, first.headers["location"])
    second = upload(client, data, "job-2", "application/x-ndjson")
    assert (second.status_code, second.headers["location"]) == (202, first.headers["location"])
    other = upload(client, data[:-200], "job-2", "application/x-ndjson")
    assert other.status_code == 422
    assert entry_count(client) == 1


def test_bad_rows_are_reported_and_downloadable(client: TestClient, tmp_path: Path) -> None:
    loans = synthetic_loans(120)
    loans[9]["disbursed_on"] = "2021-13-01"
    loans[99]["channel"] = "phone"
    path = write(tmp_path / "l.parquet", loans, "parquet")
    headers = {"Idempotency-Key": "job-3", "Content-Type": "application/octet-stream"}
    response = client.post(
        "/v1/jobs", content=path.read_bytes(), params={"format": "parquet"}, headers=headers
    )
    job = finished(client, response.headers["location"])
    assert job["result"]["rejected_count"] == 2
    assert job["result"]["rejected"] == [
        {"where": "row 10", "reason": "disbursed_on must be a date YYYY-MM-DD"},
        {"where": "row 100", "reason": "channel must be online or branch"},
    ]
    report = client.get(f"{response.headers['location']}/rejected")
    assert report.headers["content-type"].startswith("text/csv")
    assert report.text.splitlines() == [
        "where,reason",
        "row 10,disbursed_on must be a date YYYY-MM-DD",
        "row 100,channel must be online or branch",
    ]


def test_a_failed_job_records_nothing(client: TestClient, tmp_path: Path) -> None:
    loans = synthetic_loans(500)
    loans[400]["disbursed_on"], loans[400]["channel"] = "2025-01-01", "online"
    job = finished(
        client,
        upload(client, write(tmp_path / "l.csv", loans, "csv").read_bytes(), "job-4").headers["location"],
    )
    assert job["state"] == "failed"
    assert "no factor for online_loan in CN on 2025-01-01" in job["error"]["detail"]
    assert job["result"] is None
    assert entry_count(client) == 0


def test_uploads_need_a_format_and_a_bounded_size(client: TestClient) -> None:
    unknown = upload(client, b"loan_id\n", "job-5", "application/json")
    assert (unknown.status_code, unknown.headers["content-type"]) == (422, "application/problem+json")
    empty = upload(client, b"", "job-6")
    assert empty.status_code == 422
    assert client.get("/v1/jobs/j_missing").status_code == 404


def test_too_large_an_upload_is_413(settings: Settings) -> None:
    small = settings.model_copy(update={"max_upload_bytes": 2048})
    with TestClient(create_app(small)) as client:
        authorize(client)
        response = upload(client, b"loan_id,disbursed_on,channel\n" + b"x" * 5000, "job-7")
    assert response.status_code == 413


def test_a_job_left_queued_by_a_stopped_process_runs_at_start_up(settings: Settings, tmp_path: Path) -> None:
    data = write(tmp_path / "l.csv", synthetic_loans(200), "csv").read_bytes()
    with TestClient(create_app(settings)) as client:
        authorize(client)
        state = client.app.state.carbon  # type: ignore[attr-defined]
        state.jobs.shutdown()  # the worker is gone: the job stays queued, as after a crash
        location = upload(client, data, "job-8").headers["location"]
        assert client.get(location).json()["state"] == "queued"
    with TestClient(create_app(settings)) as client:
        authorize(client)
        assert finished(client, location)["result"]["loans_counted"] == 200


@pytest.fixture(autouse=True)
def _no_leftover_jobs(settings: Settings) -> None:
    (settings.data_dir / "jobs").mkdir(parents=True, exist_ok=True)
