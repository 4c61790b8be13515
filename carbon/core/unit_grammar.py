"""The bounded grammar a unit string must fit before pint sees it.

pint evaluates exponents as numbers, and the exact factor of `km^150000` is a 450,000-digit integer: one
25-character unit can hold the process for hours. So a unit is checked here first, in linear time and
without arithmetic: names joined by `*`, `/` or spaces, parentheses, and whole-number exponents after
`^` or `**`, within the bounds below. Anything else is refused with the rule it breaks.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from carbon.errors import UnitGrammarError

__all__ = ["MAX_EXPONENT", "MAX_NAMES", "MAX_NESTING", "MAX_UNIT_LENGTH", "check_unit_text"]

MAX_UNIT_LENGTH = 64
MAX_EXPONENT = 4  # on each unit name once parentheses are applied: (km/h)^2 gives km^2
MAX_NAMES = 8
MAX_NESTING = 2

_TOKEN = re.compile(
    r"\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<power>\*\*|\^)|(?P<op>[*/])"
    r"|(?P<open>\()|(?P<close>\))|(?P<number>[+-]?[0-9]+)|(?P<other>\S))"
)


class _Token(NamedTuple):
    kind: str
    text: str


def _tokens(text: str) -> list[_Token]:
    tokens = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        if kind is None:  # only trailing whitespace was left
            break
        tokens.append(_Token(kind, match[kind]))
    return tokens


class _Parser:
    """Recursive descent over at most MAX_UNIT_LENGTH characters and MAX_NESTING levels: bounded work."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.at = 0
        self.names = 0

    def refuse(self, rule: str) -> UnitGrammarError:
        return UnitGrammarError(self.text, rule)

    def peek(self) -> _Token | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def parse(self) -> None:
        if not self.tokens:
            raise self.refuse("a unit needs at least one unit name")
        self.product(depth=0, scale=1)
        if self.peek() is not None:
            raise self.refuse(f"unexpected {self.peek_text()!r}")

    def peek_text(self) -> str:
        token = self.peek()
        return token.text if token is not None else "end"

    def product(self, depth: int, scale: int) -> None:
        """term ((`*` | `/` | space) term)*"""
        self.term(depth, scale)
        while (token := self.peek()) is not None and token.kind in ("op", "name", "open"):
            if token.kind == "op":
                self.take()
            self.term(depth, scale)

    def term(self, depth: int, scale: int) -> None:
        """(name | `(` product `)`) [`^` integer]: the exponent is read before the inside."""
        start = self.at
        token = self.peek()
        if token is None or token.kind not in ("name", "open"):
            raise self.refuse(f"expected a unit name or '(' but found {self.peek_text()!r}")
        exponent = self.exponent_after(start)
        self.at = start
        if token.kind == "name":
            self.take()
            self.names += 1
            if self.names > MAX_NAMES:
                raise self.refuse(f"at most {MAX_NAMES} unit names")
            if abs(scale * exponent) > MAX_EXPONENT:
                raise self.refuse(f"exponents must be whole numbers from -{MAX_EXPONENT} to {MAX_EXPONENT}")
        else:
            if depth >= MAX_NESTING:
                raise self.refuse(f"parentheses nested at most {MAX_NESTING} deep")
            self.take()
            self.product(depth + 1, scale * exponent)
            if self.peek_text() != ")":
                raise self.refuse("unbalanced parentheses")
            self.take()
        if self.peek() is not None and self.peek_text() in ("^", "**"):
            self.take()
            self.take()

    def exponent_after(self, start: int) -> int:
        """The exponent written after the name or group at `start` (1 if none), read without parsing it."""
        at, level = start, 0
        while at < len(self.tokens):
            kind = self.tokens[at].kind
            level += (kind == "open") - (kind == "close")
            at += 1
            if level <= 0:
                break
        if at >= len(self.tokens) or self.tokens[at].kind != "power":
            return 1
        number = self.tokens[at + 1] if at + 1 < len(self.tokens) else None
        if number is None or number.kind != "number":
            raise self.refuse("an exponent must be a whole number written after ^ or **")
        if len(number.text.lstrip("+-")) > 3 or abs(int(number.text)) > MAX_EXPONENT:
            raise self.refuse(f"exponents must be whole numbers from -{MAX_EXPONENT} to {MAX_EXPONENT}")
        if at + 2 < len(self.tokens) and self.tokens[at + 2].kind == "power":
            raise self.refuse("one exponent per unit name or group (no ^2^2)")
        return int(number.text)


def check_unit_text(text: str) -> str:
    """The unit text, stripped, if it fits the grammar; UnitGrammarError naming the broken rule if not."""
    stripped = text.strip()
    if len(stripped) > MAX_UNIT_LENGTH:
        raise UnitGrammarError(stripped[:MAX_UNIT_LENGTH] + "...", f"at most {MAX_UNIT_LENGTH} characters")
    if not stripped.isascii():
        raise UnitGrammarError(stripped, "ASCII letters, digits and * / ^ ( ) only")
    _Parser(stripped).parse()
    return stripped
