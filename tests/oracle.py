"""An independent oracle of what a record must cost, from the domain rules alone, never from `carbon`.

It reads the factor CSV files with the csv module and prices records in plain `Decimal` arithmetic: the
factor valid on the record's day, in its region or else that region's country (CN-HE, then CN), under the
pinned release or the current one (the newest by `published` that no release supersedes); each record's
milligrams rounded half-to-even once; totals and breakdowns are integer sums of those milligrams.
"""

from __future__ import annotations

import csv
import random
import tomllib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from pathlib import Path

VARIED_FACTORS = Path(__file__).parent / "data" / "varied-factors"
PINNED, CURRENT = "vary-1", "vary-2"

# Milligrams CO2e per (factor unit x one activity unit): gCO2e/loan x loan, kgCO2/kWh x kWh, ...
_MG_PER = {
    ("gCO2e/loan", "loan"): Decimal(10**3),
    ("kgCO2/kWh", "kWh"): Decimal(10**6),
    ("kgCO2/kWh", "MWh"): Decimal(10**9),
    ("tCO2e/MWh", "MWh"): Decimal(10**9),
    ("tCO2e/MWh", "kWh"): Decimal(10**6),
}


@dataclass(frozen=True)
class OracleFactor:
    id: str
    version: int
    release: str
    activity: str
    value_text: str
    unit: str
    region: str
    valid_from: date
    valid_to: date | None
    method: str | None

    @property
    def value(self) -> Decimal:
        """Read when used: the shipped releases hold expressions this oracle need not parse."""
        return _value(self.value_text)

    def valid_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


def _value(text: str) -> Decimal:
    """A plain decimal, or `a / b` (the only expression the test releases use), to 60 digits."""
    with localcontext() as context:
        context.prec = 60
        if "/" in text:
            numerator, denominator = text.split("/")
            return Decimal(numerator.strip()) / Decimal(denominator.strip())
        return Decimal(text)


def _rows(path: Path) -> list[dict[str, str]]:
    lines = [x for x in path.read_text(encoding="utf-8").splitlines() if x.strip() and not x.startswith("#")]
    return list(csv.DictReader(lines))


class Oracle:
    """The factor releases of a folder, read without the product's registry."""

    def __init__(self, root: Path = VARIED_FACTORS) -> None:
        self.factors: dict[str, list[OracleFactor]] = {}
        published: dict[str, date] = {}
        superseded: set[str] = set()
        for folder in sorted(p for p in root.iterdir() if (p / "manifest.toml").is_file()):
            manifest = tomllib.loads((folder / "manifest.toml").read_text(encoding="utf-8"))
            release = manifest["release"]
            published[release] = manifest["published"]
            superseded.update(manifest["supersedes"])
            self.factors[release] = [
                OracleFactor(
                    id=row["id"], version=int(row["version"]), release=release, activity=row["activity"],
                    value_text=row["value"], unit=row["unit"], region=row["region"],
                    valid_from=date.fromisoformat(row["valid_from"]),
                    valid_to=date.fromisoformat(row["valid_to"]) if row["valid_to"] else None,
                    method=row["method"] or None,
                )
                for table in sorted(folder.glob("*.csv")) if table.name != "sources.csv"
                for row in _rows(table)
            ]  # fmt: skip
        self.current = max((r for r in published if r not in superseded), key=lambda r: published[r])

    def factor(
        self, activity: str, region: str, day: date, release: str | None = None, method: str | None = None
    ) -> OracleFactor:
        """The one factor valid on `day` in `region`, else in its country; KeyError when none."""
        chosen = release or self.current
        places = [region, region.split("-")[0]] if "-" in region else [region]
        for place in places:
            found = [
                f for f in self.factors[chosen]
                if (f.activity, f.region) == (activity, place) and f.valid_on(day)
                and (method is None or f.method == method)
            ]  # fmt: skip
            if len(found) == 1:
                return found[0]
            assert not found, f"ambiguous test data: {found}"
        raise KeyError(f"no {activity} factor for {region} on {day} in {chosen}")

    def mg(self, quantity: Decimal | int | str, unit: str, factor: OracleFactor) -> int:
        """One record's milligrams: quantity x factor, rounded half-to-even once."""
        with localcontext() as context:
            context.prec = 80
            exact = Decimal(quantity) * factor.value * _MG_PER[(factor.unit, unit)]
            return int(exact.to_integral_value(rounding=ROUND_HALF_EVEN))

    def loans(self, loans: list[dict[str, str]], release: str | None = None, default_region: str = "CN",
              already: set[str] | None = None) -> LoanFigures:  # fmt: skip
        """Every loan's milligrams (first sightings only), with totals by month, product and region."""
        figures = LoanFigures(release=release or self.current)
        seen = set(already or ())
        for loan in loans:
            if loan["loan_id"] in seen:
                figures.duplicates += 1
                continue
            seen.add(loan["loan_id"])
            day = date.fromisoformat(loan["disbursed_on"])
            if loan["channel"] != "online":
                figures.per_loan[loan["loan_id"]] = 0
                figures.branch += 1
                continue
            region = loan.get("region") or default_region
            factor = self.factor("online_loan", region, day, figures.release)
            amount = self.mg(1, "loan", factor)
            figures.per_loan[loan["loan_id"]] = amount
            figures.online += 1
            figures.total += amount
            figures.by_month[loan["disbursed_on"][:7]] += amount
            figures.by_product[loan.get("product") or ""] += amount
            figures.by_region[region] += amount
            figures.by_day_factor[(day, factor.id)] += amount
            figures.factors.add((factor.id, factor.version, factor.release))
        return figures


