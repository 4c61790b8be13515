"""Schemathesis against the app's own OpenAPI document: every operation, checked by every default check.

The checks: no 5xx, only documented status codes and content types, bodies and headers that match their
declared schemas, schema-valid requests accepted and schema-violating ones rejected. Three tests, on one
ledger: known-good requests (so every success response is checked, not only the errors random data
meets); the examples, coverage and fuzzing phases, one test per operation; the stateful phase, which
follows the ids one response gives to the next request. The run is bounded and reproducible: fixed
seeds, no example database, a modest example count.
"""

from __future__ import annotations

import itertools
import re
import sqlite3
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import positive_data_acceptance

from carbon.api import create_app
from carbon.registry import FactorRegistry
from carbon.settings import Settings
from tests.conftest import SHIPPED_FACTORS

pytestmark = pytest.mark.slow

SEED = 20240601
MAX_EXAMPLES = 40  # per operation, fuzzing phase; the coverage phase adds its own deterministic cases
STATEFUL_SCENARIOS = 25
STATEFUL_STEPS = 6

# schemathesis's default statuses that count as rejecting a schema-violating request, plus 413: a body over
# `max_body_bytes` (a `loans` array past its maxItems of 10,000 is one) is refused before it is parsed.
# That is a rejection too, and status_code_conformance still fails any operation that does not document 413.
NEGATIVE_DATA_REJECTED = [
    "400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx",
]  # fmt: skip

CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": SEED,
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "database": "none"},
        "checks": {"negative_data_rejection": {"expected-statuses": NEGATIVE_DATA_REJECTED}},
    }
)
VALIDATION_PROBLEM = "urn:problem:carbon:validation"
# The header parameter as writes.py declares it: only keys that satisfy it are replaced, so keys the
# generator made invalid on purpose still reach the service and must be rejected.
IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")


def _settings(data_dir: Path) -> Settings:
    return Settings(
        factors_dir=SHIPPED_FACTORS,
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir}/ledger.sqlite3",
        max_body_bytes=1024 * 1024,
    )


# pytest collects one test per operation, so the document is needed at import. Building an app neither
# starts it nor touches its data directory (its lifespan does), so this app, never started, only lends its
# document; the `app` fixture checks that the app under test serves the same one at /openapi.json.
# (`schemathesis.pytest.from_fixture` would load it from a fixture instead, but fails on pytest 9.2: it
# reads `Function._nodeid`, which pytest no longer has.)
DOCUMENT = create_app(_settings(Path(tempfile.gettempdir()) / "carbon-openapi-never-started")).openapi()
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)


@pytest.fixture(scope="module")
def ledger_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def app(ledger_dir: Path, shipped_registry: FactorRegistry) -> Iterator[FastAPI]:
    """One ledger for the module, so reads also meet the entries that writes recorded.

    Requests reach the app in-process; schemathesis runs its lifespan (which creates the ledger) before
    the first request of each test and ends it after the test.
    """
    application = create_app(_settings(ledger_dir), shipped_registry)
    with TestClient(application) as client:
        assert client.get("/openapi.json").json() == DOCUMENT
    yield application


def positive_data_acceptance_beyond_the_schema(ctx: Any, response: Any, case: Any) -> bool | None:
    """`positive_data_acceptance`, except for the 422s of rules a schema cannot state.

    A request can match the document and still name a factor release, a factor for its region and day,
    or a `starting_after` entry that does not exist, or a period that ends before it starts: the service
    answers 422 with a problem type of its own (`releasenotfound`, `request`, ...). Only those pass; a
    schema-valid request refused by request validation (`urn:problem:carbon:validation`), or with any
    other status, still fails, so validation stricter than the document is still caught.
    """
    if response.status_code == 422 and _problem_type(response) not in (None, VALIDATION_PROBLEM):
        return None
    return positive_data_acceptance(ctx, response, case)


CHECKS: dict[str, Any] = {
    "excluded_checks": [positive_data_acceptance],
    "additional_checks": [positive_data_acceptance_beyond_the_schema],
}


def _problem_type(response: Any) -> str | None:
    if response.headers.get("content-type", [""])[0] != "application/problem+json":
        return None
    body = response.json()
    return body.get("type") if isinstance(body, dict) else None


def fresh_idempotency_key(case: Any) -> None:
    """A new key per request: generated keys repeat, and a key reused with another body is a 422 by design.

    Assigning `case.headers` (not editing it in place) marks the headers changed, so schemathesis
    re-validates the case before deciding which responses to expect from it. (A `before_call` hook
    registered on this schema would not do: `Case.call` dispatches only the global hooks.)
    """
    for name, value in (case.headers or {}).items():
        if name.lower() == "idempotency-key" and isinstance(value, str) and IDEMPOTENCY_KEY.fullmatch(value):
            replaced = case.headers.copy()
            replaced[name] = str(uuid.uuid4())
            case.headers = replaced
            return


