"""The avoided-emission factor of an online loan: valid on its day, in its region or else its country."""

from __future__ import annotations

from datetime import date

from carbon.core.calculate import calculate
from carbon.core.model import Factor
from carbon.errors import FactorError
from carbon.registry import FactorRegistry

__all__ = ["ONLINE_LOAN", "LoanFactors"]

ONLINE_LOAN = "online_loan"


class LoanFactors:
    """Resolve and cache factors per (region, day) for one calculation; never per record."""

    def __init__(self, registry: FactorRegistry, release: str | None, default_region: str) -> None:
        self._registry = registry
        self.release = registry.release(release).id
        self.default_region = default_region
        self._cache: dict[tuple[str, date], Factor] = {}
        self._mg: dict[str, int] = {}

    def factor(self, region: str | None, day: date, loan_id: str | None = None) -> Factor:
        """The factor valid on `day` in `region` (CN-HE, then CN); FactorError names the loan if given."""
        where = region or self.default_region
        key = (where, day)
        if key not in self._cache:
            self._cache[key] = self._find(where, day, loan_id)
        return self._cache[key]

    def mg_per_loan(self, factor: Factor) -> int:
        """One loan's emission in whole milligrams, computed once per factor."""
        if factor.id not in self._mg:
            self._mg[factor.id] = calculate(1, "loan", factor).mg
        return self._mg[factor.id]

    def _find(self, region: str, day: date, loan_id: str | None) -> Factor:
        candidates = [region] if "-" not in region else [region, region.split("-", 1)[0]]
        for candidate in candidates:
            if self._registry.factors(self.release, activity=ONLINE_LOAN, region=candidate, on=day):
                return self._registry.find(ONLINE_LOAN, candidate, day, release=self.release)
        try:
            return self._registry.find(ONLINE_LOAN, candidates[-1], day, release=self.release)
        except FactorError as error:
            prefix = f"loan {loan_id}: " if loan_id else ""
            raise FactorError(f"{prefix}{error}") from None
