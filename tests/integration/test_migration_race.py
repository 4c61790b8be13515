"""Migrations started at once on a fresh database: two `carbon db upgrade`, two `carbon serve` replicas, two
upgrades in one process. All succeed, the schema is created once, and nobody prints a traceback."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from carbon.adapters.migrate import upgrade
from carbon.adapters.sql_store import create_ledger_engine
from tests.backends import BACKENDS, database_url
from tests.conftest import SHIPPED_FACTORS
from tests.integration.serverproc import CARBON_SCRIPT, ServerProcess
from tests.keys import TEST_SECRET

pytestmark = pytest.mark.slow


def _versions(url: str) -> list[str]:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as connection:
            return [row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version"))]
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_upgrades_at_once_in_one_process_both_succeed(backend: str, tmp_path: Path) -> None:
    with database_url(backend, tmp_path) as url:
        engines = [create_ledger_engine(url) for _ in range(2)]
        start = threading.Barrier(2)
        failures: list[BaseException] = []

        def migrate(index: int) -> None:
            start.wait()
            try:
                upgrade(engines[index])
            except BaseException as error:
                failures.append(error)

        try:
            threads = [threading.Thread(target=migrate, args=(i,)) for i in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120)
        finally:
            for engine in engines:
                engine.dispose()
        assert failures == []
        assert len(_versions(url)) == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_db_upgrade_commands_at_once_both_succeed(backend: str, tmp_path: Path) -> None:
    with database_url(backend, tmp_path) as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CARBON_")}
        env.update(CARBON_DATABASE_URL=url, CARBON_DATA_DIR=str(tmp_path / "data"))
        commands = [
            subprocess.Popen(
                [str(CARBON_SCRIPT), "db", "upgrade"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )  # fmt: skip
            for _ in range(2)
        ]
        outputs = [command.communicate(timeout=120) for command in commands]
        for command, (out, err) in zip(commands, outputs, strict=True):
            assert command.returncode == 0, err
            assert "Traceback" not in err
            assert "is up to date" in out
        assert len(_versions(url)) == 1


@pytest.mark.postgres
def test_two_replicas_starting_at_once_on_a_fresh_postgresql_both_serve(tmp_path: Path) -> None:
    with database_url("postgres", tmp_path) as url:
        env = {"CARBON_FACTORS_DIR": str(SHIPPED_FACTORS), "CARBON_DATABASE_URL": url,
               "CARBON_KEY_SECRET": TEST_SECRET}  # fmt: skip
        servers = [
            ServerProcess({**env, "CARBON_DATA_DIR": str(tmp_path / f"replica-{i}")}, tmp_path / f"r{i}.log")
            for i in range(2)
        ]
        try:
            for server in servers:
                server.wait_ready(timeout=60)
                assert "Traceback" not in server.tail(100_000)
        finally:
            for server in servers:
                server.stop()
        assert len(_versions(url)) == 1
