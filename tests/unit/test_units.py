from fractions import Fraction

import pytest

from carbon.core.units import conversion_factor, exact_amount, parse_quantity, parse_unit
from carbon.errors import DimensionError, QuantityError, UnitError, UnknownUnitError


def test_reference_strings_parse() -> None:
    assert parse_quantity("46769.74 MWh") == (Fraction("46769.74"), "MWh")
    assert str(parse_unit("gCO2e/loan")) == "gram_co2e / loan"


@pytest.mark.parametrize(
    ("source", "target", "factor"),
    [
        ("MWh", "kWh", Fraction(1000)),
        ("J", "kWh", Fraction(1, 3_600_000)),
        ("GJ", "MWh", Fraction(5, 18)),
        ("tCO2e", "mgCO2e", Fraction(10**9)),
        ("MtCO2e", "ktCO2e", Fraction(1000)),
        ("lbCO2e", "gCO2e", Fraction("453.59237")),
        ("kgCO2", "kgCO2e", Fraction(1)),
        ("mi", "km", Fraction("1.609344")),
    ],
)
def test_conversions_are_exact(source: str, target: str, factor: Fraction) -> None:
    assert conversion_factor(parse_unit(source), parse_unit(target)) == factor


def test_paper_mass_is_not_co2e_mass() -> None:
    with pytest.raises(DimensionError) as caught:
        conversion_factor(parse_unit("kg"), parse_unit("kgCO2e"))
    assert caught.value.expected == "CO2e mass"
    assert caught.value.received == "mass"


def test_loans_and_sheets_are_countable_units_of_their_own() -> None:
    assert conversion_factor(parse_unit("loans"), parse_unit("loan")) == 1
    with pytest.raises(DimensionError, match="loans"):
        conversion_factor(parse_unit("sheet"), parse_unit("loan"))


@pytest.mark.parametrize("text", ["foo", "", "2 kWh", "kWh**0.5", "kg/", "((", "__import__('os')", "degC"])
def test_unknown_or_malformed_units_raise_the_projects_error(text: str) -> None:
    with pytest.raises(UnknownUnitError) as caught:
        parse_unit(text)
    assert isinstance(caught.value, UnitError)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-1", "negative"),
        ("nan", "finite"),
        ("inf", "finite"),
        ("1e400", "out of range"),
        ("1e1000000", "out of range"),
        ("abc", "decimal"),
        (True, "number"),
        (float("inf"), "finite"),
    ],
)
def test_bad_amounts_are_refused(value: object, message: str) -> None:
    with pytest.raises(QuantityError, match=message):
        exact_amount(value)


def test_amounts_are_exact_decimals_even_from_floats() -> None:
    assert exact_amount("34.80") == Fraction(174, 5)
    assert exact_amount(0.1) == Fraction(1, 10)
    assert exact_amount(7) == 7


def test_quantity_without_unit_is_refused() -> None:
    with pytest.raises(QuantityError, match="amount and a unit"):
        parse_quantity("46769.74")
