"""Lexer: tokens carry positions; bad input is a positioned SyntaxError."""

from __future__ import annotations

import pytest

from ezlang.lang.errors import EzError
from ezlang.lang.lexer import EOF, NAME, NEWLINE, NUMBER, OP, STRING, tokenize


def kinds_values(src: str) -> list[tuple[str, object]]:
    return [(t.kind, t.value) for t in tokenize(src) if t.kind not in (EOF,)]


def lex_error(src: str) -> EzError:
    with pytest.raises(EzError) as info:
        tokenize(src, "t.ez")
    assert info.value.kind == "SyntaxError"
    return info.value


def test_tokens_have_line_and_column() -> None:
    toks = tokenize("let x = 1\n  print(x)", "t.ez")
    print_tok = next(t for t in toks if t.value == "print")
    assert (print_tok.line, print_tok.col) == (2, 3)
    assert (toks[0].line, toks[0].col, toks[0].end_col) == (1, 1, 4)


@pytest.mark.parametrize(
    ("src", "value"),
    [
        ("42", 42),
        ("3.14", 3.14),
        ("1e3", 1000.0),
        ("2.5e-3", 0.0025),
        ("0xFF", 255),
        ("0b101", 5),
        ("0o17", 15),
        ("1_000", 1000),
        (".5", 0.5),
    ],
)
def test_number_literals(src: str, value: object) -> None:
    toks = tokenize(src)
    assert toks[0].kind == NUMBER
    assert toks[0].value == value
    assert type(toks[0].value) is type(value)


@pytest.mark.parametrize(
    ("src", "value"),
    [
        (r'"a\nb"', "a\nb"),
        (r"'it\'s'", "it's"),
        (r'"tab\there"', "tab\there"),
        (r'"\\"', "\\"),
        (r'"\"q\""', '"q"'),
        (r'"\0"', "\0"),
        (r'"\u0041\x42"', "AB"),
        (r'"\r"', "\r"),
        ('"ünï €"', "ünï €"),
    ],
)
def test_string_escapes(src: str, value: str) -> None:
    toks = tokenize(src)
    assert toks[0].kind == STRING
    assert toks[0].value == value


def test_comments_of_all_three_kinds_are_skipped() -> None:
    src = "a // one\nb # two\nc /* three */ d"
    assert [v for k, v in kinds_values(src) if k == NAME] == ["a", "b", "c", "d"]


def test_multi_line_block_comment_ends_the_line() -> None:
    src = "a /* x\n y */ b"
    assert [k for k, _ in kinds_values(src)] == [NAME, NEWLINE, NAME]
    assert tokenize(src)[-2].line == 2


def test_operators_longest_match() -> None:
    assert [v for _, v in kinds_values("a<=b==c!=d&&e||f+=1")][1::2] == [
        "<=", "==", "!=", "&&", "||", "+=",
    ]  # fmt: skip
    assert all(k == OP for k, _ in kinds_values("( ) [ ] { } , . : ;"))


def test_keywords_are_plain_names_for_the_lexer() -> None:
    assert kinds_values("if type token") == [(NAME, "if"), (NAME, "type"), (NAME, "token")]


def test_unterminated_string_points_at_its_start() -> None:
    err = lex_error('let s = "abc\nprint(s)')
    assert "unterminated string" in err.message
    assert (err.pos.line, err.pos.col) == (1, 9)


def test_a_string_may_span_lines_as_in_the_older_easylang() -> None:
    tokens = tokenize('let s = "one\ntwo"\nx')
    string = tokens[3]
    assert (string.kind, string.value) == (STRING, "one\ntwo")
    assert (string.line, string.col, string.end_line) == (1, 9, 2)
    assert (tokens[-2].value, tokens[-2].line, tokens[-2].col) == ("x", 3, 1)


def test_an_unclosed_quote_names_the_string_that_ran_across_lines() -> None:
    err = lex_error('print("abc)\nprint("x")\n')
    assert (err.pos.line, err.pos.col) == (2, 9)
    assert "the string at 1:7 runs on to line 2" in err.message


def test_unterminated_block_comment() -> None:
    err = lex_error("a\n/* never closed")
    assert "unterminated comment" in err.message
    assert (err.pos.line, err.pos.col) == (2, 1)


def test_unknown_escape_is_the_character_itself() -> None:
    # The older EasyLang's lexer (and JavaScript) drop the backslash of an unknown escape.
    assert kinds_values(r'"\q \d \u \x1"') == [(STRING, "q d u x1")]


def test_hex_escapes_decode_and_malformed_ones_read_as_characters() -> None:
    assert kinds_values(r'"\x41\u00e9\u{1F600}"') == [(STRING, "A\u00e9\U0001f600")]
    assert kinds_values(r'"\xZZ"') == [(STRING, "xZZ")]


def test_strict_equality_operators_get_a_hint() -> None:
    for op in ("===", "!=="):
        err = lex_error(f"a {op} b")
        assert f"EasyLang has no '{op}'" in err.message
        assert (err.pos.line, err.pos.col) == (1, 3)


def test_unexpected_character() -> None:
    err = lex_error("let a = 1 @ 2")
    assert err.message == "unexpected character '@'"
    assert (err.pos.line, err.pos.col) == (1, 11)


@pytest.mark.parametrize("src", ["1_", "1__0", "12abc", "0x", "0xZ"])
def test_invalid_numbers(src: str) -> None:
    assert "invalid number" in lex_error(src).message
