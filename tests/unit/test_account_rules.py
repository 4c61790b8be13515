"""The accounts' pure rules: the keyed pseudonym, and credits that sum per customer to the milligram."""

from __future__ import annotations

import hashlib
import hmac
import random
from collections import defaultdict
from datetime import date, timedelta

import numpy as np
import pyarrow as pa

from carbon.books.accounts.rules import CreditRow, balance_of, credit_table, is_customer_ref, pseudonym
from carbon.core.ledger import CountedLoans
from carbon.core.model import Factor
from carbon.registry import FactorRegistry

EPOCH = date(1970, 1, 1)


def test_the_pseudonym_is_hmac_sha256_under_the_tenants_secret_truncated_to_128_bits() -> None:
    secret = bytes(range(32))
    ref = "13800138000-张伟"
    expected = hmac.new(secret, ref.encode("utf-8"), hashlib.sha256).hexdigest()[:32]
    assert pseudonym(secret, ref) == expected
    assert pseudonym(secret, ref) == pseudonym(bytes(range(32)), ref)
    assert pseudonym(bytes(32), ref) != expected  # another tenant's secret: unrelated
    assert ref not in pseudonym(secret, ref) and len(pseudonym(secret, ref)) == 32


def test_a_reference_is_plain_text_of_1_to_128_characters() -> None:
    assert is_customer_ref("C-1") and is_customer_ref("é" * 128)
    assert not any(is_customer_ref(v) for v in ("", "x" * 129, "a\nb", "a\x00", "a\u2028"))


def _factors(shipped_registry: FactorRegistry) -> list[Factor]:
    return list(shipped_registry.factors(None, activity="online_loan"))[:3]


def test_credits_sum_per_customer_and_month_exactly_as_a_plain_oracle(
    shipped_registry: FactorRegistry,
) -> None:
    rng = random.Random(7)
    factors = _factors(shipped_registry)
    n = 5000
    customers = [None if rng.random() < 0.1 else f"c{rng.randrange(300)}" for _ in range(n)]
    days = [rng.randrange(18628, 18628 + 730) for _ in range(n)]
    mg = [rng.choice([34_800, 35_001, 1, 999_999_937]) for _ in range(n)]
    codes = [rng.randrange(len(factors)) for _ in range(n)]
    loans = CountedLoans(
        customers=pa.array(customers, pa.string()) if n % 2 else customers,
        days=np.array(days, np.int32), mg=np.array(mg, np.int64), factor_codes=np.array(codes, np.int32),
        factors=tuple(factors), activity="online_loan",
    )  # fmt: skip
    secret = b"s" * 32
    table = credit_table(secret, loans).to_pylist()
    want: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    for ref, day, amount, code in zip(customers, days, mg, codes, strict=True):
        if ref is not None:
            month = (EPOCH + timedelta(days=day)).strftime("%Y-%m")
            slot = want[(pseudonym(secret, ref), month, factors[code].id)]
            slot[0] += amount
            slot[1] += 1
    got = {
        (r["pseudonym"], r["month"].strftime("%Y-%m"), r["factor_id"]): [r["mg"], r["loans"]] for r in table
    }
    assert got == want
    assert all(r["month"].day == 1 and r["activity"] == "online_loan" for r in table)


def test_no_customer_means_no_credit(shipped_registry: FactorRegistry) -> None:
    zeros = np.zeros(3, np.int32)
    factors = tuple(_factors(shipped_registry)[:1])
    loans = CountedLoans(pa.nulls(3, pa.string()), zeros, np.ones(3, np.int64), zeros, factors, "online_loan")
    assert credit_table(b"s" * 32, loans).num_rows == 0


def test_a_balance_sums_credits_and_debits_and_drops_months_reversed_whole() -> None:
    june, july = date(2021, 6, 1), date(2021, 7, 1)
    rows = [CreditRow(june, "online_loan", "f", 1, "r", 2, 69_600),
            CreditRow(july, "online_loan", "f", 1, "r", 1, 34_800),
            CreditRow(july, "online_loan", "f", 1, "r", -1, -34_800)]  # fmt: skip
    balance = balance_of(rows)
    assert (balance.mg, balance.loans, [m.month for m in balance.months]) == (69_600, 2, ["2021-06"])
    assert balance_of([]).mg == 0 and balance_of([]).months == ()
