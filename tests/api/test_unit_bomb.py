"""A unit string that would cost pint hours of big-integer arithmetic is a fast 422 on every unit field."""

from __future__ import annotations

import uuid
from typing import Any
from unittest import mock

import pytest
from fastapi.testclient import TestClient

from carbon.core.units import ureg
from tests.api.test_green_computing import DECEMBER, FLEET_CLAIM, WINDOWS
from tests.api.test_loan_batches import entry_count

BOMB = "kWh*km^150000/mi^150000"
RULE = "exponents must be whole numbers from -4 to 4"


def _quantity(unit: str) -> dict[str, str]:
    return {"value": "1", "unit": unit}


SERIES: dict[str, Any] = {"region": "CN", "points": WINDOWS["series"]["points"]}  # type: ignore[index]
SAVING = {"saving_id": "bomb", "period": DECEMBER, "region": "CN", "energy_saved": _quantity(BOMB)}
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "energy saving": ("/v1/energy-savings", SAVING),
    "calculation": ("/v1/calculations", {"kind": "energy_saving", **SAVING}),
    "scenario energy": (
        "/v1/calculations",
        {"kind": "energy_saving", **FLEET_CLAIM, "actual": {"energy": _quantity(BOMB)}},
    ),
    "windows profile": ("/v1/carbon-aware-windows", {**WINDOWS, "profile": {"unit": BOMB, "steps": ["1"]}}),
    "windows series": (
        "/v1/carbon-aware-windows",
        {**WINDOWS, "series": {**SERIES, "unit": BOMB}},
    ),
    "windows csv": (
        "/v1/carbon-aware-windows",
        {
            **{k: v for k, v in WINDOWS.items() if k != "series"},
            "series_csv": f"start,intensity,unit\n2026-11-22T00:00:00Z,1,{BOMB}\n",
        },
    ),
    "loan intensity": ("/v1/loan-intensity", {"period": DECEMBER, "energy": _quantity(BOMB), "region": "CN"}),
    "activities": (
        "/v1/activities",
        {
            "batch_id": "a-bomb",
            "activities": [
                {
                    "activity_id": "e-1",
                    "kind": "electricity",
                    "date": "2021-06-30",
                    "region": "CN",
                    "quantity": _quantity(BOMB),
                }
            ],
        },
    ),  # fmt: skip
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_unit_bomb_is_a_fast_422_naming_the_rule(client: TestClient, case: str) -> None:
    path, body = CASES[case]
    with mock.patch.object(ureg, "parse_units", wraps=ureg.parse_units) as pint_parser:
        response = client.post(path, json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert RULE in response.json()["detail"]
    assert BOMB not in [
        call.args[0] for call in pint_parser.call_args_list
    ]  # refused before pint's arithmetic
    assert entry_count(client) == 0


def test_a_long_exponent_of_25_characters_is_refused_as_fast(client: TestClient) -> None:
    body = {**SAVING, "energy_saved": _quantity("kWh*km^9999999/mi^9999999")}
    with mock.patch.object(ureg, "parse_units", wraps=ureg.parse_units) as pint_parser:
        response = client.post("/v1/calculations", json={"kind": "energy_saving", **body})
    assert response.status_code == 422, response.text
    assert "kWh*km^9999999/mi^9999999" not in [call.args[0] for call in pint_parser.call_args_list]
    assert client.get("/healthz").status_code == 200
