"""Unit strings are held to a bounded grammar before pint does any arithmetic on them."""

from __future__ import annotations

from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carbon.core.unit_grammar import MAX_EXPONENT, MAX_UNIT_LENGTH, check_unit_text
from carbon.core.units import parse_unit, ureg
from carbon.errors import UnitError, UnitGrammarError

ACCEPTED = ["kWh", "gCO2e/kWh", "Wh/(TB*h)", "kWh/(GB*h)", "km^-1", "m**2", "kWh km", "kgCO2e/t", "W^4/h^-4"]


@pytest.mark.parametrize("text", ACCEPTED)
def test_the_vocabulary_in_use_still_parses(text: str) -> None:
    assert parse_unit(text) is not None


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("kWh*km^150000/mi^150000", "exponents must be whole numbers from -4 to 4"),
        ("kWh*km^9999999/mi^9999999", "exponents must be whole numbers from -4 to 4"),
        ("km^5", "exponents must be whole numbers from -4 to 4"),
        ("(km^2)^3", "exponents must be whole numbers from -4 to 4"),  # 6 once the group is applied
        ("km^2^2", "one exponent per unit name or group"),
        ("km^(2)", "an exponent must be a whole number"),
        ("km^x", "an exponent must be a whole number"),
        ("((((km))))", "parentheses nested at most 2 deep"),
        ("m*m*m*m*m*m*m*m*m", "at most 8 unit names"),
        ("k" * 65, "at most 64 characters"),
        ("1000*kWh", "expected a unit name"),
        ("(km", "unbalanced parentheses"),
        ("km)", "unexpected ')'"),
    ],
)
def test_a_unit_outside_the_grammar_is_refused_naming_the_rule(text: str, rule: str) -> None:
    parse_unit.cache_clear()
    with mock.patch.object(ureg, "parse_units") as pint_parser, pytest.raises(UnitGrammarError) as refused:
        parse_unit(text)
    assert rule in str(refused.value)
    pint_parser.assert_not_called()  # refused by the grammar, before pint does any arithmetic


_NAMES = st.sampled_from(["kWh", "km", "mi", "h", "g", "kgCO2e", "loan", "W", "TB", "x"])
_EXPONENT = (
    st.integers(-12, 12).map(lambda n: f"^{n}") | st.just("") | st.integers(-9, 9).map(lambda n: f"**{n}")
)


@st.composite
def unit_texts(draw: st.DrawFn, depth: int = 0) -> str:
    """Unit-shaped text, within bounds and beyond them (exponents up to 12, nesting up to 3)."""
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        if depth < 3 and draw(st.booleans()) and draw(st.booleans()):
            inner = draw(unit_texts(depth + 1))
            part = f"({inner})"
        else:
            part = draw(_NAMES)
        parts.append(part + draw(_EXPONENT))
    text = parts[0]
    for part in parts[1:]:
        text += draw(st.sampled_from(["*", "/", " "])) + part
    return text


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(unit_texts() | st.text(alphabet="kWhm^*/()-0123456789 ", max_size=80))
def test_pint_only_ever_sees_text_the_bounded_grammar_accepted(text: str) -> None:
    # pint's cost grows with the square of an exponent; the grammar is what bounds it, so no text that
    # the grammar refuses may reach pint's parser (a structural guard rather than a wall-clock one)
    parse_unit.cache_clear()
    reached: list[str] = []
    real = ureg.parse_units

    def spy(unit_text: str, *args: object, **kwargs: object) -> object:
        reached.append(unit_text)
        return real(unit_text, *args, **kwargs)

    with mock.patch.object(ureg, "parse_units", spy):
        try:
            unit = parse_unit(text)
        except UnitError:
            unit = None
    for seen in reached:
        assert check_unit_text(seen) == seen.strip(), seen
        assert len(seen) <= MAX_UNIT_LENGTH, seen
    if unit is not None:
        assert len(text.strip()) <= MAX_UNIT_LENGTH
        exponents = [abs(float(str(e))) for e in unit._units.values()]
        assert max(exponents, default=0) <= MAX_EXPONENT * 8  # each name within bounds; repeats add up
