"""What the service must not tell or show: bound parameters of a failed statement, the server's directories
in an error, and the data directory, database and key secret to other users of the machine."""

from __future__ import annotations

import json
import logging
import stat
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from carbon.adapters.grid_intensity import GridIntensityProvider
from carbon.adapters.loan_files import count_rows, read_loan_chunks
from carbon.adapters.sql_store import create_ledger_engine
from carbon.api import create_app
from carbon.api.state import AppState
from carbon.core.jobs import Job, JobState
from carbon.settings import Settings
from tests.api.test_jobs import finished
from tests.conftest import SHIPPED_FACTORS
from tests.keys import authorize


def test_a_failed_statement_does_not_show_its_bound_parameters(settings: Settings) -> None:
    engine = create_ledger_engine(settings.resolved_database_url)
    try:
        with pytest.raises(DBAPIError) as caught, engine.connect() as connection:
            connection.execute(text("SELECT no_such_column FROM no_such_table WHERE x = :ref"),
                               {"ref": "customer-4711"})  # fmt: skip
    finally:
        engine.dispose()
    assert "customer-4711" not in str(caught.value)
    assert "hidden due to hide_parameters" in str(caught.value)


def test_a_job_whose_upload_is_gone_names_no_server_directory(client: TestClient, settings: Settings) -> None:
    state: AppState = client.app.state.carbon  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    job_id = "j_" + uuid.uuid4().hex
    job = Job(job_id, "default", "gone-1", "0" * 64, JobState.QUEUED, "parquet", f"{job_id}.parquet", None, 0,
              None, None, now, now)  # fmt: skip
    state.jobs.jobs.create(job)  # stored without its upload
    state.jobs.wake()
    done = finished(client, f"/v1/jobs/{job_id}")
    assert done["state"] == "failed"
    assert f"{job_id}.parquet" in done["error"]["detail"]
    shown = json.dumps(done)
    for directory in {str(settings.data_dir), str(settings.data_dir.resolve()), "/tmp", "/var", "/home"}:
        assert directory not in shown, shown


@pytest.mark.parametrize("name", ["missing.parquet", "missing.csv", "missing.ndjson"])
def test_file_errors_name_the_file_not_its_directory(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    fmt = path.suffix.lstrip(".")
    for read in (lambda: count_rows(path, fmt), lambda: list(read_loan_chunks(path, fmt))):  # type: ignore[arg-type]
        with pytest.raises(Exception) as caught:
            read()
        assert name in str(caught.value)
        assert str(tmp_path) not in str(caught.value)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_data_directory_database_and_secret_are_the_owners_alone(tmp_path: Path) -> None:
    data = tmp_path / "fresh" / "data"
    with TestClient(create_app(Settings(factors_dir=SHIPPED_FACTORS, data_dir=data))) as client:
        assert client.get("/readyz").status_code == 200
    files = {path.name: _mode(path) for path in data.iterdir() if path.is_file()}
    assert _mode(data) == 0o700
    assert files["carbon.sqlite3"] == 0o600 and files["key-secret"] == 0o600
    assert all(mode == 0o600 for mode in files.values()), files  # -wal and -shm take the database's mode


def test_the_service_log_does_not_carry_a_providers_token(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    configured = settings.model_copy(update={"grid_intensity_url": "http://grid.example/i?token=s3cret"})
    points = [{"start": "2026-11-22T00:00:00Z", "intensity": "500"}]
    answer = httpx.Response(200, json={"unit": "gCO2e/kWh", "points": points})
    caplog.set_level(logging.DEBUG)
    with TestClient(create_app(configured)) as client:
        authorize(client)
        client.app.state.grid_intensity = GridIntensityProvider(  # type: ignore[attr-defined]
            configured.grid_intensity_url or "", transport=httpx.MockTransport(lambda _request: answer)
        )
        caplog.set_level(logging.DEBUG)  # what the app's logging lets through, at its most talkative
        body = {"profile": {"steps": ["1"], "unit": "kWh"}, "deadline": "2026-11-22T01:00:00Z",
                "now": "2026-11-22T00:00:00Z", "region": "CN"}  # fmt: skip
        assert client.post("/v1/carbon-aware-windows", json=body).status_code == 200
    assert "s3cret" not in caplog.text
