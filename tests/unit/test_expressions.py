from fractions import Fraction

import pytest

from carbon.registry.expressions import evaluate_value


def test_published_decimals_and_derivations_are_exact() -> None:
    assert evaluate_value("34.80") == Fraction("34.8")
    assert evaluate_value("21883.63 / 46769.74") == Fraction(2188363, 4676974)
    assert evaluate_value("771.523 + 0.057 * 28 + 0.008 * 265") == Fraction("775.239")
    assert evaluate_value("(1 + 2) * 3 - 4") == 5


@pytest.mark.parametrize(
    "text",
    ["1e3", "-1", "x", "1/0", "__import__('os')", "1 +", "0x10", "1_000", "2 ** 3", "1" * 201],
)
def test_anything_else_is_refused_with_a_reason(text: str) -> None:
    with pytest.raises(ValueError):
        evaluate_value(text)
