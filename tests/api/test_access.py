"""API keys and tenancy: every operation refuses a request without a valid key, roles are enforced, and no
tenant reaches another's ledger, jobs or reports (the matrix covers every operation the document lists)."""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select

from carbon.adapters.schema import api_keys
from carbon.api import create_app
from carbon.api.state import AppState
from carbon.core.access import Role
from carbon.services.keys import revoke_key
from carbon.settings import Settings
from tests.api.test_jobs import finished, upload
from tests.keys import bearer, issue

UNGUARDED = {("GET", "/healthz"), ("GET", "/readyz")}
LOANS = [
    {"loan_id": "T-1", "disbursed_on": "2021-06-30", "channel": "online"},
    {"loan_id": "T-2", "disbursed_on": "2021-06-30", "channel": "online"},
]
CUSTOMER = "customer-of-bank-a"
SAVING = {
    "saving_id": "s-1",
    "energy_saved": {"value": "46769.74", "unit": "MWh"},
    "period": {"start": "2021-01-01", "end": "2021-12-31"},
    "factor_id": "ant.green_computing.2021",
}
ACTIVITY = {
    "batch_id": "a-1",
    "activities": [{"activity_id": "e-1", "kind": "electricity", "date": "2021-06-30", "region": "CN",
                    "quantity": {"value": "1000", "unit": "kWh"}}],
}  # fmt: skip
YEAR = {"from": "2021-01-01", "to": "2021-12-31"}


@pytest.fixture
def app_client(settings: Settings) -> Iterator[TestClient]:
    """The app with no key sent by default (and no limit on refused requests: these tests send many)."""
    unlimited = settings.model_copy(update={"auth_failures_per_minute": 0})
    with TestClient(create_app(unlimited), raise_server_exceptions=False) as test_client:
        yield test_client


def operations(client: TestClient) -> set[tuple[str, str]]:
    """(METHOD, path template) of every operation in the document (the probes are left out of it)."""
    paths = client.get("/openapi.json").json()["paths"]
    return {(method.upper(), path) for path, ops in paths.items() for method in ops}


def concrete(path: str) -> str:
    """A path template with a plausible value in each parameter."""
    return re.sub(r"\{[^}]+\}", "x1", path)


