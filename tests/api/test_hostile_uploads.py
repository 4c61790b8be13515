"""Uploads whose bytes say another format, and text built to run in a spreadsheet: refused up front, or
written so no spreadsheet evaluates it. Through the app, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from fastapi.testclient import TestClient

from carbon.settings import Settings
from tests.api.test_jobs import finished, upload
from tests.api.test_loan_batches import entry_count, post

FORMULAS = [" =1+1", "@SUM(1+1)", "-1+1", "+cmd", "=HYPERLINK(1)"]  # accepted as text, written inert
CONTROLS = ["x\r=cmd|' /C calc'!A0", "\n=1+1", "\t=1+1", "a\u2028=1"]  # refused on the way in


def _parquet_bytes(tmp_path: Path) -> bytes:
    table = pa.table({"loan_id": ["P1"], "disbursed_on": ["2021-06-30"], "channel": ["online"]})
    pq.write_table(table, tmp_path / "loans.parquet")
    return (tmp_path / "loans.parquet").read_bytes()


def test_parquet_sent_as_text_csv_is_refused_up_front(
    client: TestClient, settings: Settings, tmp_path: Path
) -> None:
    response = upload(client, _parquet_bytes(tmp_path), "mismatch-1", media="text/csv")
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    detail = response.json()["detail"]
    assert "looks like parquet (it starts with the Parquet magic bytes PAR1) but was sent as csv" in detail
    assert "application/vnd.apache.parquet" in detail
    assert not list((settings.data_dir / "jobs").glob("*")), "the refused upload was kept"
    assert client.get("/v1/ledger/entries").json()["data"] == []


def test_csv_sent_as_parquet_is_refused_and_parquet_sent_right_is_read(
    client: TestClient, tmp_path: Path
) -> None:
    text = b"loan_id,disbursed_on,channel\nC1,2021-06-30,online\n"
    refused = upload(client, text, "mismatch-2", media="application/vnd.apache.parquet")
    assert refused.status_code == 422
    assert "looks like csv" in refused.json()["detail"]
    accepted = upload(client, _parquet_bytes(tmp_path), "right-1", media="application/vnd.apache.parquet")
    assert accepted.status_code == 202, accepted.text
    assert finished(client, accepted.headers["Location"])["state"] == "succeeded"


def test_a_control_character_in_a_product_is_refused_alike_by_api_and_file(client: TestClient) -> None:
    for i, product in enumerate(CONTROLS):
        loan = {"loan_id": f"A{i}", "disbursed_on": "2021-06-30", "channel": "online", "product": product}
        refused = post(client, {"batch_id": f"ctl-{i}", "loans": [loan]})
        assert refused.status_code == 422, product
    lines = [{"loan_id": f"F{i}", "disbursed_on": "2021-06-30", "channel": "online", "product": p}
             for i, p in enumerate(["micro", *CONTROLS])]  # fmt: skip
    body = "".join(json.dumps(line) + "\n" for line in lines).encode()
    job = finished(client, upload(client, body, "ctl-file", media="application/x-ndjson").headers["Location"])
    assert job["state"] == "succeeded"
    assert (job["result"]["loans_counted"], job["result"]["rejected_count"]) == (1, len(CONTROLS))
    reason = "product must be at most 64 characters, none of them a control character"
    assert job["result"]["rejected"] == [{"where": f"line {n}", "reason": reason} for n in range(2, 6)]
    assert entry_count(client) == 1


def test_formula_products_from_a_file_come_out_of_the_csv_report_inert(client: TestClient) -> None:
    rows = "".join(f"R{i},2021-06-30,online,{p}\n" for i, p in enumerate(["micro", *FORMULAS]))
    sent = upload(client, f"loan_id,disbursed_on,channel,product\n{rows}".encode(), "formulas")
    job = finished(client, sent.headers["Location"])
    assert job["state"] == "succeeded", job
    assert job["result"]["loans_counted"] == 1 + len(FORMULAS)
    report = client.get(
        "/v1/reports/scopes", params={"from": "2021-01-01", "to": "2021-12-31", "format": "csv"}
    )
    assert report.status_code == 200
    cells = [row for row in csv.reader(io.StringIO(report.text)) if row and row[0] == "Avoided by product"]
    products = {row[1] for row in cells}
    assert products == {"micro", *("'" + f for f in FORMULAS)}
    assert {row[2] for row in cells} == {"0.0000348"}  # numbers unchanged: 34.8 g per loan in tCO2e
    for row in csv.reader(io.StringIO(report.text)):
        for cell in row:
            assert not cell.lstrip().startswith(("=", "+", "@")) and "\r" not in cell, cell
            assert not cell.lstrip().startswith("-") or cell.lstrip("-").replace(".", "").isdigit(), cell


def test_one_invalid_utf8_byte_fails_one_row_of_a_job_not_the_job(client: TestClient) -> None:
    body = (
        b"loan_id,disbursed_on,channel\nU1,2021-06-30,online\nU\xff2,2021-06-30,online\n"
        + b"U3,2021-06-30,online\n"
    )
    job = finished(client, upload(client, body, "utf8-job").headers["Location"])
    assert job["state"] == "succeeded", job
    assert (job["result"]["loans_counted"], job["result"]["rejected"]) == (
        2,
        [{"where": "line 3", "reason": "not valid UTF-8 text"}],
    )
