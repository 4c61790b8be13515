"""Unit strings are held to a bounded grammar before pint does any arithmetic on them."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carbon.core.unit_grammar import MAX_EXPONENT, MAX_UNIT_LENGTH
from carbon.core.units import parse_unit
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
    started = time.perf_counter()
    with pytest.raises(UnitGrammarError) as refused:
        parse_unit(text)
    elapsed = time.perf_counter() - started
    assert rule in str(refused.value)
    assert elapsed < 0.05  # generous: the check is a few microseconds of tokenising


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
def test_no_unit_text_takes_more_than_a_few_milliseconds(text: str) -> None:
    parse_unit.cache_clear()
    started = time.perf_counter()
    try:
        unit = parse_unit(text)
    except UnitError:
        unit = None
    elapsed = time.perf_counter() - started
    assert elapsed < 0.25, f"{text!r} took {elapsed * 1000:.1f} ms"  # measured well under 1 ms; generous
    if unit is not None:
        assert len(text.strip()) <= MAX_UNIT_LENGTH
        exponents = [abs(float(str(e))) for e in unit._units.values()]
        assert max(exponents, default=0) <= MAX_EXPONENT * 8  # each name within bounds; repeats add up
