"""scripts/audit: a vulnerability found fails it, listed; an unusable advisory service is NOT DONE."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PIP_AUDIT = Path(sys.executable).with_name("pip-audit")
VULNERABLE = "xlsxwriter"
ADVISORY = {
    "id": "GHSA-test-0000-0000",
    "summary": "a test advisory",
    "affected": [{"package": {"name": VULNERABLE, "ecosystem": "PyPI"},
                  "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "99.0"}]}]}],
}  # fmt: skip


class Advisories(BaseHTTPRequestHandler):
    """An OSV query endpoint on loopback: one advisory for one package, or a broken service."""

    status = 200
    queried: list[str] = []

    def do_POST(self) -> None:
        query = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.queried.append(query["package"]["name"])
        body = {"vulns": [ADVISORY]} if query["package"]["name"] == VULNERABLE else {}
        payload = json.dumps(body).encode() if self.status == 200 else b"unavailable"
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


Service = tuple[str, type[Advisories]]


@pytest.fixture
def advisories() -> Iterator[Service]:
    handler = type("Handler", (Advisories,), {"queried": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1/query", handler
    server.shutdown()
    server.server_close()


def audit(url: str, lock: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env |= {"PIP_AUDIT": str(PIP_AUDIT), "CARBON_AUDIT_SERVICE": "osv", "CARBON_AUDIT_OSV_URL": url}
    script = [str(ROOT / "scripts" / "audit"), str(lock)]
    return subprocess.run(script, env=env, capture_output=True, text=True, timeout=120)


def small_lock(tmp_path: Path, names: tuple[str, ...]) -> Path:
    """Three pins of the runtime lock, hashes and all, so the audit stays quick."""
    text = (ROOT / "requirements" / "runtime.txt").read_text()
    blocks = [block for block in text.split("\n") if block]
    keep: list[str] = []
    taking = False
    for line in blocks:
        if not line.startswith(" "):
            taking = line.split("==")[0] in names
        if taking and not line.lstrip().startswith("#"):
            keep.append(line)
    lock = tmp_path / "lock.txt"
    lock.write_text("\n".join(keep) + "\n")
    return lock


def test_a_known_vulnerability_fails_the_audit_and_is_listed(advisories: Service, tmp_path: Path) -> None:
    url, handler = advisories
    lock = small_lock(tmp_path, ("alembic", VULNERABLE, "h11"))
    result = audit(url, lock, tmp_path)
    assert result.returncode == 1, result.stderr
    assert "xlsxwriter==3.3.1: GHSA-test-0000-0000 (fixed in 99.0)" in result.stdout
    assert "1 known vulnerabilities" in result.stderr
    assert sorted(handler.queried) == ["alembic", "h11", "xlsxwriter"]


def test_no_advisory_passes_saying_how_many_pins_were_looked_up(advisories: Service, tmp_path: Path) -> None:
    url, _ = advisories
    result = audit(url, small_lock(tmp_path, ("alembic", "h11")), tmp_path)
    assert result.returncode == 0, result.stderr
    assert "audit: 2 pins of" in result.stdout and "no known vulnerabilities" in result.stdout


def test_an_advisory_service_that_fails_is_not_done_not_a_pass(advisories: Service, tmp_path: Path) -> None:
    url, handler = advisories
    handler.status = 503
    result = audit(url, small_lock(tmp_path, ("alembic", "h11")), tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("audit: NOT DONE: osv could not be used")


def test_an_unreachable_advisory_service_is_not_done(tmp_path: Path) -> None:
    result = audit("http://127.0.0.1:9/v1/query", small_lock(tmp_path, ("h11",)), tmp_path)
    assert result.returncode == 2
    assert "audit: NOT DONE" in result.stderr
