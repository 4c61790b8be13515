"""API keys for tests: issued through the app's own key store, sent as the service expects them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from carbon.adapters.key_store import SqlKeys
from carbon.adapters.migrate import upgrade
from carbon.adapters.sql_store import create_ledger_engine
from carbon.api.state import AppState
from carbon.core.access import Role
from carbon.services.keys import issue_key


def issue(client: TestClient, tenant: str = "default", roles: Iterable[Role] = (Role.ADMIN,)) -> str:
    """A new key of the started app's key store."""
    state: AppState = client.app.state.carbon  # type: ignore[attr-defined]
    return issue_key(state.keys, state.key_secret, tenant, roles, "test", datetime.now(UTC)).plaintext


def bearer(key: str) -> dict[str, str]:
    """The Authorization header for a key."""
    return {"Authorization": f"Bearer {key}"}


def authorize(client: TestClient, tenant: str = "default", roles: Iterable[Role] = (Role.ADMIN,)) -> str:
    """Issue a key and send it with every later request of the client."""
    key = issue(client, tenant, roles)
    client.headers.update(bearer(key))
    return key


TEST_SECRET = "test-secret-" + "0" * 40


def issue_in_database(
    url: str, tenant: str = "default", roles: Iterable[Role] = (Role.ADMIN,), secret: str = TEST_SECRET
) -> str:
    """A key written straight into a ledger database, for a server started with CARBON_KEY_SECRET=secret."""
    engine = create_ledger_engine(url)
    try:
        upgrade(engine)
        return issue_key(SqlKeys(engine), secret.encode(), tenant, roles, "test", datetime.now(UTC)).plaintext
    finally:
        engine.dispose()
