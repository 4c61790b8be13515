"""`carbon keys create|list|revoke` against a real ledger database, and the running service honouring them."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from carbon.api import create_app
from carbon.cli import app
from carbon.cli.common import safe_url
from carbon.services.keys import KEY_PATTERN
from carbon.settings import Settings, get_settings
from tests.backends import BACKENDS, database_url
from tests.conftest import SHIPPED_FACTORS
from tests.integration.serverproc import CARBON_SCRIPT
from tests.keys import TEST_SECRET, bearer

runner = CliRunner()


@pytest.fixture(params=BACKENDS)
def configured(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """CARBON_* pointing at an empty database of the backend; the URL."""
    with database_url(str(request.param), tmp_path) as url:
        monkeypatch.setenv("CARBON_DATABASE_URL", url)
        monkeypatch.setenv("CARBON_DATA_DIR", str(tmp_path))
        monkeypatch.setenv("CARBON_FACTORS_DIR", str(SHIPPED_FACTORS))
        monkeypatch.setenv("CARBON_KEY_SECRET", TEST_SECRET)
        get_settings.cache_clear()
        yield url
        get_settings.cache_clear()


def carbon(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_create_list_revoke_and_the_service_follows(configured: str) -> None:
    code, out, err = carbon("keys", "create", "--tenant", "bank-a", "--role", "submit", "--name", "loans app")
    assert code == 0, err
    key = out.strip()
    assert KEY_PATTERN.match(key), out
    prefix = key[:12]
    assert f"created {prefix} for tenant bank-a (submit)" in err and "cannot be shown again" in err

    code, out, _ = carbon("keys", "list", "--json")
    assert code == 0
    [listed] = json.loads(out)
    assert listed["prefix"] == prefix and listed["tenant"] == "bank-a" and listed["roles"] == ["submit"]
    assert listed["name"] == "loans app" and listed["revoked_at"] is None
    assert key[13:] not in out  # the secret part is never shown again

    settings = Settings(factors_dir=SHIPPED_FACTORS, database_url=configured, key_secret=TEST_SECRET)
    with TestClient(create_app(settings)) as client:
        assert client.get("/v1/totals", headers=bearer(key)).status_code == 200
        code, out, _ = carbon("keys", "revoke", prefix)
        assert (code, out.strip()) == (0, f"revoked {prefix} (tenant bank-a)")
        assert client.get("/v1/totals", headers=bearer(key)).status_code == 401

    code, out, _ = carbon("keys", "list", "--tenant", "bank-a", "--json")
    assert json.loads(out)[0]["revoked_at"] is not None
    code, out, err = carbon("keys", "list", "--tenant", "bank-b", "--json")
    assert (code, out) == (1, "")
    assert err.splitlines()[-1] == (
        "carbon: error: tenant 'bank-b' has no entries, jobs or API keys in this ledger (tenants: bank-a)"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["create", "--tenant", "Bank A", "--role", "read"],
            "tenant 'Bank A': use 1-64 of a-z 0-9 . _ - starting with a letter or digit",
        ),
        (["revoke", "cbk_nothex!"], "not an API key or key prefix (expected cbk_ and 8 hex digits)"),
        (["revoke", "cbk_0000abcd"], "no API key with prefix cbk_0000abcd"),
    ],
)
def test_mistakes_get_one_line_and_exit_1(configured: str, args: list[str], message: str) -> None:
    assert carbon("db", "upgrade")[0] == 0
    done = subprocess.run([str(CARBON_SCRIPT), "keys", *args], capture_output=True, text=True, env=os.environ)
    assert (done.returncode, done.stdout) == (1, "")
    ledger = f"carbon: ledger {safe_url(configured)} (CARBON_DATABASE_URL)"
    assert done.stderr == f"{ledger}\ncarbon: error: {message}\n"


def test_revoking_without_a_ledger_creates_none(configured: str) -> None:
    code, out, err = carbon("keys", "revoke", "cbk_0000abcd")
    assert (code, out) == (1, "")
    assert err.splitlines()[-1].startswith("carbon: error: no ledger at ")


def test_an_unknown_role_is_refused_by_the_command_line(configured: str) -> None:
    done = subprocess.run([str(CARBON_SCRIPT), "keys", "create", "--tenant", "bank", "--role", "owner"],
                          capture_output=True, text=True, env=os.environ)  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    said = re.sub(r"[\s│]+", " ", done.stderr)  # the usage error is boxed and wrapped to the terminal
    assert "Invalid value for '--role': Value error, 'owner' is not one of 'read', 'submit', 'admin'" in said


def test_without_a_configured_secret_one_is_made_once_and_kept(
    configured: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CARBON_KEY_SECRET")
    get_settings.cache_clear()
    code, out, _ = carbon("keys", "create", "--tenant", "bank", "--role", "read")
    secret_file = tmp_path / "key-secret"
    assert code == 0 and secret_file.stat().st_mode & 0o777 == 0o600
    secret = secret_file.read_bytes()
    assert len(secret) == 64 and carbon("keys", "create", "--tenant", "bank", "--role", "read")[0] == 0
    assert secret_file.read_bytes() == secret
    settings = Settings(factors_dir=SHIPPED_FACTORS, database_url=configured, data_dir=tmp_path)
    with TestClient(create_app(settings)) as client:
        assert client.get("/v1/totals", headers=bearer(out.strip())).status_code == 200


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("CARBON_AUTH", "closed", "CARBON_AUTH: Input should be 'keys' or 'open'"),
        (
            "CARBON_REQUEST_TIMEOUT_SECONDS",
            "0",
            "CARBON_REQUEST_TIMEOUT_SECONDS: Input should be greater than 0",
        ),
        (
            "CARBON_KEY_SECRET",
            "short",
            "CARBON_KEY_SECRET: Value should have at least 32 items after validation, not 5",
        ),
    ],
)
def test_a_bad_setting_is_one_line_before_anything_starts(variable: str, value: str, message: str) -> None:
    env = {**os.environ, variable: value}
    done = subprocess.run([str(CARBON_SCRIPT), "serve"], capture_output=True, text=True, env=env, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (1, "", f"carbon: error: {message}\n")


def test_ingest_and_report_act_for_the_tenant_given(configured: str, tmp_path: Path) -> None:
    loans = tmp_path / "loans.csv"
    loans.write_text("loan_id,disbursed_on,channel\nT-1,2021-06-30,online\nT-2,2021-06-30,online\n")
    code, out, err = carbon("ingest", str(loans), "--tenant", "bank-a", "--json", "--unit", "mgCO2e")
    assert code == 0, err
    assert json.loads(out)["loans_counted"] == 2
    a, b = (
        carbon("keys", "create", "--tenant", t, "--role", "read")[1].strip() for t in ("bank-a", "bank-b")
    )
    settings = Settings(factors_dir=SHIPPED_FACTORS, database_url=configured, key_secret=TEST_SECRET)
    with TestClient(create_app(settings)) as client:
        seen = {k: client.get("/v1/ledger/entries", headers=bearer(k)).json()["data"] for k in (a, b)}
    assert [e["client_reference"] for e in seen[a]] == ["loans.csv"] and seen[b] == []

    report = tmp_path / "report.json"
    for tenant, expected in (("bank-a", "69600"), ("bank-b", "0")):
        code, _, err = carbon("report", "--from", "2021-01-01", "--to", "2021-12-31", "--tenant", tenant,
                              "--unit", "mgCO2e", "--output", str(report))  # fmt: skip
        assert code == 0, err
        assert json.loads(report.read_text())["avoided"]["total"]["value"] == expected
    assert carbon("ingest", str(loans), "--tenant", "Bank A")[0] == 1
