"""The app through TestClient (the lifespan runs), on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from carbon.api import create_app
from carbon.settings import Settings
from tests.backends import BACKENDS, database_url
from tests.conftest import SHIPPED_FACTORS
from tests.keys import authorize


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(backend: str, tmp_path: Path) -> Iterator[Settings]:
    with database_url(backend, tmp_path) as url:
        yield Settings(
            factors_dir=SHIPPED_FACTORS, data_dir=tmp_path, database_url=url, max_body_bytes=1024 * 1024
        )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        authorize(test_client)
        yield test_client