@dataclass
class LoanFigures:
    """What a set of loans must give, to the milligram."""

    release: str
    per_loan: dict[str, int] = field(default_factory=dict)
    total: int = 0
    online: int = 0
    branch: int = 0
    duplicates: int = 0
    by_month: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    by_product: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    by_region: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    by_day_factor: defaultdict[tuple[date, str], int] = field(default_factory=lambda: defaultdict(int))
    factors: set[tuple[str, int, str]] = field(default_factory=set)

    @property
    def counted(self) -> int:
        return self.online + self.branch


# Days where factors change or months turn: a day off anywhere shows up in a breakdown.
EDGE_DAYS = ["2021-01-01", "2021-01-31", "2021-02-01", "2021-02-28", "2021-03-01", "2021-06-30",
             "2021-07-01", "2021-07-15", "2021-07-16", "2021-07-31", "2021-08-01", "2021-12-31"]  # fmt: skip
REGIONS = ["", "CN", "CN-ZJ", "CN-GD", "CN-BJ", "CN-HE"]
PRODUCTS = ["", "consumer", "sme", "agri"]


def varied_loans(n: int, seed: int = 21, prefix: str = "V", duplicates: int = 0) -> list[dict[str, str]]:
    """Loans over 2021 in every test region, many on edge days, online and branch, some ids repeated."""
    rng = random.Random(seed)
    loans = []
    for i in range(n):
        day = (
            rng.choice(EDGE_DAYS)
            if rng.random() < 0.4
            else (date(2021, 1, 1) + timedelta(days=rng.randrange(365))).isoformat()
        )
        loans.append({
            "loan_id": f"{prefix}{i:06d}", "disbursed_on": day,
            "channel": "online" if rng.random() < 0.85 else "branch",
            "product": rng.choice(PRODUCTS), "region": rng.choice(REGIONS),
        })  # fmt: skip
    for _ in range(duplicates):  # the same id again, on another day and region: only the first counts
        again = dict(rng.choice(loans[: max(1, n // 2)]))
        again["disbursed_on"], again["region"] = rng.choice(EDGE_DAYS), rng.choice(REGIONS)
        loans.insert(rng.randrange(len(loans) // 2, len(loans) + 1), again)
    return loans
