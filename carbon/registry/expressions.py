"""Exact values of factor files: plain decimals, or derivations like '21883.63 / 46769.74'."""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction

__all__ = ["evaluate_value"]

_DECIMAL = re.compile(r"\d+(\.\d+)?")
_OPERATORS: dict[type[ast.operator], Callable[[Fraction, Fraction], Fraction]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
_MAX_LENGTH = 200


def evaluate_value(text: str) -> Fraction:
    """Evaluate a decimal or an expression of decimals with + - * / and parentheses, exactly.

    Raises ValueError with a reason for anything else (exponents, names, calls, division by zero).
    """
    if len(text) > _MAX_LENGTH:
        raise ValueError(f"value longer than {_MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        raise ValueError(f"value {text!r} is not a decimal or an expression of decimals") from None
    return _evaluate(tree.body, text.strip())


def _evaluate(node: ast.expr, text: str) -> Fraction:
    """Walk the parsed expression, reading every literal from its source text, never as a float."""
    if isinstance(node, ast.Constant):
        literal = ast.get_source_segment(text, node) or ""
        if not _DECIMAL.fullmatch(literal):
            raise ValueError(f"{literal!r} is not a plain decimal (no exponents, no signs)")
        return Fraction(Decimal(literal))
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        left, right = _evaluate(node.left, text), _evaluate(node.right, text)
        if isinstance(node.op, ast.Div) and right == 0:
            raise ValueError("division by zero in value")
        return _OPERATORS[type(node.op)](left, right)
    raise ValueError(f"value {text!r} may only use decimals, + - * / and parentheses")
