"""`carbon serve` and its bind: open mode stays on loopback unless allowed, and uvicorn believes
X-Forwarded-For only from the configured proxies."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner

from carbon.cli import app
from carbon.settings import get_settings
from tests.conftest import SHIPPED_FACTORS

runner = CliRunner()


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[dict[str, Any]]]:
    """The keyword arguments of every uvicorn.run that `carbon serve` reaches (nothing is served)."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda _app, **kwargs: calls.append(kwargs))
    monkeypatch.setattr("signal.signal", lambda *_args: None)
    for name in ("CARBON_AUTH", "CARBON_TRUSTED_PROXIES", "CARBON_OPEN_BEYOND_LOOPBACK", "CARBON_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CARBON_FACTORS_DIR", str(SHIPPED_FACTORS))
    monkeypatch.setenv("CARBON_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield calls
    get_settings.cache_clear()


def _serve(monkeypatch: pytest.MonkeyPatch, *args: str, **env: str) -> Any:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    return runner.invoke(app, ["serve", *args])


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "carbon.example"])
def test_open_mode_refuses_to_listen_beyond_loopback(
    served: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, host: str
) -> None:
    result = _serve(monkeypatch, "--host", host, CARBON_AUTH="open")
    assert result.exit_code == 1, result.output
    assert "listens only on loopback" in result.output
    assert "CARBON_OPEN_BEYOND_LOOPBACK" in result.output
    assert served == []


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_open_mode_serves_on_loopback(served: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch,
                                      host: str) -> None:  # fmt: skip
    result = _serve(monkeypatch, "--host", host, CARBON_AUTH="open")
    assert result.exit_code == 0, result.output
    assert served[0]["host"] == host


def test_open_mode_beyond_loopback_when_explicitly_allowed(
    served: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _serve(monkeypatch, "--host", "0.0.0.0", CARBON_AUTH="open", CARBON_OPEN_BEYOND_LOOPBACK="true")
    assert result.exit_code == 0, result.output
    assert served[0]["host"] == "0.0.0.0"


def test_keys_mode_serves_on_any_address(
    served: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _serve(monkeypatch, "--host", "0.0.0.0").exit_code == 0
    assert served[0]["host"] == "0.0.0.0"


def test_forwarded_headers_are_not_believed_by_default(
    served: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _serve(monkeypatch).exit_code == 0
    assert served[0]["proxy_headers"] is False


def test_forwarded_headers_are_believed_from_the_configured_proxies(
    served: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _serve(monkeypatch, CARBON_TRUSTED_PROXIES="10.0.0.0/8, 127.0.0.1")
    assert result.exit_code == 0, result.output
    assert served[0]["proxy_headers"] is True
    assert served[0]["forwarded_allow_ips"] == ["10.0.0.0/8", "127.0.0.1"]


def test_a_trusted_proxy_must_be_an_address(
    served: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _serve(monkeypatch, CARBON_TRUSTED_PROXIES="proxy.internal")
    assert result.exit_code == 1
    assert "CARBON_TRUSTED_PROXIES" in result.output and "proxy.internal" in result.output
    assert served == []
