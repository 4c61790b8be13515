"""Shared material of the scope-report tests: a factor folder with a test release pair, a seeded year of
inventory activity, and the figures that year must give, computed here independently of `carbon`
(Decimal arithmetic on the factor values written out below, half-to-even per line, then summed)."""

from __future__ import annotations

import shutil
from collections import defaultdict
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

from carbon.registry.seal import seal_release
from tests.conftest import SHIPPED_FACTORS

OLD, NEW = "2099-01", "2099-02"
CN_LOCATION = {OLD: "0.5", NEW: "0.55"}  # kgCO2/kWh, test values: the only difference between the two
CN_MARKET = "0.6"
# Shipped factors (2026-12) the seeded year uses, as published:
HFC_32_AR6 = "771"  # kgCO2e/kg
R_410A_AR5 = "1924"
CAR_AVERAGE = "0.16691"  # kgCO2e/km
RAIL_NATIONAL = "0.03546"
BUS_LOCAL = "0.10846"
PAPER_PRIMARY = "1339.31834"  # kgCO2e/t
TD_LOSSES_GB = "0.01830"  # kgCO2e/kWh
DIESEL_USER = "2.68787"  # kgCO2e/L, supplied in the request
FORMULA_ENTITY = "=SUM(1,2)"
FORMULA_SOURCE = '=HYPERLINK("http://example.invalid")'

_HEADER = (
    "id,version,activity,value,unit,region,valid_from,valid_to,book,scope,category,method,gas,gwp_set,"
    "source,table,confidence,derivation\n"
)


def _grid_rows(release: str) -> str:
    version = 1 if release == OLD else 2
    return _HEADER + (
        f"test.cn.electricity_location.2024,{version},electricity,{CN_LOCATION[release]},kgCO2/kWh,CN,"
        "2024-01-01,2024-12-31,inventory,2,2:purchased-electricity,location,CO2,,mee-nbs-2023-electricity-co2,"
        "test row,assumed,\n"
        f"test.cn.electricity_market.2024,1,electricity,{CN_MARKET},kgCO2/kWh,CN,2024-01-01,2024-12-31,"
        "inventory,2,2:purchased-electricity,market,CO2,,mee-nbs-2023-electricity-co2,test row,assumed,\n"
    )


def build_factor_folder(root: Path) -> Path:
    """Test releases: 2099-01 = shipped 2026-12 + CN 2024 grid factors; 2099-02 changes the location one."""
    for release, supersedes in ((OLD, "2026-12"), (NEW, OLD)):
        folder = root / release
        shutil.copytree(SHIPPED_FACTORS / "2026-12", folder)
        manifest = folder / "manifest.toml"
        text = manifest.read_text(encoding="utf-8")
        text = text.replace('release = "2026-12"', f'release = "{release}"', 1)
        text = text.replace('supersedes = ["2026-11"]', f'supersedes = ["{supersedes}"]', 1)
        text = text.replace("published = 2026-11-22", f"published = {release}-01", 1)
        manifest.write_text(text, encoding="utf-8")
        (folder / "test-grid.csv").write_text(_grid_rows(release), encoding="utf-8")
        seal_release(folder)
    shutil.copytree(SHIPPED_FACTORS / "2026-12", root / "2026-12")
    shutil.copytree(SHIPPED_FACTORS / "2026-11", root / "2026-11")
    return root


def mg(quantity: str, factor_kg: str, per: int = 1) -> int:
    """Independent: quantity x factor (kg per unit, or per `per` units), in mg, half-to-even."""
    exact = Decimal(quantity) * Decimal(factor_kg) * Decimal(10**6) / Decimal(per)
    return int(exact.to_integral_value(rounding=ROUND_HALF_EVEN))


def _activity(activity_id: str, kind: str, day: str, value: str, unit: str, **extra: Any) -> dict[str, Any]:
    return {
        "activity_id": activity_id,
        "kind": kind,
        "date": day,
        "quantity": {"value": value, "unit": unit},
        **extra,
    }