def test_every_operation_but_the_probes_refuses_a_request_without_a_valid_key(app_client: TestClient) -> None:
    ops = operations(app_client)
    assert len(ops) >= 19 and not ops & UNGUARDED
    state: AppState = app_client.app.state.carbon  # type: ignore[attr-defined]
    revoked = issue(app_client)
    revoke_key(state.keys, revoked, datetime.now(UTC))
    unknown = "cbk_00000000_" + "A" * 43
    tampered = issue(app_client)[:-1] + "B"
    for method, path in sorted(ops):
        for headers, challenge in [
            ({}, 'Bearer realm="carbon"'),
            ({"Authorization": "Basic dXNlcjpwYXNz"}, 'Bearer realm="carbon"'),
            (bearer("not-a-key"), 'Bearer realm="carbon", error="invalid_token"'),
            (bearer(unknown), 'Bearer realm="carbon", error="invalid_token"'),
            (bearer(tampered), 'Bearer realm="carbon", error="invalid_token"'),
            (bearer(revoked), 'Bearer realm="carbon", error="invalid_token"'),
        ]:
            response = app_client.request(method, concrete(path), headers={"Idempotency-Key": "k", **headers})
            assert response.status_code == 401, (method, path, headers, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert response.headers["www-authenticate"] == challenge
            assert response.json()["type"] == "urn:problem:carbon:unauthorized"
    for method, path in UNGUARDED:
        assert app_client.request(method, path).status_code == 200


def test_the_document_declares_the_bearer_scheme_on_every_guarded_operation(app_client: TestClient) -> None:
    document = app_client.get("/openapi.json").json()
    assert document["components"]["securitySchemes"]["ApiKey"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "cbk_<prefix>_<secret>",
        "description": "An API key from `carbon keys create`, sent as `Authorization: Bearer <key>`.",
    }  # fmt: skip
    assert {(m.upper(), p) for p, ops in document["paths"].items() for m in ops} == operations(
        app_client
    ) - UNGUARDED
    for method, path in operations(app_client) - UNGUARDED:
        operation = document["paths"][path][method.lower()]
        assert operation["security"] == [{"ApiKey": []}], (method, path)
        assert {"401", "403", "429"} <= set(operation["responses"]), (method, path)


def test_roles_admit_what_they_name_and_everything_below(app_client: TestClient) -> None:
    read, submit, admin = (
        bearer(issue(app_client, "bank", [role])) for role in (Role.READ, Role.SUBMIT, Role.ADMIN)
    )
    batch = {"batch_id": "b", "loans": LOANS}
    refused = app_client.post("/v1/loan-batches", json=batch, headers={"Idempotency-Key": "b", **read})
    assert refused.status_code == 403
    assert (
        refused.headers["www-authenticate"]
        == 'Bearer realm="carbon", error="insufficient_scope", scope="submit"'
    )
    assert refused.json()["detail"] == "this operation needs the submit role; the key has read"
    assert app_client.get("/v1/ledger/entries", headers=read).json()["data"] == []  # nothing was recorded
    recorded = app_client.post("/v1/loan-batches", json=batch, headers={"Idempotency-Key": "b", **submit})
    assert recorded.status_code == 201
    assert app_client.get("/v1/totals", headers=submit).status_code == 200  # submit includes read
    reversal = f"/v1/ledger/entries/{recorded.json()['entry_id']}/reversal"
    assert app_client.post(reversal, headers=submit).status_code == 403  # corrections are for admins
    assert app_client.post(reversal, headers=admin).status_code == 201


def test_a_revoked_key_is_refused_at_once_and_only_a_keyed_hash_is_stored(
    app_client: TestClient, settings: Settings
) -> None:
    key = issue(app_client, "bank", [Role.READ])
    assert app_client.get("/v1/totals", headers=bearer(key)).status_code == 200
    state: AppState = app_client.app.state.carbon  # type: ignore[attr-defined]
    engine = create_engine(settings.resolved_database_url)
    with engine.connect() as connection:
        row = connection.execute(select(api_keys).where(api_keys.c.prefix == key[:12])).one()
    engine.dispose()
    assert key not in str(tuple(row)) and key[13:] not in str(tuple(row))
    assert row.key_hash == hmac.new(state.key_secret, key.encode(), sha256).hexdigest()
    revoke_key(state.keys, key[:12], datetime.now(UTC))
    assert app_client.get("/v1/totals", headers=bearer(key)).status_code == 401


def _seed(client: TestClient, headers: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """Tenant A's objects: a batch, a saving, activities, a job; their ids."""
    batch = client.post("/v1/loan-batches", json={"batch_id": "b", "loans": LOANS},
                        headers={"Idempotency-Key": "same-key", **headers})  # fmt: skip
    assert batch.status_code == 201, batch.text
    customer = [{**LOANS[0], "loan_id": "T-C", "customer_ref": CUSTOMER}]
    assert client.post("/v1/loan-batches", json={"batch_id": "c", "loans": customer},
                       headers={"Idempotency-Key": "c", **headers}).status_code == 201  # fmt: skip
    saving = client.post("/v1/energy-savings", json=SAVING, headers={"Idempotency-Key": "s", **headers})
    assert saving.status_code == 201, saving.text
    activity = client.post("/v1/activities", json=ACTIVITY, headers={"Idempotency-Key": "a", **headers})
    assert activity.status_code == 201, activity.text
    client.headers.update(headers)
    job = upload(client, b"loan_id,disbursed_on,channel\nJ-1,2021-06-30,online\nbad\n", "job")
    assert finished(client, job.headers["location"])["state"] == "succeeded"
    client.headers.pop("Authorization")
    return {
        "entry": batch.json()["entry_id"],
        "saving": saving.json()["entry_id"],
        "job": job.json()["job_id"],
    }


def _as_b(client: TestClient, b: dict[str, str], ids: dict[str, str]) -> dict[tuple[str, str], Any]:
    """Every operation as tenant B, against tenant A's ids where it takes one."""
    got: dict[tuple[str, str], Any] = {}

    def call(method: str, template: str, path: str | None = None, **kwargs: Any) -> Any:
        response = client.request(
            method, path or template, headers={**b, **kwargs.pop("headers", {})}, **kwargs
        )
        got[(method, template)] = response
        return response

    call("GET", "/v1/ledger/entries/{entry_id}", f"/v1/ledger/entries/{ids['entry']}")
    call("POST", "/v1/ledger/entries/{entry_id}/reversal", f"/v1/ledger/entries/{ids['entry']}/reversal")
    call("GET", "/v1/jobs/{job_id}", f"/v1/jobs/{ids['job']}")
    call("GET", "/v1/jobs/{job_id}/rejected", f"/v1/jobs/{ids['job']}/rejected")
    call("GET", "/v1/ledger/entries")
    call("GET", "/v1/totals")
    call("GET", "/v1/reports/scopes", params=YEAR)
    call("GET", "/v1/reports/scopes/trace", params={**YEAR, "line": "avoided:online-lending"})
    intensity = {"period": {"start": "2021-01-01", "end": "2021-12-31"},
                 "energy": {"value": "1000", "unit": "kWh"}, "region": "CN"}  # fmt: skip
    call("POST", "/v1/loan-intensity", json=intensity)
    call("POST", "/v1/calculations", json={"kind": "loan_batch", "batch_id": "b", "loans": LOANS})
    call("POST", "/v1/loan-batches", json={"batch_id": "other", "loans": LOANS},
         headers={"Idempotency-Key": "same-key"})  # fmt: skip
    call("POST", "/v1/energy-savings", json=SAVING, headers={"Idempotency-Key": "s"})
    call("POST", "/v1/activities", json=ACTIVITY, headers={"Idempotency-Key": "a"})
    call("POST", "/v1/jobs", content=b"loan_id,disbursed_on,channel\nJ-1,2021-06-30,online\n",
         headers={"Idempotency-Key": "job", "Content-Type": "text/csv"})  # fmt: skip
    call("POST", "/v1/carbon-aware-windows", json={
        "region": "CN", "duration_hours": 1, "earliest_start": "2024-01-01T00:00:00Z",
        "latest_end": "2024-01-01T03:00:00Z", "energy": {"value": "10", "unit": "kWh"},
        "intensity": [{"start": f"2024-01-01T0{h}:00:00Z", "end": f"2024-01-01T0{h + 1}:00:00Z",
                       "g_per_kwh": "500"} for h in range(3)],
    })  # fmt: skip
    call("POST", "/v1/carbon-accounts/query", json={"customer_ref": CUSTOMER})
    call("POST", "/v1/carbon-accounts/erase", json={"customer_ref": CUSTOMER})
    call("GET", "/v1/carbon-accounts/distribution")
    for path in ("/v1/factor-releases", "/v1/factor-releases/2026-12", "/v1/factors",
                 "/v1/factors/ant.green_computing.2021"):  # fmt: skip
        call(
            "GET",
            path.replace("2026-12", "{release}").replace("ant.green_computing.2021", "{factor_id}"),
            path,
        )
    return got


def test_no_operation_reaches_another_tenants_ledger(app_client: TestClient, tmp_path: Path) -> None:
    a = bearer(issue(app_client, "bank-a", [Role.ADMIN]))
    b = bearer(issue(app_client, "bank-b", [Role.ADMIN]))
    ids = _seed(app_client, a, tmp_path)
    before = app_client.get("/v1/ledger/entries", headers=a).json()
    got = _as_b(app_client, b, ids)
    assert set(got) == operations(app_client), "the matrix must cover every operation"

    for op in [("GET", "/v1/ledger/entries/{entry_id}"), ("POST", "/v1/ledger/entries/{entry_id}/reversal"),
               ("GET", "/v1/jobs/{job_id}"), ("GET", "/v1/jobs/{job_id}/rejected")]:  # fmt: skip
        assert got[op].status_code == 404, (op, got[op].text)
        assert "bank-a" not in got[op].text
    assert got[("GET", "/v1/ledger/entries")].json()["data"] == []
    assert {(t["amount"]["value"], t["lines"]) for t in got[("GET", "/v1/totals")].json()["totals"]} == {
        ("0", 0)
    }
    report = got[("GET", "/v1/reports/scopes")].json()
    assert report["avoided"]["total"]["value"] == "0", report
    assert report["inventory"]["totals"]["location_based"]["value"] == "0", report
    trace = got[("GET", "/v1/reports/scopes/trace")]
    assert trace.status_code == 200 and trace.json()["entries"] == [], trace.text
    # tenant A holds two online loans in 2021; tenant B holds none
    assert "no online loans in the ledger" in got[("POST", "/v1/loan-intensity")].json()["detail"]
    preview = got[("POST", "/v1/calculations")].json()
    assert preview["loans_counted"] == 2 and preview["duplicates"] == []  # A's loans are not B's duplicates
    # the same Idempotency-Key under another tenant is another request, not a replay or a reuse
    batch_b = got[("POST", "/v1/loan-batches")]
    assert batch_b.status_code == 201 and "Idempotent-Replayed" not in batch_b.headers
    assert batch_b.json()["loans_counted"] == 2
    for op in [("POST", "/v1/energy-savings"), ("POST", "/v1/activities")]:
        assert got[op].status_code == 201 and "Idempotent-Replayed" not in got[op].headers, got[op].text
    job_b = got[("POST", "/v1/jobs")]
    assert job_b.status_code == 202 and job_b.json()["job_id"] != ids["job"]
    assert got[("POST", "/v1/carbon-accounts/query")].json()["loans"] == 0  # A's customer is not B's
    assert got[("POST", "/v1/carbon-accounts/erase")].json()["erased"] is False
    assert got[("GET", "/v1/carbon-accounts/distribution")].json()["accounts"] == 0
    mine = app_client.post("/v1/carbon-accounts/query", json={"customer_ref": CUSTOMER}, headers=a).json()
    assert mine["loans"] == 1  # B's erasure did not reach A's account

    # and tenant A sees exactly what it had: no reversal, no entry of B's
    assert app_client.get("/v1/ledger/entries", headers=a).json() == before
    assert app_client.get(f"/v1/ledger/entries/{ids['entry']}", headers=a).status_code == 200


def test_open_mode_serves_without_a_key_as_the_open_tenant(settings: Settings) -> None:
    opened = settings.model_copy(update={"auth": "open", "open_tenant": "dev"})
    with TestClient(create_app(opened)) as client:
        batch = client.post("/v1/loan-batches", json={"batch_id": "b", "loans": LOANS},
                            headers={"Idempotency-Key": "k"})  # fmt: skip
        assert batch.status_code == 201
        state: AppState = client.app.state.carbon  # type: ignore[attr-defined]
        assert state.ledger.entry("dev", batch.json()["entry_id"]) is not None


def test_keys_are_off_only_when_open_mode_is_set() -> None:
    assert Settings().auth == "keys"


def test_each_key_has_its_own_rate_and_a_refused_request_writes_nothing(settings: Settings) -> None:
    limited = settings.model_copy(update={"rate_limit_per_second": 0.5, "rate_limit_burst": 2})
    with TestClient(create_app(limited)) as client:
        first, second = (bearer(issue(client, "bank", [Role.SUBMIT])) for _ in range(2))

        def post(n: int, key: dict[str, str]) -> Any:
            batch = {"batch_id": f"b{n}", "loans": [{**LOANS[0], "loan_id": f"R-{n}"}]}
            return client.post("/v1/loan-batches", json=batch, headers={"Idempotency-Key": f"r{n}", **key})

        assert [post(n, first).status_code for n in range(2)] == [201, 201]
        refused = post(2, first)
        assert refused.status_code == 429 and refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["retry-after"] == "2"  # one token comes back every 2 s
        assert refused.json()["type"] == "urn:problem:carbon:rate-limited"
        assert "rate limit of 0.5 requests per second (burst 2)" in refused.json()["detail"]
        assert post(3, second).status_code == 201  # another key, another bucket
        entries = client.get("/v1/ledger/entries", headers=second).json()["data"]
        assert sorted(e["client_reference"] for e in entries) == ["b0", "b1", "b3"]
        assert client.get("/readyz").status_code == 200  # probes are never limited


def test_an_address_that_keeps_failing_is_slowed_and_valid_keys_from_it_are_not(settings: Settings) -> None:
    strict = settings.model_copy(update={"auth_failures_per_minute": 3})
    with TestClient(create_app(strict)) as client:
        key = bearer(issue(client, "bank", [Role.READ]))
        answers = [client.get("/v1/totals", headers=bearer("cbk_00000000_" + "A" * 43)) for _ in range(4)]
        assert [a.status_code for a in answers] == [401, 401, 401, 429]
        slowed = answers[-1]
        assert slowed.headers["retry-after"] == "20"  # 3 a minute: one every 20 s
        assert slowed.json()["detail"].startswith(
            "rate limit of 0.05 requests per second (burst 3) exceeded for requests without a valid API key "
            "from this address"
        )
        assert client.get("/v1/totals", headers=key).status_code == 200
        assert client.get("/v1/totals").status_code == 429  # no key at all counts as a failure too