def _call(app: FastAPI, path: str, method: str, expected: int, **parts: Any) -> Any:
    response = schema[path][method].Case(**parts).call_and_validate(app=app, **CHECKS)
    assert response.status_code == expected, response.text
    return response.json()


def test_known_good_requests_get_documented_responses(app: FastAPI) -> None:
    """Every success response, and the replays, against its declared schema: random data rarely gets there."""
    key = {"Idempotency-Key": str(uuid.uuid4())}
    loans = [
        {"loan_id": "fuzz-L1", "disbursed_on": "2021-06-30", "channel": "online"},
        {"loan_id": "fuzz-L2", "disbursed_on": "2021-06-30", "channel": "branch", "region": "CN"},
    ]
    batch = {"batch_id": "fuzz-b1", "loans": loans}
    saving = {
        "saving_id": "fuzz-s1",
        "energy_saved": {"value": "46769.74", "unit": "MWh"},
        "period": {"start": "2021-01-01", "end": "2021-12-31"},
        "factor_id": "ant.green_computing.2021",
    }
    first = _call(app, "/v1/loan-batches", "POST", 201, headers=key, body=batch)
    assert _call(app, "/v1/loan-batches", "POST", 201, headers=key, body=batch) == first  # a replay
    saved = _call(app, "/v1/energy-savings", "POST", 201, headers={"Idempotency-Key": "fuzz-s1"}, body=saving)
    _call(app, "/v1/calculations", "POST", 200, body={"kind": "loan_batch", **batch}, query={"unit": "gCO2e"})
    _call(app, "/v1/calculations", "POST", 200, body={"kind": "energy_saving", **saving})

    entry = {"entry_id": first["entry_id"]}
    _call(app, "/v1/ledger/entries/{entry_id}", "GET", 200, path_parameters=entry, query={"unit": "kgCO2e"})
    _call(app, "/v1/ledger/entries/{entry_id}/reversal", "POST", 201, path_parameters=entry)
    _call(app, "/v1/ledger/entries/{entry_id}/reversal", "POST", 200, path_parameters=entry)  # already done
    page = _call(app, "/v1/ledger/entries", "GET", 200, query={"limit": 1})
    assert page["has_more"]
    after = {"limit": 500, "starting_after": page["data"][0]["entry_id"]}
    assert saved["entry_id"] in [
        e["entry_id"] for e in _call(app, "/v1/ledger/entries", "GET", 200, query=after)["data"]
    ]
    _call(app, "/v1/totals", "GET", 200, query={"from": "2021-01-01", "to": "2021-12-31", "book": "avoided"})

    [release] = _call(app, "/v1/factor-releases", "GET", 200)
    _call(app, "/v1/factor-releases/{release}", "GET", 200, path_parameters={"release": release["id"]})
    factors = _call(app, "/v1/factors", "GET", 200, query={"on": "2021-06-30", "release": release["id"]})
    factor = {"factor_id": factors[0]["id"]}
    _call(
        app, "/v1/factors/{factor_id}", "GET", 200, path_parameters=factor, query={"release": release["id"]}
    )


@schema.parametrize()
def test_every_operation_conforms_to_the_document(case: Any, app: FastAPI) -> None:
    fresh_idempotency_key(case)
    case.call_and_validate(app=app, **CHECKS)


def test_linked_operations_conform_to_the_document(
    app: FastAPI, ledger_dir: Path, shipped_registry: FactorRegistry, tmp_path: Path
) -> None:
    """The stateful phase: ids from one response (entries, factors) feed the next request.

    Hypothesis replays scenarios to confirm and shrink a failure, so each scenario starts from the same
    ledger: a copy of the module's (with the entries the tests above recorded) behind an app of its own.
    """
    scenarios = itertools.count()

    class Links(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            data_dir = tmp_path / f"scenario-{next(scenarios)}"
            data_dir.mkdir()
            with (
                closing(sqlite3.connect(ledger_dir / "ledger.sqlite3")) as source,
                closing(sqlite3.connect(data_dir / "ledger.sqlite3")) as copy,
            ):
                source.backup(copy)
            self.app = create_app(_settings(data_dir), shipped_registry)

        def before_call(self, case: Any) -> None:
            fresh_idempotency_key(case)

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"app": self.app}

        def validate_response(
            self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any
        ) -> None:
            case.validate_response(response, transport_kwargs=kwargs, recorder=self.recorder, **CHECKS)

    Links.run(
        settings=hypothesis.settings(
            max_examples=STATEFUL_SCENARIOS,
            stateful_step_count=STATEFUL_STEPS,
            deadline=None,
            derandomize=True,
            database=None,
        )
    )
