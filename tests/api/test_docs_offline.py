"""/docs and /redoc render with no network at all (their scripts ship in a package), and CARBON_DOCS says
whether they are served: on by default in open mode only.

The browser is Debian's chromium driven by playwright; every request the page makes is answered by the app
in-process, and any request for another host is refused and recorded, so a page that needs a CDN fails.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from carbon.api import create_app
from carbon.settings import Settings

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--host-resolver-rules=MAP * ~NOTFOUND"]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ORIGIN = "http://carbon.invalid"
URL = re.compile(r"""(?:src|href)=["']?(https?:)?//""")

browser_needed = pytest.mark.skipif(
    not Path(CHROMIUM).is_file(),
    reason="chromium is not installed (apt-get install -y chromium): the test drives the system browser",
)


@pytest.fixture
def docs_client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update={"docs": True}))) as client:
        yield client


def operation_count(client: TestClient) -> int:
    paths = client.get("/openapi.json").json()["paths"]
    return sum(1 for ops in paths.values() for method in ops if method != "parameters")


def render(client: TestClient, path: str, ready: str, count: str, shot: str) -> tuple[int, list[str]]:
    """Open the page in chromium with the app as the only server; the number of elements matching `count`
    once `ready` shows, and the requests refused because they left the app."""
    sync_api = pytest.importorskip("playwright.sync_api")
    refused: list[str] = []

    def serve(route: Any) -> None:
        request = route.request
        if not request.url.startswith(ORIGIN + "/"):
            refused.append(request.url)
            route.abort()
            return
        answer = client.request(request.method, request.url.removeprefix(ORIGIN))
        route.fulfill(status=answer.status_code, body=answer.content,
                      headers={"content-type": answer.headers.get("content-type", "text/plain")})  # fmt: skip

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.route("**/*", serve)
            page.goto(ORIGIN + path, wait_until="load")
            page.wait_for_selector(ready, timeout=30_000)
            found = page.locator(count).count()
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / shot), full_page=False)
        finally:
            browser.close()
    return found, refused


@browser_needed
def test_swagger_ui_renders_every_operation_offline(docs_client: TestClient, backend: str) -> None:
    found, refused = render(docs_client, "/docs", ".opblock", ".opblock", f"docs-swagger-{backend}.png")
    assert refused == []
    assert found == operation_count(docs_client) >= 19


@browser_needed
def test_redoc_renders_every_operation_offline(docs_client: TestClient, backend: str) -> None:
    found, refused = render(docs_client, "/redoc", "[data-section-id^='operation/']",
                            "[data-section-id^='operation/']", f"docs-redoc-{backend}.png")  # fmt: skip
    assert refused == []
    assert found == operation_count(docs_client)


def test_the_pages_name_no_other_host(docs_client: TestClient) -> None:
    for path in ("/docs", "/redoc"):
        page = docs_client.get(path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert not URL.search(page.text), page.text
        assert "fonts.googleapis" not in page.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png"):
        assert docs_client.get(f"/docs-assets/{asset}").status_code == 200


@pytest.mark.parametrize(
    ("auth", "docs", "served"),
    [("keys", None, False), ("open", None, True), ("keys", True, True), ("open", False, False)],
)
def test_carbon_docs_decides_and_defaults_to_open_mode_only(
    settings: Settings, auth: str, docs: bool | None, served: bool
) -> None:
    configured = settings.model_copy(update={"auth": auth, "docs": docs})
    with TestClient(create_app(configured), raise_server_exceptions=False) as client:
        for path in ("/docs", "/redoc", "/docs-assets/swagger-ui-bundle.js"):
            response = client.get(path)
            assert response.status_code == (200 if served else 404), (path, auth, docs)
            if not served:
                assert response.headers["content-type"] == "application/problem+json"
