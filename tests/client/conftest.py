"""The client against the real app in-process (TestClient runs its lifespan), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from carbon.api import create_app
from carbon.client import CarbonClient, RetryPolicy
from carbon.settings import Settings
from tests.backends import BACKENDS, database_url
from tests.conftest import SHIPPED_FACTORS
from tests.keys import authorize

FAST = RetryPolicy(max_attempts=4, backoff=0.01, max_backoff=0.05, total_timeout=5.0)
MAX_BODY = 64 * 1024


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(backend: str, tmp_path: Path) -> Iterator[Settings]:
    with database_url(backend, tmp_path) as url:
        yield Settings(
            factors_dir=SHIPPED_FACTORS, data_dir=tmp_path, database_url=url, max_body_bytes=MAX_BODY
        )


@pytest.fixture
def api(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        authorize(test_client)
        yield test_client


@pytest.fixture
def sent(api: TestClient) -> list[str]:
    """Every request the client sends through `api`, as 'METHOD path'."""
    seen: list[str] = []
    api.event_hooks["request"].append(lambda request: seen.append(f"{request.method} {request.url.path}"))
    return seen


@pytest.fixture
def client(api: TestClient) -> CarbonClient:
    return CarbonClient(http=api, retry=FAST, sleep=lambda _: None)
