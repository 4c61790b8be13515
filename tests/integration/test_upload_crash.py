"""A server killed with SIGKILL in the middle of an upload leaves no partial file behind and no job; at
start-up the files dead processes left (and an older version's upload directory) are removed, while the
files of a live process sharing the data directory are not touched."""

from __future__ import annotations

import socket
import sqlite3
import time
from pathlib import Path

import pytest

from carbon.core.access import Role
from tests.conftest import SHIPPED_FACTORS
from tests.integration.serverproc import HOST, ServerProcess
from tests.keys import TEST_SECRET, issue_in_database

ROW = b"L-0000001,2021-06-30,online\n"
SENT = 8 << 20


def _start(env: dict[str, str], log: Path, key: str) -> ServerProcess:
    server = ServerProcess(env, log, key)
    try:
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
    return server


def _big_files(root: Path) -> list[Path]:
    """Files of a megabyte or more, the database aside."""
    return [
        p for p in root.rglob("*") if p.is_file() and p.stat().st_size >= 1 << 20 and "ledger" not in p.name
    ]


@pytest.mark.slow
def test_a_kill_mid_upload_leaves_nothing_and_start_up_sweeps_what_dead_processes_left(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    url = f"sqlite:///{data / 'ledger.sqlite3'}"
    env = {"CARBON_FACTORS_DIR": str(SHIPPED_FACTORS), "CARBON_DATA_DIR": str(data),
           "CARBON_DATABASE_URL": url, "CARBON_KEY_SECRET": TEST_SECRET}  # fmt: skip
    key = issue_in_database(url, roles=[Role.SUBMIT])
    server = _start(env, tmp_path / "first.log", key)
    try:
        with socket.create_connection((HOST, server.port)) as connection:
            head = (f"POST /v1/jobs HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Bearer {key}\r\n"
                    "Idempotency-Key: big\r\nContent-Type: text/csv\r\n"
                    f"Content-Length: {30 << 20}\r\n\r\n")  # fmt: skip
            connection.sendall(head.encode() + b"loan_id,disbursed_on,channel\n")
            block = ROW * 10_000
            for _ in range(SENT // len(block)):
                connection.sendall(block)
            time.sleep(1.0)  # the server has read what was sent
            server.kill()
    finally:
        server.stop()
    assert _big_files(data) == [], "a partial upload was left on disk"
    with sqlite3.connect(data / "ledger.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM jobs").fetchone() == (0,)

    legacy = data / "jobs" / "j_0123456789abcdef.csv"  # an older version's upload of a job that never was
    legacy.parent.mkdir()
    legacy.write_bytes(ROW * 100)
    dead = data / "work" / "999999-deadbeef"  # a work directory whose process is gone (its lock is free)
    dead.mkdir(parents=True)
    (dead / "owner.lock").touch()
    (dead / "j_1.csv").write_bytes(ROW * 100)

    second = _start(env, tmp_path / "second.log", key)
    try:
        assert not legacy.exists() and not dead.exists()
        (own,) = (data / "work").iterdir()
        third = _start(env, tmp_path / "third.log", key)  # a live neighbour's work directory stays
        try:
            assert own.exists()
            assert len(list((data / "work").iterdir())) == 2
        finally:
            third.stop()
    finally:
        second.stop()
