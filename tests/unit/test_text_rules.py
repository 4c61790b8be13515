"""The one text rule (no control characters, bounded length) and the spreadsheet-safe CSV cell."""

from __future__ import annotations

from decimal import Decimal

import pytest

from carbon.core.text import is_plain_text, spreadsheet_cell


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+1", "'=1+1"),
        (" =1+1", "' =1+1"),
        ("\n=1+1", "' =1+1"),
        ("\t=1+1", "' =1+1"),
        ("x\r=cmd|' /C calc'!A0", "x =cmd|' /C calc'!A0"),  # no line of its own: the CR is a space now
        ("\r\n@SUM(A1)", "'  @SUM(A1)"),
        ("+cmd", "'+cmd"),
        ("-1+1", "'-1+1"),
        ("\uff1d1+1", "'\uff1d1+1"),
        ("a\u2028=1", "a =1"),
        ("micro", "micro"),
        ("农业贷款", "农业贷款"),
        ("-1.5", "-1.5"),
        ("+2", "+2"),
        (Decimal("-0.0000348"), "-0.0000348"),
        (12, "12"),
        (None, ""),
    ],
)
def test_a_csv_cell_is_never_a_formula_and_numbers_are_unchanged(value: object, written: str) -> None:
    assert spreadsheet_cell(value) == written


@pytest.mark.parametrize(
    ("value", "plain"),
    [("micro", True), ("x" * 64, True), ("x" * 65, False), ("", False), ("a\rb", False), ("a\x85b", False),
     ("a\u2029b", False), (" =1+1", True)],
)  # fmt: skip
def test_plain_text_has_no_control_character_and_a_bounded_length(value: str, plain: bool) -> None:
    assert is_plain_text(value, 64) is plain
