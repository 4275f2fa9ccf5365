"""Property: whatever text or token soup reaches the front end, the only failure is an
EasyLang SyntaxError with a position — never a Python exception."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ezlang.lang import EzError, compile_source
from ezlang.lang.parser import parse

TOKENS = [
    "let", "var", "const", "func", "function", "if", "else", "while", "for", "in", "return",
    "break", "continue", "throw", "try", "catch", "finally", "import", "as", "listen", "true",
    "false", "null", "not", "and", "or", "x", "y", "print", "type", "1", "2.5", "0xF", '"s"',
    "'t'", "+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=", "&&", "||", "!", "=",
    "+=", "-=", "(", ")", "[", "]", "{", "}", ",", ".", ":", ";", "\n", "//c\n", "/*c*/",
]  # fmt: skip


def check(source: str) -> None:
    try:
        parse(source, "p.ez")
    except EzError as err:
        assert err.kind == "SyntaxError"
        assert err.pos is not None and err.pos.line >= 1 and err.pos.col >= 1


def check_compile(source: str) -> None:
    try:
        compile_source(source, "p.ez")
    except EzError as err:
        assert err.kind == "SyntaxError"
        assert err.pos is not None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_random_text_only_raises_syntax_errors(source: str) -> None:
    check(source)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS), max_size=60))
def test_random_token_sequences_only_raise_syntax_errors(tokens: list[str]) -> None:
    check(" ".join(tokens))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS), max_size=40))
def test_random_token_sequences_compile_or_raise_syntax_errors(tokens: list[str]) -> None:
    # The compiler (scoping, const, break outside loops…) must also only raise SyntaxError.
    check_compile(" ".join(tokens))
