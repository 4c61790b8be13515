"""The per-batch JSON endpoint with 1,000-loan batches, in process, beside a naive FastAPI endpoint.

Ours is carbon.api.create_app over a fresh SQLite ledger with the shipped factors: POST /v1/loan-batches
records each batch (fresh loan ids and a fresh Idempotency-Key per request), POST /v1/calculations
previews one (records nothing). The baseline is the naive way to write the endpoint: a plain FastAPI
route that validates the same body with pydantic models (a list of Loan) and sums it. Both are called the
same way: sequential requests through httpx.AsyncClient over ASGITransport on one event loop, so the
figures are the framework and the endpoint, without sockets.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from itertools import count
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from benchmarks.conftest import FACTORS, MG_PER_ONLINE_LOAN_2021
from benchmarks.generate import PRODUCTS, REGIONS, generate
from carbon.api import create_app
from carbon.core.access import Role
from carbon.services.keys import issue_key
from carbon.settings import Settings

BATCH = 1_000
REQUESTS = 100  # per round
ROUNDS = 5
BASE = "http://bench"


class NaiveLoan(BaseModel):
    loan_id: str
    disbursed_on: date
    channel: Literal["online", "branch"]
    product: str | None = None
    region: str | None = None


class NaiveBatch(BaseModel):
    batch_id: str
    loans: list[NaiveLoan]


def naive_app() -> FastAPI:
    app = FastAPI()

    @app.post("/naive")
    def naive(body: NaiveBatch) -> dict[str, int]:
        return {"mg": MG_PER_ONLINE_LOAN_2021 * sum(loan.channel == "online" for loan in body.loans)}

    return app


def batches(total: int) -> Iterator[tuple[bytes, int]]:
    """JSON bodies of 1,000 distinct loans each (ids never repeat in a session), with their online count."""
    loans = generate(total * BATCH, seed=7)
    ids = loans.loan_ids().to_pylist()
    dates = loans.date_text().to_pylist()
    regions: list[str | None] = [*REGIONS, None]
    products = list(PRODUCTS)
    for b in range(total):
        rows = range(b * BATCH, (b + 1) * BATCH)
        body = {
            "batch_id": f"bench-{b}",
            "loans": [
                {
                    "loan_id": f"H{ids[i]}",
                    "disbursed_on": dates[i],
                    "channel": "online" if loans.online[i] else "branch",
                    "product": products[loans.products[i]],
                    "region": regions[loans.regions[i]],
                }
                for i in rows
            ],
        }
        yield json.dumps(body).encode(), int(loans.online[rows.start : rows.stop].sum())


class Runner:
    """One event loop for the whole benchmark: the app's lifespan is entered once, requests run per round."""

    def __init__(self, app: FastAPI, lifespan: bool) -> None:
        self.loop = asyncio.new_event_loop()
        self.app = app
        self.lifespan = app.router.lifespan_context(app) if lifespan else None
        if self.lifespan is not None:
            self.loop.run_until_complete(self.lifespan.__aenter__())
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)

    def run(self, requests: list[tuple[str, bytes, dict[str, str]]]) -> list[httpx.Response]:
        async def send() -> list[httpx.Response]:
            return [
                await self.client.post(url, content=body, headers=headers) for url, body, headers in requests
            ]

        return self.loop.run_until_complete(send())

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        if self.lifespan is not None:
            self.loop.run_until_complete(self.lifespan.__aexit__(None, None, None))
        self.loop.close()


@pytest.fixture(scope="module")
def bodies() -> list[tuple[bytes, int]]:
    return list(batches((ROUNDS + 1) * REQUESTS))


def rounds_of(items: list[Any]) -> Iterator[tuple[tuple[list[Any]], dict[str, Any]]]:
    """pedantic setup: each round gets the next REQUESTS items (fresh loans for recording endpoints)."""
    for start in count(0, REQUESTS):
        yield (items[start : start + REQUESTS],), {}


JSON = {"content-type": "application/json"}


@pytest.mark.parametrize("endpoint", ["ours_loan_batches", "ours_calculations", "naive_pydantic"])
def test_batch_endpoint(
    benchmark: Any, tmp_path: Path, bodies: list[tuple[bytes, int]], endpoint: str
) -> None:
    benchmark.group = f"http-{BATCH}-loan-batches"
    benchmark.extra_info.update(requests_per_round=REQUESTS, loans_per_request=BATCH, endpoint=endpoint)
    if endpoint == "naive_pydantic":
        runner = Runner(naive_app(), lifespan=False)
        requests = [("/naive", body, JSON) for body, _ in bodies]
    else:
        # with an API key, as in production (its lookup is part of every request); no rate limit
        settings = Settings(database_url=f"sqlite:///{tmp_path / 'ledger.sqlite3'}", factors_dir=FACTORS,
                            data_dir=tmp_path, rate_limit_per_second=0)  # fmt: skip
        runner = Runner(create_app(settings), lifespan=True)
        state = runner.app.state.carbon
        key = issue_key(state.keys, state.key_secret, "bench", [Role.SUBMIT], "bench", datetime.now(UTC))
        auth = {**JSON, "Authorization": f"Bearer {key.plaintext}"}
        if endpoint == "ours_loan_batches":
            requests = [
                ("/v1/loan-batches?unit=mgCO2e", body, {**auth, "Idempotency-Key": f"bench-{i}"})
                for i, (body, _) in enumerate(bodies)
            ]
        else:
            requests = [
                ("/v1/calculations?unit=mgCO2e", b'{"kind":"loan_batch",' + body[1:], auth)
                for body, _ in bodies
            ]
    setups = rounds_of(requests)
    try:
        responses = benchmark.pedantic(
            runner.run, setup=lambda: next(setups), rounds=ROUNDS, iterations=1, warmup_rounds=1
        )
    finally:
        runner.close()
    expected = {"ours_loan_batches": 201, "ours_calculations": 200, "naive_pydantic": 200}[endpoint]
    assert [r.status_code for r in responses] == [expected] * REQUESTS, responses[0].text[:300]
    last = ROUNDS * REQUESTS  # the last round used bodies[last : last + REQUESTS]
    for response, (_, online) in zip(responses, bodies[last : last + REQUESTS], strict=True):
        mg = (
            response.json()["mg"]
            if endpoint == "naive_pydantic"
            else int(response.json()["avoided"]["value"])
        )
        assert mg == online * MG_PER_ONLINE_LOAN_2021
