"""The HTML scope report in a real headless browser (Debian's chromium, driven by Python playwright; no
browser download): it renders, its charts have the right bars and labels, nothing is clipped, and a
screenshot is saved under test-artifacts/ for a person to look at."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from carbon.api import create_app
from carbon.registry import FactorRegistry, load_registry
from carbon.settings import Settings
from tests.api.reporting import build_factor_folder, post_year
from tests.keys import authorize

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).is_file(),
    reason="chromium is not installed (apt-get install -y chromium): the test drives the system browser",
)


@pytest.fixture(scope="module")
def html_registry(tmp_path_factory: pytest.TempPathFactory) -> FactorRegistry:
    return load_registry(build_factor_folder(tmp_path_factory.mktemp("html-factors")))


@pytest.fixture
def page_html(settings: Settings, html_registry: FactorRegistry, backend: str) -> Iterator[str]:
    with TestClient(create_app(settings, html_registry)) as client:
        authorize(client)
        post_year(client)
        saving = {"saving_id": "s1", "energy_saved": {"value": "60000", "unit": "kWh"}, "region": "CN",
                  "period": {"start": "2024-03-01", "end": "2024-03-31"}}  # fmt: skip
        saved = client.post("/v1/energy-savings", json=saving, headers={"Idempotency-Key": "s1"})
        assert saved.status_code == 201, saved.text
        response = client.get("/v1/reports/scopes", params={"from": "2024-01-01", "to": "2024-12-31"},
                              headers={"Accept": "text/html"})  # fmt: skip
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        yield response.text


_GEOMETRY = """() => {
  const out = [];
  for (const svg of document.querySelectorAll("svg.chart")) {
    const box = svg.getBoundingClientRect();
    const inside = (r) => r.left >= box.left - 0.5 && r.right <= box.right + 0.5 &&
                          r.top >= box.top - 0.5 && r.bottom <= box.bottom + 0.5;
    out.push({
      chart: svg.dataset.chart,
      bars: svg.querySelectorAll("rect.bar").length,
      labels: [...svg.querySelectorAll("text.bar-label")].map((t) => t.textContent),
      values: svg.querySelectorAll("text.value-label").length,
      clipped: [...svg.querySelectorAll("text, rect")].filter((e) => !inside(e.getBoundingClientRect()))
                 .map((e) => e.textContent || e.tagName),
      visible: box.width > 0 && box.height > 0,
    });
  }
  return out;
}"""


def test_the_html_report_renders_in_a_real_browser(page_html: str, backend: str) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    assert not any(marker in page_html for marker in ("<script", "<link", " src=", "@import", "url("))
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.set_content(page_html, wait_until="load")
            charts: list[dict[str, Any]] = page.evaluate(_GEOMETRY)
            overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
            traces = page.eval_on_selector_all("a.trace", "els => els.map(e => e.getAttribute('href'))")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"scope-report-{backend}.png"), full_page=True)
        finally:
            browser.close()
    assert requests == []  # nothing fetched: no external scripts, styles or fonts
    by_name = {c["chart"]: c for c in charts}
    assert by_name["scope-split"]["bars"] == 4
    assert by_name["scope-split"]["labels"] == ["Scope 1", "Scope 2 location", "Scope 2 market", "Scope 3"]
    assert by_name["monthly-trend"]["bars"] == 12
    assert by_name["monthly-trend"]["labels"] == [f"2024-{m:02d}" for m in range(1, 13)]
    assert by_name["avoided-beside-inventory"]["labels"] == [
        "Inventory location",
        "Inventory market",
        "Avoided",
    ]
    for chart in charts:
        assert chart["visible"], chart["chart"]
        assert chart["values"] == chart["bars"]
        assert chart["clipped"] == [], chart
    assert overflow <= 0
    assert any("line=scope2%3Amarket" in href and "from=2024-01-01" in href for href in traces)
    assert any("line=avoided%3Agreen-computing" in href for href in traces)