def seeded_year() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A year (2024) of activity for two offices, and what the report must say about it."""
    activities: list[dict[str, Any]] = []
    expect: dict[str, Any] = {
        "month": defaultdict(lambda: defaultdict(int)),
        "cat": defaultdict(int),
        "entity": defaultdict(lambda: defaultdict(int)),
    }

    def add(month: int, column: str, amount: int, category: str | None, entity: str) -> None:
        expect["month"][f"2024-{month:02d}"][column] += amount
        expect["entity"][entity][column] += amount
        if category:
            expect["cat"][category] += amount

    for m in range(1, 13):
        day = f"2024-{m:02d}-28"
        hq = f"{12000 + 250 * m}.25"
        covered = ("2000", "green_certificate") if m <= 6 else ("3500.5", "green_power_purchase")
        instrument = {
            "kind": covered[1],
            "energy": {"value": covered[0], "unit": "kWh"},
            "reference": f"I-{m}",
        }
        activities.append(
            _activity(
                f"hq-{m}", "electricity", day, hq, "kWh", region="CN", entity="HQ", instruments=[instrument]
            )
        )
        add(m, "scope2_location", mg(hq, CN_LOCATION[OLD]), None, "HQ")
        add(m, "scope2_market", mg(str(Decimal(hq) - Decimal(covered[0])), CN_MARKET), None, "HQ")
        dc = str(40000 + 1000 * m)
        activities.append(_activity(f"dc-{m}", "electricity", day, dc, "kWh", region="CN", entity="DC"))
        add(m, "scope2_location", mg(dc, CN_LOCATION[OLD]), None, "DC")
        add(m, "scope2_market", mg(dc, CN_MARKET), None, "DC")
        td = f"{3000 + m}"
        activities.append(_activity(f"td-{m}", "td_losses", day, td, "kWh", region="GB", entity="London"))
        add(m, "scope3", mg(td, TD_LOSSES_GB), "scope3:3.3:fuel-and-energy", "London")
        car = f"{500 + 10 * m}.5"
        activities.append(
            _activity(
                f"car-{m}",
                "business_travel",
                day,
                car,
                "km",
                type="car.average",
                region="GB",
                entity="HQ",
                description="=client visits",
            )
        )
        add(m, "scope3", mg(car, CAR_AVERAGE), "scope3:3.6:business-travel", "HQ")
        activities.append(
            _activity(
                f"rail-{m}",
                "business_travel",
                day,
                "1200",
                "km",
                type="rail.national",
                region="GB",
                entity="London",
            )
        )
        add(m, "scope3", mg("1200", RAIL_NATIONAL), "scope3:3.6:business-travel", "London")
        activities.append(
            _activity(
                f"bus-{m}",
                "employee_commuting",
                day,
                "8000",
                "km",
                type="bus.average_local",
                region="GB",
                entity="London",
            )
        )
        add(m, "scope3", mg("8000", BUS_LOCAL), "scope3:3.7:employee-commuting", "London")
        if m % 3 == 0:
            activities.append(
                _activity(
                    f"hfc-{m}", "refrigerant", day, "1.25", "kg", type="hfc_32", gwp_set="AR6", entity="DC"
                )
            )
            add(m, "scope1", mg("1.25", HFC_32_AR6), "scope1:1:fugitive", "DC")
            activities.append(
                _activity(
                    f"paper-{m}",
                    "purchased_goods",
                    day,
                    "350",
                    "kg",
                    type="paper.primary",
                    region="GB",
                    entity="HQ",
                )
            )
            add(m, "scope3", mg("350", PAPER_PRIMARY, per=1000), "scope3:3.1:purchased-goods", "HQ")
        if m == 6:
            activities.append(
                _activity(
                    "r410a-6", "refrigerant", day, "0.8", "kg", type="r_410a", gwp_set="AR5", entity="DC"
                )
            )
            add(m, "scope1", mg("0.8", R_410A_AR5), "scope1:1:fugitive", "DC")
        diesel = f"{100 + m}.5"
        activities.append(
            _activity(
                f"diesel-{m}",
                "fuel",
                day,
                diesel,
                "L",
                type="diesel",
                entity=FORMULA_ENTITY,
                factor={"value": DIESEL_USER, "unit": "kgCO2e/L", "source": FORMULA_SOURCE},
            )
        )
        add(m, "scope1", mg(diesel, DIESEL_USER), "scope1:1:stationary-combustion", FORMULA_ENTITY)
    return activities, expect


def post_year(client: Any, release: str = OLD) -> list[str]:
    """Record the seeded year in two batches; the entry ids."""
    activities, _ = seeded_year()
    ids = []
    for n, part in enumerate((activities[: len(activities) // 2], activities[len(activities) // 2 :])):
        body = {"batch_id": f"year-{n}", "activities": part, "factor_release": release}
        response = client.post("/v1/activities", json=body, headers={"Idempotency-Key": f"year-{n}"})
        assert response.status_code == 201, response.text
        ids.append(response.json()["entry_id"])
    return ids


def value(amount: dict[str, str]) -> int:
    """An amount asked for in mgCO2e, as an integer."""
    assert amount["unit"] == "mgCO2e"
    return int(amount["value"])
