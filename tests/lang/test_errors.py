"""Errors: kind, message, file:line:col, the source line with a caret, the EasyLang call stack;
Python internals only with debug=True."""

from __future__ import annotations

import pytest

from ezlang.lang import EzError, compile_source, format_error

from .conftest import run_error


def test_runtime_error_format_with_call_stack() -> None:
    err, text, _ = run_error(
        "func a(x) { return b(x) }\nfunc b(x) {\n    return x + [1]\n}\na(1)\n", "stack.ez"
    )
    assert err.kind == "TypeError"
    assert text.splitlines() == [
        "TypeError: cannot use + on number and array",
        "  at stack.ez:3:14",
        "    return x + [1]",
        "             ^",
        "  call stack (innermost last):",
        "    <main> at stack.ez:5:1",
        "    a at stack.ez:1:20",
        "    b at stack.ez:3:14",
    ]
    assert "Traceback" not in text and ".py" not in text


def test_error_raised_by_a_builtin_points_at_the_call() -> None:
    err, text, _ = run_error("let x = 1\nlet y = upper(5)\n", "b.ez")
    assert err.kind == "TypeError"
    assert "  at b.ez:2:9" in text
    assert "    let y = upper(5)" in text


def test_syntax_error_format() -> None:
    with pytest.raises(EzError) as info:
        compile_source("let x = 1\nlet y = (2 +\n", "s.ez")
    text = format_error(info.value)
    assert text.startswith("SyntaxError: ")
    assert "s.ez:" in text


def test_syntax_error_shows_line_and_caret() -> None:
    with pytest.raises(EzError) as info:
        compile_source('let a = 1\nlet s = "abc', "s.ez")
    assert format_error(info.value).splitlines() == [
        'SyntaxError: unterminated string (the " at 2:9 is never closed)',
        "  at s.ez:2:9",
        '    let s = "abc',
        "            ^",
    ]


def test_const_reassignment_is_a_compile_time_error() -> None:
    with pytest.raises(EzError) as info:
        compile_source('print("never runs")\nconst LIMIT = 3\nLIMIT = 4\n', "c.ez")
    err = info.value
    assert err.kind == "SyntaxError"
    assert "cannot assign to constant 'LIMIT'" in err.message
    assert (err.pos.line, err.pos.col) == (3, 1)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ('func f() { include "x.ez" }', "'include' is only allowed at the top level"),
        ("break", "'break' outside a loop"),
        ("func f() { continue }", "'continue' outside a loop"),
        ('func f() { import "x.ez" }', "'import' is only allowed at the top level"),
        ("const A = 1\nconst A = 2", "'A' is already declared"),
    ],
)
def test_compile_time_errors(source: str, message: str) -> None:
    with pytest.raises(EzError) as info:
        compile_source(source, "c.ez")
    assert info.value.kind == "SyntaxError"
    assert message in info.value.message


def test_undefined_name_suggests_a_close_match() -> None:
    err, _, _ = run_error("let counter = 1\nprint(countr)")
    assert err.kind == "NameError"
    assert err.message == "'countr' is not defined (did you mean 'counter'?)"


def test_use_before_declaration() -> None:
    err, _, _ = run_error("func f() { print(zz)\n let zz = 1 }\nf()")
    assert err.kind == "NameError"
    assert "'zz' is used before it has a value" in err.message


def test_deep_recursion_is_an_easylang_error_with_a_compact_stack() -> None:
    err, text, _ = run_error("func f(n) { return f(n + 1) }\nf(0)", "rec.ez")
    assert err.kind == "Error"
    assert "too much recursion" in err.message
    assert "repeated" in text
    assert len(text.splitlines()) < 20


def test_output_before_the_error_is_kept() -> None:
    _, _, out = run_error('print("before")\nlet x = null\nx.y')
    assert out == "before\n"


def test_debug_shows_python_internals() -> None:
    err, _, _ = run_error('let x = 1 - "a"')
    assert "Traceback" in format_error(err, debug=True)
    assert "Traceback" not in format_error(err)


def test_throw_reports_kind_error_with_the_message() -> None:
    err, text, _ = run_error('func check() { throw "not allowed" }\ncheck()', "t.ez")
    assert err.kind == "Error" and err.message == "not allowed" and err.value == "not allowed"
    assert text.startswith("Error: not allowed\n  at t.ez:1:16")


def test_to_ez_error_keeps_the_python_cause() -> None:
    err, _, _ = run_error('let x = 1 - "a"')
    assert isinstance(err.__cause__, TypeError)


def test_huge_expression_is_a_syntax_error_with_a_short_source_excerpt() -> None:
    with pytest.raises(EzError) as info:
        compile_source("let s = " + " + ".join(['"a"'] * 4000), "huge.ez")
    assert info.value.kind == "SyntaxError"
    text = format_error(info.value)
    assert "too long or too deeply nested" in text
    assert max(len(line) for line in text.splitlines()) < 130


