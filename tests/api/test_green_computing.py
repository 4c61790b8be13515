"""Green computing over HTTP, on SQLite and PostgreSQL: savings claims from a baseline and an actual
scenario, carbon intensity per loan, carbon-aware windows. Every figure below is worked by hand."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from carbon.adapters.grid_intensity import GridIntensityProvider
from carbon.api import create_app
from carbon.settings import Settings
from tests.api.test_loan_batches import entry_count, loans, mg, post
from tests.keys import authorize

GUARDED = {"401", "403", "429", "503", "504"}

PROBLEM = "application/problem+json"
DECEMBER = {"start": "2021-12-01", "end": "2021-12-31"}  # 31 days = 744 h


def save(client: TestClient, body: dict[str, Any], key: str | None = None, **params: str) -> Any:
    headers = {"Idempotency-Key": key or str(uuid.uuid4())}
    return client.post("/v1/energy-savings", json=body, headers=headers, params=params)


def servers(count: str, utilisation: str) -> dict[str, Any]:
    return {
        "fleet": {
            "servers": count,
            "min_power": {"value": "120", "unit": "W"},
            "max_power": {"value": "400", "unit": "W"},
            "utilisation": utilisation,
            "pue": "1.4",
        }
    }


# N = 200 servers at u1 = 15% against N/2 = 100 at u2 = 45%, 120 W idle, 400 W full load, PUE 1.4, 744 h:
#   baseline: (120 + 0.15 x 280) W = 162 W x 200 x 744 h = 24,105.6 kWh x 1.4 = 33,747.84 kWh
#   actual:   (120 + 0.45 x 280) W = 246 W x 100 x 744 h = 18,302.4 kWh x 1.4 = 25,623.36 kWh
#   saved:    8,124.48 kWh; CN 2021 location 0.5568 kgCO2/kWh -> 4,523.710464 kg = 4.523710464 t
#                           CN 2021 market   0.5942 kgCO2/kWh -> 4,827.566016 kg = 4.827566016 t
FLEET_CLAIM = {
    "saving_id": "dc-consolidation-2021-12",
    "period": DECEMBER,
    "region": "CN",
    "boundary": "own_data_centre",
    "baseline": servers("200", "0.15"),
    "actual": servers("100", "0.45"),
}

# Ant Group 2021: utilisation doubled, so the same work took half the energy. A baseline of 93,539.48 MWh
# and an actual of 46,769.74 MWh save 46,769.74 MWh; the derived factor 21,883.63 / 46,769.74 tCO2e/MWh
# gives 21,883.63 t exactly (the rounded 0.4679 would give 21,883.56 t).
ANT_CLAIM = {
    "saving_id": "ant-2021-claim",
    "period": {"start": "2021-01-01", "end": "2021-12-31"},
    "factor_id": "ant.green_computing.2021",
    "boundary": "own_data_centre",
    "baseline": {"energy": {"value": "93539.48", "unit": "MWh"}},
    "actual": {"energy": {"value": "46769.74", "unit": "MWh"}},
}


def test_ant_group_2021_is_reproduced_through_the_claims_path(client: TestClient) -> None:
    response = save(client, ANT_CLAIM)
    assert response.status_code == 201, response.text
    result = response.json()
    assert result["avoided"] == {"value": "21883.63", "unit": "tCO2e"}
    assert result["energy_saved"] == {"value": "46769740", "unit": "kWh"}
    assert result["factor"]["id"] == "ant.green_computing.2021"
    claim = result["claim"]
    assert (claim["basis"], claim["boundary"], claim["scope"]) == ("scenarios", "own_data_centre", 2)
    assert claim["baseline"]["energy"]["value"] == "93539480"
    assert claim["actual"]["metered"] == {"value": "46769.74", "unit": "MWh", "exact": None}
    # beside the reported factor, both grid figures for the same 46,769,740 kWh, each with its factor:
    # 0.5568 x 46,769,740 = 26,041,391.232 kg; 0.5942 x 46,769,740 = 27,790,579.508 kg
    location, market = claim["figures"]["location"], claim["figures"]["market"]
    assert location["amount"] == {"value": "26041.391232", "unit": "tCO2e"}
    assert location["factor"]["id"] == "cn.mee_nbs.electricity_avg.national.2021"
    assert market["amount"] == {"value": "27790.579508", "unit": "tCO2e"}
    assert market["factor"]["id"] == "cn.mee_nbs.electricity_excl_market_nonfossil.national.2021"
    entry = client.get(f"/v1/ledger/entries/{result['entry_id']}").json()
    assert (entry["book"], entry["amount"]) == ("avoided", {"value": "21883.63", "unit": "tCO2e"})


def test_a_fleet_claim_of_n_servers_against_n_over_2_by_hand(client: TestClient) -> None:
    response = save(client, FLEET_CLAIM)
    assert response.status_code == 201, response.text
    result = response.json()
    assert result["energy_saved"] == {"value": "8124.48", "unit": "kWh"}
    assert result["avoided"] == {"value": "4.523710464", "unit": "tCO2e"}  # location, as requested
    assert mg(result["avoided"]) == 4_523_710_464
    claim = result["claim"]
    baseline, actual = claim["baseline"]["fleet"], claim["actual"]["fleet"]
    assert (
        baseline["average_power"]["value"],
        baseline["it_energy"]["value"],
        baseline["energy"]["value"],
    ) == (
        "162",
        "24105.6",
        "33747.84",
    )
    assert (actual["average_power"]["value"], actual["it_energy"]["value"], actual["energy"]["value"]) == (
        "246",
        "18302.4",
        "25623.36",
    )
    assert baseline["duration"]["value"] == "744"  # the whole period, when no duration is given
    assert claim["figures"]["location"]["amount"] == {"value": "4.523710464", "unit": "tCO2e"}
    assert claim["figures"]["market"]["amount"] == {"value": "4.827566016", "unit": "tCO2e"}


def test_a_claim_read_back_shows_both_methods_the_boundary_and_both_scenarios(client: TestClient) -> None:
    result = save(client, {**FLEET_CLAIM, "method": "market", "boundary": "supplier_data_centre"}).json()
    assert result["avoided"] == {"value": "4.827566016", "unit": "tCO2e"}  # the entry uses the market figure
    entry = client.get(f"/v1/ledger/entries/{result['entry_id']}", params={"unit": "kgCO2e"}).json()
    assert entry["amount"] == {"value": "4827.566016", "unit": "kgCO2e"}
    assert entry["lines"][0]["quantity"] == {"value": "8124.48", "unit": "kWh"}
    assert entry["lines"][0]["method"] == "market"
    claim = entry["claim"]
    assert (claim["boundary"], claim["scope"], claim["method"]) == ("supplier_data_centre", 3, "market")
    assert (claim["baseline"]["fleet"]["count"], claim["baseline"]["fleet"]["utilisation"]) == ("200", "0.15")
    assert (claim["actual"]["fleet"]["count"], claim["actual"]["fleet"]["utilisation"]) == ("100", "0.45")
    figures = claim["figures"]
    assert figures["location"]["amount"] == {"value": "4523.710464", "unit": "kgCO2e"}
    assert figures["market"]["amount"] == {"value": "4827.566016", "unit": "kgCO2e"}
    assert (
        figures["location"]["factor"]["value"] == "0.5568"
        and figures["market"]["factor"]["value"] == "0.5942"
    )
    assert claim["factor"]["id"] == "cn.mee_nbs.electricity_excl_market_nonfossil.national.2021"


def test_a_vcpu_fleet_from_published_coefficients(client: TestClient) -> None:
    # AWS vCPUs (CCF 0.74 W idle, 3.5 W full), memory 0.000392 kWh/GB-h, PUE 1.135 (release 2026-12):
    #   baseline 1,000 vCPUs at 10%: (0.74 + 0.1 x 2.76) = 1.016 W x 1,000 x 744 h = 755.904 kWh
    #            + 4,000 GB x 744 h x 0.000392 = 1,166.592 kWh; x 1.135 = 2,182.03296 kWh
    #   actual     500 vCPUs at 30%: 1.568 W x 500 x 744 h = 583.296 kWh + 2,000 GB: 583.296 kWh;
    #            x 1.135 = 1,324.08192 kWh.   Saved 857.95104 kWh x 0.5568 = 477.7071390... kg
    def vcpus(count: str, utilisation: str, memory: str) -> dict[str, Any]:
        return {
            "fleet": {
                "vcpus": count,
                "utilisation": utilisation,
                "min_power_factor_id": "ccf.vcpu_power_min.aws",
                "max_power_factor_id": "ccf.vcpu_power_max.aws",
                "pue_factor_id": "ccf.pue.aws",
                "memory": {
                    "capacity": {"value": memory, "unit": "GB"},
                    "coefficient_factor_id": "ccf.memory_energy",
                },
            }
        }

    body = {**FLEET_CLAIM, "baseline": vcpus("1000", "0.1", "4000"), "actual": vcpus("500", "0.3", "2000")}
    result = save(client, body).json()
    assert result["energy_saved"] == {"value": "857.95104", "unit": "kWh"}
    assert mg(result["avoided"]) == 477_707_139  # 857.95104 x 556,800 mg = 477,707,139.072 -> 477,707,139
    fleet = result["claim"]["baseline"]["fleet"]
    assert fleet["min_power_factor"]["id"] == "ccf.vcpu_power_min.aws"
    assert (fleet["min_power_factor"]["release"], fleet["min_power_factor"]["value"]) == ("2026-12", "0.74")
    assert fleet["pue_factor"]["id"] == "ccf.pue.aws" and fleet["pue"] == "1.135"
    assert fleet["memory"]["energy"]["value"] == "1166.592"
    assert fleet["energy"]["value"] == "2182.03296"


def test_scenarios_are_compared_for_the_same_work(client: TestClient) -> None:
    # 12,000 kWh for 1,000,000 loans against 10,000 kWh for 1,100,000: the baseline for 1,100,000 loans
    # is 13,200 kWh, so 3,200 kWh were saved (x 0.5568 = 1,781.76 kg)
    body = {
        **FLEET_CLAIM,
        "baseline": {
            "energy": {"value": "12000", "unit": "kWh"},
            "work": {"value": "1000000", "unit": "loan"},
        },
        "actual": {"energy": {"value": "10", "unit": "MWh"}, "work": {"value": "1100000", "unit": "loan"}},
    }
    claim = save(client, body).json()
    assert claim["energy_saved"]["value"] == "3200"
    assert claim["avoided"] == {"value": "1.78176", "unit": "tCO2e"}
    assert claim["claim"]["work_ratio"]["value"] == "1.1"
    assert claim["claim"]["baseline_for_actual_work"]["value"] == "13200"
    # a ratio that does not terminate stays exact: 10 kWh for 3 loans, 1 kWh for 1 loan saves 7/3 kWh,
    # and 7/3 x 556,800 mg = 1,299,200 mg exactly
    thirds = {
        **FLEET_CLAIM,
        "baseline": {"energy": {"value": "10", "unit": "kWh"}, "work": {"value": "3", "unit": "loan"}},
        "actual": {"energy": {"value": "1", "unit": "kWh"}, "work": {"value": "1", "unit": "loan"}},
    }
    result = save(client, thirds).json()
    assert result["claim"]["energy_saved"] == {"value": "2.333333333333333333", "unit": "kWh", "exact": "7/3"}
    assert mg(result["avoided"]) == 1_299_200


def test_a_missing_market_factor_is_null_with_its_reason_never_substituted(client: TestClient) -> None:
    # the North China grid has a 2022 location-based factor (0.6776) and no market-based one
    body = {
        **FLEET_CLAIM,
        "region": "CN-GRID-NORTH",
        "period": {"start": "2022-06-01", "end": "2022-06-30"},
        "baseline": {"energy": {"value": "1000", "unit": "kWh"}},
        "actual": {"energy": {"value": "400", "unit": "kWh"}},
    }
    result = save(client, body).json()
    assert result["avoided"] == {"value": "0.40656", "unit": "tCO2e"}  # 600 kWh x 0.6776
    market = result["claim"]["figures"]["market"]
    assert market["amount"] is None and market["factor"] is None
    assert market["reason"].startswith(
        "no factor for electricity in CN-GRID-NORTH on 2022-06-01 (market method)"
    )
    assert (
        result["claim"]["figures"]["location"]["factor"]["id"] == "cn.mee_nbs.electricity_avg.grid_north.2022"
    )
    refused = save(client, {**body, "method": "market"})
    assert refused.status_code == 422 and "market method" in refused.json()["detail"]


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"energy_saved": {"value": "1", "unit": "kWh"}}, "exactly one of them"),
        ({"baseline": None, "actual": None}, "exactly one of them"),
        ({"actual": None}, "needs both a baseline and an actual"),
        ({"boundary": None}, "needs its boundary"),
        (
            {"actual": {"energy": {"value": "1", "unit": "kWh"}, **servers("1", "0.1")}},
            "not both and not neither",
        ),
        ({"actual": servers("300", "0.5")}, "nothing was saved"),
        ({"baseline": {"fleet": {**servers("2", "0.1")["fleet"], "vcpus": "4"}}}, "either servers or vcpus"),
        ({"baseline": {"fleet": {**servers("2", "0.1")["fleet"], "pue": "0.5"}}}, "PUE is 1 or more"),
        ({"baseline": {**servers("2", "0.1"), "work": {"value": "5", "unit": "loan"}}}, "of both scenarios"),
        (
            {
                "baseline": {
                    "fleet": {**servers("2", "0.1")["fleet"], "min_power": {"value": "1", "unit": "kWh"}}
                }
            },
            "expected a quantity of power",
        ),
        (
            {
                "baseline": {
                    "fleet": {
                        **servers("2", "0.1")["fleet"],
                        "pue": None,
                        "pue_factor_id": "ccf.vcpu_power_min.aws",
                    }
                }
            },
            "a PUE factor is dimensionless",
        ),
        (
            {
                "baseline": {
                    "fleet": {
                        **servers("2", "0.1")["fleet"],
                        "pue": None,
                        "pue_factor_id": "cn.mee_nbs.electricity_avg.national.2021",
                    }
                }
            },
            "is an emission factor",
        ),
    ],
)
def test_a_malformed_claim_is_a_clear_422_and_records_nothing(
    client: TestClient, change: dict[str, Any], detail: str
) -> None:
    body = {key: value for key, value in {**FLEET_CLAIM, **change}.items() if value is not None}
    response = save(client, body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert detail in response.json()["detail"]
    assert entry_count(client) == 0


def test_a_claim_replays_under_its_key_and_previews_record_nothing(client: TestClient) -> None:
    first = save(client, FLEET_CLAIM, key="claim-1")
    again = save(client, FLEET_CLAIM, key="claim-1")
    assert (again.status_code, again.headers["idempotent-replayed"]) == (201, "true")
    assert again.json() == first.json()
    preview = client.post("/v1/calculations", json={"kind": "energy_saving", **FLEET_CLAIM})
    assert preview.status_code == 200, preview.text
    assert (preview.json()["entry_id"], preview.json()["avoided"]["value"]) == (None, "4.523710464")
    assert entry_count(client) == 1


def test_a_measured_saving_keeps_its_shape_and_gains_both_figures(client: TestClient) -> None:
    body = {
        "saving_id": "m",
        "energy_saved": {"value": "1000", "unit": "kWh"},
        "region": "CN",
        "period": {"start": "2021-03-01", "end": "2021-03-31"},
    }
    result = save(client, body).json()
    assert result["energy_saved"] == {"value": "1000", "unit": "kWh"}
    assert result["avoided"] == {"value": "0.5568", "unit": "tCO2e"}
    claim = client.get(f"/v1/ledger/entries/{result['entry_id']}").json()["claim"]
    assert (claim["basis"], claim["boundary"], claim["baseline"]) == ("measured", None, None)
    assert claim["figures"]["market"]["amount"] == {"value": "0.5942", "unit": "tCO2e"}


def test_release_2026_11_stays_loadable_and_pinnable(client: TestClient) -> None:
    pinned = post(client, {"batch_id": "old", "loans": loans("OLD", 2), "factor_release": "2026-11"}).json()
    assert pinned["factor_release"] == "2026-11"
    assert pinned["factors"][0]["release"] == "2026-11"
    assert pinned["avoided"] == {"value": "0.0000696", "unit": "tCO2e"}
    saving = save(client, {**ANT_CLAIM, "factor_release": "2026-11"}).json()
    assert (saving["avoided"]["value"], saving["factor"]["release"]) == ("21883.63", "2026-11")
    assert client.get("/v1/factors/ccf.vcpu_power_min.aws", params={"release": "2026-11"}).status_code == 404
    assert client.get("/v1/factors/ccf.vcpu_power_min.aws").json()["release"] == "2026-12"
    fleet = save(
        client,
        {
            **FLEET_CLAIM,
            "factor_release": "2026-11",
            "baseline": {
                "fleet": {
                    "vcpus": "10",
                    "utilisation": "0.5",
                    "min_power_factor_id": "ccf.vcpu_power_min.aws",
                    "max_power_factor_id": "ccf.vcpu_power_max.aws",
                    "pue": "1",
                }
            },
        },
    )
    assert fleet.status_code == 422
    assert "no factor 'ccf.vcpu_power_min.aws' in release 2026-11" in fleet.json()["detail"]


# --- carbon intensity per loan ---------------------------------------------------------------------------


def seed_december(client: TestClient) -> None:
    """260 online loans counted in December 2021 (and others that must not count)."""
    assert post(client, {"batch_id": "d1", "loans": loans("D1-", 200, day="2021-12-03")}).status_code == 201
    mixed = loans("D2-", 60, day="2021-12-20") + loans("B-", 40, day="2021-12-20", channel="branch")
    assert post(client, {"batch_id": "d2", "loans": mixed}).status_code == 201
    post(client, {"batch_id": "nov", "loans": loans("N-", 10, day="2021-11-30")})  # outside the month
    post(client, {"batch_id": "again", "loans": loans("D1-", 5, day="2021-12-03")})  # duplicates: not counted
    wrong = post(client, {"batch_id": "wrong", "loans": loans("W-", 15, day="2021-12-10")}).json()
    assert client.post(f"/v1/ledger/entries/{wrong['entry_id']}/reversal").status_code == 201  # released


def test_intensity_per_loan_and_net_avoided_for_a_seeded_month(client: TestClient) -> None:
    # 1.3 kWh x 0.5568 kgCO2/kWh = 723,840 mg over 260 online loans = 2,784 mg = 2.784 g per loan;
    # net avoided per online loan = 34.80 - 2.784 = 32.016 g; totals 260 x 34,800 mg = 9,048,000 mg gross,
    # 9,048,000 - 723,840 = 8,324,160 mg net
    seed_december(client)
    body = {"period": DECEMBER, "energy": {"value": "1.3", "unit": "kWh"}, "region": "CN"}
    response = client.post("/v1/loan-intensity", json=body, params={"unit": "gCO2e"})
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["loans"], result["loans_source"]) == (260, "ledger")
    assert result["emissions"] == {"value": "723.84", "unit": "gCO2e"}
    assert result["intensity"] == {"value": "2.784", "unit": "gCO2e/loan", "exact": None}
    assert result["net_avoided_per_loan"] == {"value": "32.016", "unit": "gCO2e/loan", "exact": None}
    assert result["avoided_gross"] == {"value": "9048", "unit": "gCO2e"}
    assert result["avoided_net"] == {"value": "8324.16", "unit": "gCO2e"}
    assert result["factor"]["id"] == "cn.mee_nbs.electricity_avg.national.2021"
    assert result["baseline"]["per_loan"]["value"] == "34.8"
    assert result["baseline"]["terms"][0]["factors"][0]["id"] == "mybank.online_loan.2021"


def test_intensity_with_the_component_model_baseline_and_a_fleet(client: TestClient) -> None:
    # the component model's branch terms (parameters of loan-model.csv, DESNZ 2024 factors by id):
    #   paper 5 sheets x (0.06237 x 80) g x 1,339.31834 kgCO2e/t = 33,413.31394632 mg
    #   car 0.05 km x 0.16691 kgCO2e/km = 8,345.5 mg; bus 0.05 km x 0.10846 kgCO2e/km = 5,423 mg
    #   = 47,181.81394632 mg per branch loan, rounded once: 47,182 mg
    # the platform: 2 servers, 100 W idle, 200 W full, 50% busy, PUE 1.2, 744 h
    #   = 150 W x 2 x 744 h x 1.2 = 267.84 kWh x 0.5568 = 149,133.312 g over 1,000,000 loans
    #   = 149.133312 mg = 0.149133312 g per loan; net 47.182 - 0.149133312 = 47.032866688 g
    fleet = {
        "servers": "2",
        "min_power": {"value": "100", "unit": "W"},
        "max_power": {"value": "200", "unit": "W"},
        "utilisation": "0.5",
        "pue": "1.2",
    }
    body = {"period": DECEMBER, "fleet": fleet, "loans": 1_000_000, "baseline": "component_model"}
    result = client.post("/v1/loan-intensity", json=body, params={"unit": "gCO2e"}).json()
    assert result["energy"]["value"] == "267.84" and result["fleet"]["average_power"]["value"] == "150"
    assert result["loans_source"] == "request"
    assert result["intensity"]["value"] == "0.149133312"
    assert result["baseline"]["per_loan"]["value"] == "47.182"
    terms = {t["name"]: t["per_loan"]["value"] for t in result["baseline"]["terms"]}
    assert terms == {"paper": "33.41331394632", "travel.bus": "5.423", "travel.car": "8.3455"}
    assert result["net_avoided_per_loan"]["value"] == "47.032866688"
    # other factors, pinned by id: closed-loop paper 1,044.31834 kgCO2e/t (26,053.65394632 mg) and a petrol
    # car 0.16450 kgCO2e/km (8,225 mg), bus unchanged (5,423 mg): 39,701.65394632 mg, rounded once: 39,702 mg
    chosen = {"paper_factor_id": "gb.desnz.paper_closed_loop.2024",
              "travel": [{"mode": "car", "factor_id": "gb.desnz.car_petrol.2024"}]}  # fmt: skip
    other = client.post("/v1/loan-intensity", json={**body, "component_factors": chosen}).json()
    assert other["baseline"]["per_loan"]["value"] == "39.702"
    assert [f["id"] for t in other["baseline"]["terms"] for f in t["factors"]][
        2
    ] == "gb.desnz.paper_closed_loop.2024"


def test_intensity_ratios_that_do_not_terminate_are_exact(client: TestClient) -> None:
    # 1 kWh x 0.5568 = 556,800 mg over 7 loans = 556,800 / 7,000 g = 2784/35 g = 79.5428571428571428571... g:
    # shown to 18 places, with the exact ratio
    body = {"period": DECEMBER, "energy": {"value": "1", "unit": "kWh"}, "loans": 7}
    result = client.post("/v1/loan-intensity", json=body).json()
    assert result["intensity"] == {"value": "79.542857142857142857", "unit": "gCO2e/loan", "exact": "2784/35"}
    # a digital intensity above the branch baseline is a negative net, shown as it is:
    # (7 x 34,800 - 556,800) mg / 7 = -313,200/7 mg = -1566/35 g
    assert result["net_avoided_per_loan"] == {
        "value": "-44.742857142857142857",
        "unit": "gCO2e/loan",
        "exact": "-1566/35",
    }
    assert result["avoided_net"]["value"] == "-0.0003132"


def test_intensity_refusals(client: TestClient) -> None:
    body = {"period": DECEMBER, "energy": {"value": "1", "unit": "kWh"}}
    empty = client.post("/v1/loan-intensity", json=body)
    assert empty.status_code == 422 and "no online loans in the ledger" in empty.json()["detail"]
    both = client.post("/v1/loan-intensity", json={**body, "loans": 5, "fleet": servers("1", "0.1")["fleet"]})
    assert both.status_code == 422 and "not both and not neither" in both.json()["detail"]
    across = client.post(
        "/v1/loan-intensity",
        json={**body, "loans": 5, "period": {"start": "2021-12-01", "end": "2022-01-31"}},
    )
    assert across.status_code == 422 and "split the period" in across.json()["detail"]


# --- carbon-aware windows --------------------------------------------------------------------------------

T0 = datetime(2026, 11, 22, tzinfo=UTC)
HOURLY = [("500", 0), ("400", 1), ("100", 2), ("100", 3), ("300", 4)]


def points(values: list[tuple[str, int]]) -> list[dict[str, str]]:
    return [
        {"start": (T0 + timedelta(hours=h)).isoformat().replace("+00:00", "Z"), "intensity": v}
        for v, h in values
    ]


WINDOWS = {
    "series": {"unit": "gCO2e/kWh", "region": "CN", "points": points(HOURLY)},
    "profile": {"unit": "kWh", "steps": ["2", "1"]},
    "deadline": "2026-11-22T05:00:00Z",
    "now": "2026-11-22T00:00:00Z",
    "top": 2,
}


def test_windows_from_an_uploaded_json_series(client: TestClient) -> None:
    # starts: 00:00 -> 2 x 500 + 400 = 1,400 g; 01:00 -> 900; 02:00 -> 300; 03:00 -> 500
    response = client.post("/v1/carbon-aware-windows", json=WINDOWS)
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["source"], result["step_seconds"], result["candidates"]) == ("upload", 3600, 4)
    assert result["now"]["emissions"] == {"value": "1400", "unit": "gCO2e"}
    assert [(w["start"], w["emissions"]["value"], w["saved"]["value"]) for w in result["windows"]] == [
        ("2026-11-22T02:00:00+00:00", "300", "1100"),
        ("2026-11-22T03:00:00+00:00", "500", "900"),
    ]
    assert result["job_energy"]["value"] == "3"


def test_windows_from_an_uploaded_csv_series(client: TestClient) -> None:
    csv = "start,intensity,unit\n" + "".join(
        f"{(T0 + timedelta(minutes=30 * i)).isoformat()},{v},kgCO2e/MWh\n"
        for i, v in enumerate([90, 10, 50, 20])
    )
    body = {
        "series_csv": csv,
        "profile": {"unit": "Wh", "steps": ["500", "500"]},
        "deadline": "2026-11-22T02:00:00Z",
        "now": "2026-11-22T00:00:00Z",
    }
    result = client.post("/v1/carbon-aware-windows", json=body, params={"unit": "mgCO2e"}).json()
    # kgCO2e/MWh = gCO2e/kWh; 0.5 kWh per half hour: 00:00 -> 50, 00:30 -> 30, 01:00 -> 35 g
    assert [w["emissions"]["value"] for w in result["windows"]] == ["30000", "35000", "50000"]
    assert result["windows"][0]["saved"] == {"value": "20000", "unit": "mgCO2e"}


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"series_csv": "start,intensity,unit\n"}, "not both"),
        ({"series": None}, "no grid-intensity provider is configured"),
        ({"series": None, "region": None}, "give a series"),
        ({"deadline": "2026-11-22T01:00:00Z"}, "finish by"),
        ({"profile": {"unit": "loan", "steps": ["1"]}}, "expected a quantity of energy"),
        ({"series": {"unit": "gCO2e/kWh", "points": points([("1", 0), ("1", 2)])}}, "at most an hour"),
    ],
)
def test_windows_refusals_are_clear(client: TestClient, change: dict[str, Any], detail: str) -> None:
    body = {**WINDOWS, "region": "CN", **change}
    response = client.post("/v1/carbon-aware-windows", json={k: v for k, v in body.items() if v is not None})
    assert response.status_code == 422, response.text
    assert detail in response.json()["detail"]


@pytest.fixture
def provider_client(settings: Settings) -> Iterator[tuple[TestClient, list[httpx.Request]]]:
    """An app whose grid-intensity provider is configured; its HTTP goes to a MockTransport."""
    configured = settings.model_copy(update={"grid_intensity_url": "http://grid.example/intensity"})
    seen: list[httpx.Request] = []

    def provider(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.params["region"] == "CN-DOWN":
            return httpx.Response(503)
        return httpx.Response(200, json={"unit": "gCO2e/kWh", "points": points(HOURLY)})

    with TestClient(create_app(configured), raise_server_exceptions=False) as test_client:
        authorize(test_client)
        test_client.app.state.grid_intensity = GridIntensityProvider(  # type: ignore[attr-defined]
            configured.grid_intensity_url or "",
            retries=1,
            sleep=lambda _: None,
            transport=httpx.MockTransport(provider),
        )
        yield test_client, seen


def test_windows_fetched_from_the_configured_provider(
    provider_client: tuple[TestClient, list[httpx.Request]],
) -> None:
    client, seen = provider_client
    body = {**{k: v for k, v in WINDOWS.items() if k != "series"}, "region": "CN"}
    result = client.post("/v1/carbon-aware-windows", json=body).json()
    assert (result["source"], result["region"]) == ("provider", "CN")
    assert result["windows"][0]["emissions"]["value"] == "300"
    assert dict(seen[0].url.params) == {
        "region": "CN",
        "start": "2026-11-22T00:00:00+00:00",
        "end": "2026-11-22T05:00:00+00:00",
    }
    client.post("/v1/carbon-aware-windows", json=body)
    assert len(seen) == 1  # cached
    down = client.post("/v1/carbon-aware-windows", json={**body, "region": "CN-DOWN"})
    assert (down.status_code, down.headers["content-type"]) == (502, PROBLEM)
    problem = down.json()
    assert problem["type"] == "urn:problem:carbon:upstream"
    assert problem["detail"] == "the grid-intensity provider answered 503 (2 attempt(s))"


def test_the_new_operations_are_documented(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    windows = set(paths["/v1/carbon-aware-windows"]["post"]["responses"])
    assert windows == {"200", "400", "408", "413", "422", "502", *GUARDED}
    assert set(paths["/v1/loan-intensity"]["post"]["responses"]) == {
        "200",
        "400",
        "408",
        "413",
        "422",
        *GUARDED,
    }
    request = paths["/v1/energy-savings"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert request == {"$ref": "#/components/schemas/EnergySavingRequest"}
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert "energy_saved" not in schemas["EnergySavingRequest"]["required"]
    assert {"baseline", "actual", "boundary"} <= set(schemas["EnergySavingRequest"]["properties"])
    json.dumps(schemas["ClaimOut"])
