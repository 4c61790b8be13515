"""/metrics as an operator meets it: promtool accepts it, base units, no `_created` series, no business totals
unless asked, a scrape reads no table, and a key with the metrics role when the setting asks for one."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, event

from carbon.api import create_app
from carbon.core.access import Role
from carbon.settings import Settings
from tests.api.test_jobs import finished, upload
from tests.keys import authorize, bearer, issue

PROMTOOL = shutil.which("promtool")
BATCH = {"batch_id": "m-1", "loans": [{"loan_id": "M-1", "disbursed_on": "2021-06-30", "channel": "online"}]}


def busy_client(settings: Settings, **update: Any) -> TestClient:
    """An app that has recorded a batch and run a job, so every family has samples."""
    client = TestClient(create_app(settings.model_copy(update=update)), raise_server_exceptions=False)
    client.__enter__()
    authorize(client)
    assert client.post("/v1/loan-batches", json=BATCH, headers={"Idempotency-Key": "m-1"}).status_code == 201
    job = upload(client, b"loan_id,disbursed_on,channel\nJ-1,2021-06-30,online\nbad\n", "job-m")
    assert finished(client, job.headers["location"])["state"] == "succeeded"
    return client


@pytest.fixture(params=[False, True], ids=["default", "business-totals"])
def scrape(request: pytest.FixtureRequest, settings: Settings) -> Iterator[str]:
    client = busy_client(settings, metrics_business_totals=request.param)
    try:
        response = client.get("/metrics")
        assert response.status_code == 200
        yield response.text
    finally:
        client.__exit__(None, None, None)


def test_promtool_accepts_the_exposition(scrape: str) -> None:
    if PROMTOOL is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is missing under CI (apt-get install prometheus)")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    checked = subprocess.run([PROMTOOL, "check", "metrics"], input=scrape, capture_output=True, text=True,
                             timeout=60, check=False)  # fmt: skip
    assert (checked.returncode, checked.stdout + checked.stderr) == (0, "")


def test_no_created_series_and_no_sub_units(scrape: str) -> None:
    names = {s.name for family in text_string_to_metric_families(scrape) for s in family.samples}
    assert not [name for name in names if name.endswith("_created")]
    assert not [name for name in names if "milli" in name or "micro" in name]


def test_business_totals_only_when_asked(settings: Settings) -> None:
    for asked in (True, False):  # one ledger: the loans count in the first app only
        client = busy_client(settings, metrics_business_totals=asked)
        try:
            text = client.get("/metrics").text
        finally:
            client.__exit__(None, None, None)
        families = {family.name: family for family in text_string_to_metric_families(text)}
        assert ("carbon_loans_counted" in families) is asked
        assert ("carbon_recorded_grams" in families) is asked
        assert "carbon_ledger_writes" in families and "carbon_jobs_finished" in families
        if asked:
            grams = {s.labels["book"]: s.value for s in families["carbon_recorded_grams"].samples}
            assert grams["avoided"] == pytest.approx(2 * 34.8)  # two online loans of 34.80 g, in grams
            assert next(s.value for s in families["carbon_loans_counted"].samples) == 2


def test_a_scrape_queries_no_table(settings: Settings) -> None:
    client = busy_client(settings, metrics_business_totals=True)
    statements: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", note)
    try:
        for _ in range(5):
            assert client.get("/metrics").status_code == 200
    finally:
        event.remove(Engine, "before_cursor_execute", note)
        client.__exit__(None, None, None)
    assert statements == []


def test_metrics_can_require_a_key_with_the_metrics_role(settings: Settings) -> None:
    locked = settings.model_copy(update={"metrics_require_key": True, "auth_failures_per_minute": 0})
    with TestClient(create_app(locked), raise_server_exceptions=False) as client:
        stranger = client.get("/metrics")
        assert stranger.status_code == 401
        assert stranger.headers["content-type"] == "application/problem+json"
        assert stranger.headers["www-authenticate"] == 'Bearer realm="carbon"'
        assert "carbon_http" not in stranger.text
        bad = client.get("/metrics", headers=bearer("cbk_00000000_" + "A" * 43))
        assert bad.status_code == 401
        for role in (Role.READ, Role.ADMIN):
            refused = client.get("/metrics", headers=bearer(issue(client, roles=(role,))))
            assert refused.status_code == 403, role
            assert "metrics role" in refused.json()["detail"]
        scraper = bearer(issue(client, roles=(Role.METRICS,)))
        allowed = client.get("/metrics", headers=scraper)
        assert allowed.status_code == 200 and "carbon_http_requests_total" in allowed.text
        # the scraper's key reads nothing else
        assert client.get("/v1/totals", headers=scraper).status_code == 403
        assert client.get("/healthz").status_code == 200


def test_metrics_answer_without_a_key_by_default(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        assert client.get("/metrics").status_code == 200
