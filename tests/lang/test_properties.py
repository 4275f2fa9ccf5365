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


# --------------------------------------------------------------------------- runtime property

_LEAVES = st.sampled_from(
    ["0", "1", "2.5", "-3", '"a"', '""', "true", "false", "null", "[]", "[1, 2]", "{}",
     "{k: 1}", "x", "f"]
)  # fmt: skip
_BINOPS = ["+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=", "and", "or"]


def _expressions() -> st.SearchStrategy[str]:
    return st.recursive(
        _LEAVES,
        lambda inner: st.one_of(
            st.tuples(inner, st.sampled_from(_BINOPS), inner).map(
                lambda t: f"({t[0]} {t[1]} {t[2]})"
            ),
            st.tuples(st.sampled_from(["-", "!", "not "]), inner).map(lambda t: f"({t[0]}{t[1]})"),
            st.tuples(inner, inner).map(lambda t: f"{t[0]}[{t[1]}]"),
            inner.map(lambda e: f"{e}.k"),
            st.tuples(inner, inner).map(lambda t: f"f({t[0]}, {t[1]})"),
            inner.map(lambda e: f"str({e})"),
        ),
        max_leaves=8,
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_expressions())
def test_random_expressions_only_raise_easylang_errors(expression: str) -> None:
    import asyncio

    import ezlang.lang.builtins  # noqa: F401
    from ezlang.lang import call_async, to_ez_error
    from ezlang.lang.errors import KINDS

    source = f"let x = 7\nfunc f(a, b) {{ return a }}\nlet r = {expression}\nif {expression} {{ }}"
    program = compile_source(source, "prop.ez")
    try:
        asyncio.run(call_async(program.run))
    except Exception as exc:  # noqa: BLE001 - the property is about what every error becomes
        err = to_ez_error(exc)
        assert err.kind in KINDS
        assert "internal error" not in err.message, (expression, err.message)
        assert err.pos is not None and err.pos.file == "prop.ez"