def test_long_operator_chains_compile_and_run() -> None:
    from .conftest import run_source

    out, _ = run_source("print(" + " + ".join(["1"] * 500) + ")")
    assert out == "500\n"


def test_ez_error_survives_pickling() -> None:
    import pickle

    err, _, _ = run_error('func f() { error("boom") }\nf()', "p.ez")
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.kind, copy.message, copy.pos) == ("Error", "boom", err.pos)
    assert copy.stack == err.stack
    assert format_error(copy).splitlines()[:3] == format_error(err).splitlines()[:3]


def test_caret_stays_aligned_with_tabs() -> None:
    _, text, _ = run_error('func f() {\n\tlet a =\t1 -\t"x"\n}\nf()', "tab.ez")
    lines = text.splitlines()
    assert lines[2] == '    let a = 1 - "x"'
    assert lines[3].index("^") == lines[2].index("-")


def _compile_error(source: str, filename: str) -> EzError:
    with pytest.raises(EzError) as info:
        compile_source(source, filename)
    return info.value


def test_too_long_expression_error_points_at_its_line_not_the_file_start() -> None:
    chain = " + ".join(["1"] * 20000)
    err = _compile_error(f"print(1)\n\n\n\nlet x = {chain}\nprint(x)\n", "chain.ez")
    assert err.kind == "SyntaxError" and "too deeply nested" in err.message
    assert (err.pos.file, err.pos.line, err.pos.col) == ("chain.ez", 5, 9)  # type: ignore[union-attr]
    assert format_error(err).splitlines()[2].startswith("    let x = 1 + 1")


def test_too_long_expression_inside_a_function_points_at_it() -> None:
    chain = " and ".join(["true"] * 20000)
    source = f"func f() {{\n    print(2)\n    if {chain} {{\n        print(1)\n    }}\n}}\n"
    err = _compile_error(source, "inner.ez")
    assert (err.pos.line, err.pos.col) == (3, 8)  # type: ignore[union-attr]


def test_too_long_snippet_points_at_its_line() -> None:
    from ezlang.lang import compile_snippet

    with pytest.raises(EzError) as info:
        compile_snippet("let a = 1\nreturn " + " * ".join(["a"] * 20000), filename="<eval>")
    assert info.value.kind == "SyntaxError"
    assert (info.value.pos.line, info.value.pos.col) == (2, 8)  # type: ignore[union-attr]


def test_parser_depth_error_points_at_the_line_that_went_too_deep() -> None:
    err = _compile_error("print(1)\n\n\n\nlet x = " + "(" * 300 + "1" + ")" * 300, "p.ez")
    assert "nested too deeply" in err.message
    assert err.pos.line == 5 and err.pos.col > 9  # type: ignore[union-attr]
    err = _compile_error("print(1)\n" + "if true {\n" * 300 + "}\n" * 300, "b.ez")
    assert "nested too deeply" in err.message and err.pos.line > 90  # type: ignore[union-attr]


# Python refuses int <-> text conversions past sys.get_int_max_str_digits() (4300 by default)
# with a message about sys.set_int_max_str_digits; EasyLang names the problem instead.

# ``pow`` gives Infinity past 2**64; whole-number multiplication stays exact.
_HUGE = "let huge = 1\nfor i in range(5000) { huge = huge * 10 }\n"


def test_number_literal_with_too_many_digits_is_a_positioned_syntax_error() -> None:
    err = _compile_error("print(1)\nlet big = " + "7" * 5000 + "\n", "lit.ez")
    assert err.kind == "SyntaxError"
    assert err.message == "number literal is too long (5000 digits; at most 4300)"
    assert (err.pos.line, err.pos.col) == (2, 11)  # type: ignore[union-attr]
    assert "sys." not in format_error(err)


def test_number_literal_at_the_digit_limit_still_works() -> None:
    from .conftest import run_source

    out, _ = run_source("print(length(str(" + "9" * 4300 + ")))")
    assert out == "4300\n"


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("str(huge)", "the number has more than 4300 digits, too many to show as text"),
        ('"n=" + huge', "more than 4300 digits"),
        ("json_stringify([huge])", "more than 4300 digits"),
        ('num("' + "5" * 5000 + '")', "num() cannot convert a 5000-digit number: at most 4300"),
        ('int("-' + "5" * 5000 + '")', "int() cannot convert a 5000-digit number: at most 4300"),
        ('json_parse("[' + "5" * 5000 + ']")', "json_parse(): a number in the JSON has more"),
    ],
)
def test_conversions_past_the_digit_limit_are_value_errors(expression: str, message: str) -> None:
    err, text, out = run_error(f'{_HUGE}print("before")\nlet x = {expression}\n', "conv.ez")
    assert out == "before\n"
    assert err.kind == "ValueError" and message in err.message
    assert err.pos is not None and err.pos.line == 4
    assert "sys." not in text and "Traceback" not in text


def test_print_of_a_huge_number_is_a_value_error() -> None:
    err, _, _ = run_error(_HUGE + "print(huge)\n", "p.ez")
    assert err.kind == "ValueError" and "too many to show as text" in err.message
