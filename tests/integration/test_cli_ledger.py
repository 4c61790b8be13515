"""The CLI finds its ledger as the service does, from any folder, says which one it uses, never creates one
for a read command, and names an unknown tenant; its flags are flags and it knows its version."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.main import get_command
from typer.testing import CliRunner

from carbon.adapters.sql_store import SqlLedger, create_ledger_engine
from carbon.cli import app
from carbon.settings import get_settings
from tests.backends import database_url
from tests.conftest import SHIPPED_FACTORS
from tests.integration.serverproc import CARBON_SCRIPT, ServerProcess

runner = CliRunner()
LOANS = [{"loan_id": f"C-{n}", "disbursed_on": "2021-06-30", "channel": "online"} for n in range(3)]
REPORT = ["report", "--from", "2021-01-01", "--to", "2021-12-31"]


@pytest.fixture
def per_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No CARBON_DATA_DIR nor CARBON_DATABASE_URL: the per-user data directory (under a temporary
    XDG_DATA_HOME) decides; the path of the ledger file it implies."""
    for name in list(os.environ):
        if name.startswith("CARBON_") and not name.startswith("CARBON_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("CARBON_FACTORS_DIR", str(SHIPPED_FACTORS))
    get_settings.cache_clear()
    yield tmp_path / "xdg" / "carbon-ledger" / "carbon.sqlite3"
    get_settings.cache_clear()


def carbon(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_the_service_and_the_cli_share_the_per_user_ledger_from_any_folder(
    per_user: Path, tmp_path: Path
) -> None:
    env = {"XDG_DATA_HOME": os.environ["XDG_DATA_HOME"], "CARBON_AUTH": "open",
           "CARBON_FACTORS_DIR": str(SHIPPED_FACTORS), "CARBON_JSON_LOGS": "false"}  # fmt: skip
    server = ServerProcess(env, tmp_path / "serve.log")
    try:
        server.wait_ready()
        recorded = httpx.post(f"{server.base_url}/v1/loan-batches", json={"batch_id": "c", "loans": LOANS},
                              headers={"Idempotency-Key": "c"}, timeout=30)  # fmt: skip
        assert recorded.status_code == 201, recorded.text
    finally:
        server.stop()
    elsewhere = tmp_path / "another" / "folder"
    elsewhere.mkdir(parents=True)
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("CARBON_")}
    child_env.update(env)
    done = subprocess.run([str(CARBON_SCRIPT), *REPORT], cwd=elsewhere, env=child_env, capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert json.dumps(report["avoided"]).count("0.0001044") >= 1  # 3 x 34.80 g, in tCO2e
    assert f"carbon: ledger sqlite:///{per_user} (the per-user data directory)" in done.stderr
    assert not (elsewhere / "data").exists()
    served = (tmp_path / "serve.log").read_text()
    assert "carbon: serving on" in served and str(per_user) in served


@pytest.mark.parametrize("command", [REPORT, ["keys", "list"], ["keys", "revoke", "cbk_00000000"]])
def test_a_read_command_never_creates_a_ledger(per_user: Path, command: list[str]) -> None:
    code, out, err = carbon(*command)
    assert code == 1 and out == ""
    assert err.splitlines()[-1] == (
        f"carbon: error: no ledger at {per_user}; a read command does not create one (point CARBON_DATA_DIR "
        "or CARBON_DATABASE_URL at the service's ledger, or record something first)"
    )
    assert not per_user.parent.exists()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_an_empty_database_is_not_a_ledger_to_read(
    per_user: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    with database_url(backend, tmp_path) as url:
        if backend == "sqlite":
            Path(url.removeprefix("sqlite:///")).touch()  # an empty file where the ledger should be
        monkeypatch.setenv("CARBON_DATABASE_URL", url)
        get_settings.cache_clear()
        code, _, err = carbon(*REPORT)
        assert code == 1
        assert "a read command does not create one" in err.splitlines()[-1]
        assert "(CARBON_DATABASE_URL)" in err.splitlines()[0]
        assert carbon("db", "upgrade")[0] == 0
        code, out, err = carbon(*REPORT)  # a ledger now, but nothing in it for the default tenant yet
        assert (code, out) == (1, "")
        assert err.splitlines()[-1] == (
            "carbon: error: tenant 'default' has no entries, jobs or API keys in this ledger "
            "(tenants: none yet)"
        )


def test_an_unknown_tenant_is_a_one_line_error(per_user: Path, tmp_path: Path) -> None:
    loans = tmp_path / "loans.csv"
    loans.write_text("loan_id,disbursed_on,channel\nT-1,2021-06-30,online\n", encoding="utf-8")
    code, _, err = carbon("ingest", str(loans), "--tenant", "bank-a")
    assert code == 0, err
    assert carbon(*REPORT, "--tenant", "bank-a")[0] == 0
    code, out, err = carbon(*REPORT, "--tenant", "nosuch")
    assert (code, out) == (1, "")
    assert err.splitlines()[-1] == (
        "carbon: error: tenant 'nosuch' has no entries, jobs or API keys in this ledger (tenants: bank-a)"
    )
    code, _, err = carbon("keys", "list", "--tenant", "nosuch")
    assert code == 1 and "tenant 'nosuch' has no entries" in err


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command path of a click command tree."""
    yield path
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def test_boolean_options_are_shown_as_flags() -> None:
    paths = list(_commands(get_command(app)))
    assert ("calculate", "energy") in paths and len(paths) > 15
    for path in paths:
        result = runner.invoke(app, [*path, "--help"], terminal_width=120)
        assert result.exit_code == 0, (path, result.output)
        assert "<bool>" not in result.output and "BOOLEAN" not in result.output, path
    energy = runner.invoke(app, ["calculate", "energy", "--help"], terminal_width=120).output
    assert re.search(r"^\s+--json\s+Print JSON for machines\.", energy, re.MULTILINE), energy


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert (result.exit_code, result.stdout) == (0, f"carbon {version('carbon-ledger')}\n")


def test_a_locked_ledger_is_a_one_line_busy_error(
    per_user: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loans = tmp_path / "loans.csv"
    loans.write_text("loan_id,disbursed_on,channel\nT-1,2021-06-30,online\n", encoding="utf-8")
    assert carbon("db", "upgrade")[0] == 0
    monkeypatch.setenv("CARBON_DB_LOCK_WAIT_SECONDS", "0.5")
    get_settings.cache_clear()
    holder = create_ledger_engine(f"sqlite:///{per_user}")
    try:
        with SqlLedger(holder).write("bank-a"):  # another process's write, as SQLite sees it
            code, out, err = carbon("ingest", str(loans), "--tenant", "bank-a")
    finally:
        holder.dispose()
    assert (code, out) == (1, "")
    assert err.splitlines()[-1].startswith("carbon: error: ") and "busy" in err.splitlines()[-1], err
    assert "Traceback" not in err
    assert carbon("ingest", str(loans), "--tenant", "bank-a")[0] == 0  # free again: recorded
