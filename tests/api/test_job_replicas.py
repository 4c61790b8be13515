"""Jobs across replicas: two apps on one database, each with its own data directory (nothing shared on
disk), see the same jobs, uploads and reports; a job is run by one of them and settled once; uploads do
not outlive their jobs; a tenant's uploads are bounded; a job whose process keeps dying is given up."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import create_engine, inspect, text

from carbon.api import create_app
from carbon.api.state import AppState
from carbon.settings import Settings
from tests.api.test_jobs import finished, upload
from tests.api.test_loan_batches import avoided_total, entry_count
from tests.integration.test_bulk_files import synthetic_loans, write
from tests.keys import TEST_SECRET, authorize

PER_LOAN_MG = 34_800
HEADER = b"loan_id,disbursed_on,channel\n"


def replica(settings: Settings, name: str, **changes: object) -> Settings:
    """The same database and key secret, a data directory of its own."""
    data_dir = settings.data_dir / name
    data_dir.mkdir(exist_ok=True)
    update = {"data_dir": data_dir, "key_secret": SecretStr(TEST_SECRET), **changes}
    return settings.model_copy(update=update)


@contextmanager
def serving(settings: Settings, *, worker: bool = True, tenant: str = "default") -> Iterator[TestClient]:
    """A started app with a key; `worker=False` stops its job worker (jobs then wait for another)."""
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        authorize(client, tenant)
        if not worker:
            app_state(client).jobs.shutdown()
        yield client


def app_state(client: TestClient) -> AppState:
    state: AppState = client.app.state.carbon  # type: ignore[attr-defined]
    return state


def stored_uploads(settings: Settings) -> int:
    """Upload parts kept in the database (0 also when the table does not exist)."""
    engine = create_engine(settings.resolved_database_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        if not inspect(engine).has_table("job_files"):
            return 0
        with engine.connect() as connection:
            return int(
                connection.execute(text("SELECT count(*) FROM job_files WHERE kind = 'upload'")).scalar_one()
            )
    finally:
        engine.dispose()


def files_holding(root: Path, data: bytes) -> list[Path]:
    """Files under a directory whose content contains the given bytes."""
    return [p for p in root.rglob("*") if p.is_file() and data in p.read_bytes()]


def test_a_job_uploaded_to_one_replica_runs_on_another_and_reports_through_both(
    settings: Settings, tmp_path: Path
) -> None:
    loans = synthetic_loans(600, seed=7)
    loans[41]["channel"] = "phone"
    data = write(tmp_path / "l.csv", loans, "csv").read_bytes()
    with serving(replica(settings, "a"), worker=False) as a:
        location = upload(a, data, "across").headers["location"]
        assert a.get(location).json()["state"] == "queued"  # replica a will not run it
        with serving(replica(settings, "b")) as b:
            job = finished(b, location)
            assert job["state"] == "succeeded", job
            assert job["error"] is None
            assert (job["rows_total"], job["rows_processed"]) == (600, 600)
            assert a.get(location).json() == job  # the same row through either replica
            expected = ["where,reason", "line 43,channel must be online or branch"]
            for client in (a, b):
                report = client.get(f"{location}/rejected")
                assert report.status_code == 200, report.text
                assert report.text.splitlines() == expected
            online = sum(loan["channel"] == "online" for loan in loans)
            assert avoided_total(a) == avoided_total(b) == online * PER_LOAN_MG
            assert entry_count(a) == 1


def test_an_upload_is_gone_once_its_job_has_finished(settings: Settings, tmp_path: Path) -> None:
    good = write(tmp_path / "l.csv", synthetic_loans(300, seed=3), "csv").read_bytes()
    bad = HEADER + b"B-1,2025-01-01,online\n"  # no factor for 2025: the job fails
    alone = replica(settings, "alone")
    with serving(alone) as client:
        assert finished(client, upload(client, good, "good").headers["location"])["state"] == "succeeded"
        assert finished(client, upload(client, bad, "bad").headers["location"])["state"] == "failed"
        assert files_holding(alone.data_dir, good) == files_holding(alone.data_dir, bad) == []
    assert stored_uploads(settings) == 0


def test_a_tenant_holds_a_bounded_number_of_jobs_and_upload_bytes(settings: Settings) -> None:
    bounded = replica(
        settings, "bounded", max_jobs_per_tenant=2, upload_quota_bytes=3000, max_upload_bytes=8000
    )
    first = HEADER + b"Q-1,2021-06-30,online\n" + b"\n" * 1000
    with serving(bounded, worker=False) as client:
        assert upload(client, first, "q1").status_code == 202
        over_quota = upload(client, HEADER + b"Q-2,2021-06-30,online\n" + b"\n" * 2000, "q2")
        assert over_quota.status_code == 429, over_quota.text
        assert over_quota.headers["content-type"] == "application/problem+json"
        assert int(over_quota.headers["retry-after"]) >= 1
        assert "quota" in over_quota.json()["type"]
        never_fits = upload(client, HEADER + b"Q-3,2021-06-30,online\n" + b"\n" * 4000, "q3")
        assert never_fits.status_code == 413, never_fits.text
        assert upload(client, HEADER + b"Q-4,2021-06-30,online\n", "q4").status_code == 202
        too_many = upload(client, HEADER + b"Q-5,2021-06-30,online\n", "q5")
        assert (too_many.status_code, too_many.headers["retry-after"]) == (429, "30")
        assert "2 jobs of this tenant are queued or running" in too_many.json()["detail"]
        assert upload(client, first, "q1").status_code == 202  # a retry of an accepted upload still answers
        authorize(client, "other")
        assert upload(client, HEADER + b"Q-6,2021-06-30,online\n", "q6").status_code == 202
    assert Settings().max_upload_bytes <= 256 * 1024**2


def test_an_upload_the_disk_cannot_take_is_507(settings: Settings) -> None:
    full = replica(settings, "full", min_free_disk_bytes=1 << 62)
    with serving(full) as client:
        response = upload(client, HEADER + b"F-1,2021-06-30,online\n", "full")
        assert response.status_code == 507
        assert response.headers["content-type"] == "application/problem+json"
        assert "free disk space" in response.json()["detail"]
        assert str(full.data_dir) not in response.text
    assert stored_uploads(settings) == 0


def test_a_job_whose_process_keeps_dying_is_failed_not_run_again(settings: Settings, tmp_path: Path) -> None:
    data = write(tmp_path / "l.csv", synthetic_loans(100, seed=5), "csv").read_bytes()
    dying = replica(settings, "a", job_max_resumes=1, job_lease_seconds=1)
    with serving(dying, worker=False) as a:
        location = upload(a, data, "dies").headers["location"]
        engine = app_state(a).ledger.engine
        with engine.begin() as connection:  # as after two runs whose process was killed mid-job
            connection.execute(
                text(
                    "UPDATE jobs SET state = 'running', owner = 'gone:1:x', attempts = 2, "
                    "lease_expires_at = :t"
                ),  # fmt: skip
                {"t": datetime.now(UTC) - timedelta(seconds=5)},
            )
    with serving(replica(settings, "b", job_max_resumes=1)) as b:
        job = finished(b, location)
        assert job["state"] == "failed"
        assert job["error"]["title"] == "job abandoned"
        assert "stopped 2 times" in job["error"]["detail"]
        assert job["result"] is None
        assert entry_count(b) == 0
    assert stored_uploads(settings) == 0


def test_reports_are_dropped_after_their_retention(settings: Settings) -> None:
    with serving(settings) as client:
        location = finished(
            client, upload(client, HEADER + b"R-1,2021-13-01,online\n", "r").headers["location"]
        )
        report_path = f"/v1/jobs/{location['job_id']}/rejected"
        assert client.get(report_path).status_code == 200
        app_state(client).jobs.jobs.drop_reports(datetime.now(UTC) + timedelta(days=1))
        assert client.get(report_path).status_code == 404
        assert client.get(f"/v1/jobs/{location['job_id']}").json()["state"] == "succeeded"
