"""Compiled EasyLang behaves as docs/LANGUAGE.md specifies (run end to end)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from .conftest import run_source

Ez = Callable[[str], str]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("print(7 / 2)", "3.5"),
        ("print(6 / 2)", "3"),
        ("print(3.0)", "3"),
        ("print(0.1 + 0.2)", "0.30000000000000004"),
        ("print(1e21, 1e-7, 123e-20)", "1e+21 1e-7 1.23e-18"),
        ("print(2 * 3.5, 10 - 4 - 3, 2 * 3 % 4, -7 % 3)", "7 3 2 2"),
        ('print("n=" + 5, 5 + "!", "x" + null, "a" + true, "b" + 1.5)', "n=5 5! xnull atrue b1.5"),
        ('print("=" * 3, 3 * "ab")', "=== ababab"),
        ("print([1] + [2, 3])", "[1, 2, 3]"),
        ("print(0xFF + 1_000)", "1255"),
        ('print([1, "a", null, true], {"k": [1, 2]})', '[1, "a", null, true] {"k": [1, 2]}'),
    ],
)
def test_numbers_strings_and_printing(ez: Ez, source: str, expected: str) -> None:
    assert ez(source) == expected + "\n"


def test_equality_by_value_without_coercion(ez: Ez) -> None:
    out = ez(
        'print(1 == 1.0, true == 1, 1 == "1", 0 == false, null == null, null == 0)\n'
        "let a = [1, [2, {k: 3}]]\n"
        "print(a == [1, [2, {k: 3}]], {x: 1, y: 2} == {y: 2, x: 1}, [1] != [1], a != 5)\n"
        "let one = 1\nlet t = true\nprint(one == t, t == one, one != t, one == 1, t == true)\n"
    )
    assert out == (
        "true false false false true false\ntrue true false true\nfalse false true true true\n"
    )


def test_truthiness(ez: Ez) -> None:
    out = ez(
        'for v in [false, null, 0, 0.0, "", [], {}, "0", -1] {\n'
        '  if v { print("T") } else { print("F") }\n'
        "}\n"
    )
    assert out.split() == ["F", "F", "F", "F", "F", "T", "T", "T", "T"]


def test_and_or_return_operands_with_easylang_truthiness(ez: Ez) -> None:
    assert ez('print([] and 1, [] or 2, null or "d", 0 and 5, 1 && 2, 0 || "x")') == (
        "1 [] d 0 2 x\n"
    )


def test_short_circuit_does_not_evaluate_the_right_side(ez: Ez) -> None:
    out = ez('func boom() { print("boom"); return true }\nlet a = false and boom()\n'
             'let b = true or boom()\nif false && boom() { }\nprint(a, b)')  # fmt: skip
    assert out == "false true\n"


def test_precedence(ez: Ez) -> None:
    assert ez("print(1 + 2 * 3, (1 + 2) * 3, -2 * 3, - -2, not 1 == 2, !true == false)") == (
        "7 9 -6 2 true true\n"
    )


def test_variables_let_var_const_and_bare_assignment(ez: Ez) -> None:
    out = ez("let a = 1\nvar b = 2\nconst C = 3\nd = 4\na = a + b + C + d\nprint(a)")
    assert out == "10\n"


def test_compound_assignment_on_names_members_and_indexes(ez: Ez) -> None:
    out = ez(
        "let x = 10\nx += 5\nx -= 3\nx *= 2\nx /= 4\nx %= 4\n"
        'let o = {n: 1}\no.n += 5\no["m"] = 2\nlet a = [1, 2]\na[0] += 10\na[1] *= 3\n'
        's = "a"\ns += 1\nprint(x, o, a, s)'
    )
    assert out == '2 {"n": 6, "m": 2} [11, 6] a1\n'


def test_block_scoping(ez: Ez) -> None:
    out = ez(
        "let x = 1\n{ let x = 2\n  print(x) }\nprint(x)\n"
        "if true { let y = 5 }\n"
        "try { print(y) } catch e { print(e.kind) }\n"
        "func f() { let x = 3\n  if true { let x = 4\n print(x) }\n  return x }\nprint(f())"
    )
    assert out == "2\n1\nNameError\n4\n3\n"


def test_bare_assignment_in_a_block_creates_a_function_level_variable(ez: Ez) -> None:
    out = ez('if 3 > 2 { result = "big" } else { result = "small" }\nprint(result)')
    assert out == "big\n"


def test_functions_closures_and_hoisting(ez: Ez) -> None:
    out = ez(
        "print(twice(4))\n"
        "func twice(a) { return a * 2 }\n"
        "function sub(a, b) { return a - b }\n"
        "let mul = func(a, b) { return a * b }\n"
        "func counter() {\n  let n = 0\n  return func() { n += 1\n return n }\n}\n"
        "let c = counter()\nc()\nc()\n"
        "count = 0\nfunc inc() { count = count + 1 }\ninc()\ninc()\n"
        "print(sub(5, 3), mul(2, 3), c(), count)"
    )
    assert out == "8\n2 6 3 2\n"


def test_fewer_arguments_fill_null(ez: Ez) -> None:
    assert (
        ez("func two(a, b) { return [a, b] }\nprint(two(1), two())") == "[1, null] [null, null]\n"
    )


def test_recursion(ez: Ez) -> None:
    assert ez("func fib(n) { if n < 2 { return n }\n return fib(n - 1) + fib(n - 2) }\n"
              "print(fib(20))") == "6765\n"  # fmt: skip


def test_if_else_chains_with_optional_parens(ez: Ez) -> None:
    src = (
        'func grade(n) {\n  if (n >= 90) { return "A" }\n  else if n >= 80 { return "B" }\n'
        '  else { return "C" }\n}\nprint(grade(95), grade(85), grade(10))'
    )
    assert ez(src) == "A B C\n"


def test_loops_break_continue(ez: Ez) -> None:
    out = ez(
        "let i = 0\nlet seen = []\n"
        "while true {\n  i += 1\n  if i == 2 { continue }\n  if i > 4 { break }\n"
        "  push(seen, i)\n}\nprint(seen)\n"
        'for k in {a: 1, b: 2} { print(k) }\nfor ch in "hi" { print(ch) }\n'
        "for n in range(2) { print(n) }"
    )
    assert out == "[1, 3, 4]\na\nb\nh\ni\n0\n1\n"


def test_for_over_object_allows_changing_it(ez: Ez) -> None:
    assert ez("let o = {a: 1}\nfor k in o { o.b = 2 }\nprint(o)") == '{"a": 1, "b": 2}\n'


def test_members_and_indexes(ez: Ez) -> None:
    out = ez(
        'let msg = {type: "x", token: 1, if: 2, author: {name: "ada"}}\n'
        'print(msg.type, msg.token, msg.if, msg.author.name, msg.missing, msg["type"])\n'
        'let a = [10, 20, 30]\nprint(a[0], a[-1], a[1.0], a.length, "abc"[1], "abc".length)'
    )
    assert out == "x 1 2 ada null x\n10 30 20 3 b 3\n"


def test_methods_stored_in_objects(ez: Ez) -> None:
    assert ez("let o = {f: func(x) { return x + 1 }}\nprint(o.f(1) * 2)") == "4\n"


def test_python_words_are_ordinary_names(ez: Ez) -> None:
    out = ez(
        "let None = 3\nlet True = None + 1\nlet class = 5\nlet def = class\n"
        "func lambda(pass) { return pass }\nprint(True, def, lambda(7))"
    )
    assert out == "4 5 7\n"


def test_try_catch_finally(ez: Ez) -> None:
    out = ez(
        'try { throw {code: 42, message: "bad"} } catch e { print(e.kind, e.message, e.code) }\n'
        'try { throw "oops" } catch (e) { print(e.kind, e.message, e, str(e)) } finally { print("fin") }\n'
        'try { let q = 1 - "a" } catch e { print(e.kind) }\n'
        'func f() { try { return 1 } finally { print("cleanup") } }\nprint(f())\n'
        'try { try { error("inner") } finally { print("f1") } } catch e { print(e.message) }\n'
        'try { error("x") } catch { print("caught without a name") }'
    )
    assert out == (
        "Error bad 42\nError oops oops oops\nfin\nTypeError\ncleanup\n1\nf1\ninner\n"
        "caught without a name\n"
    )


def test_rethrowing_a_caught_error_keeps_its_kind(ez: Ez) -> None:
    out = ez(
        "try {\n  try { [1][5] } catch e { throw e }\n} catch e2 { print(e2.kind, e2.message) }"
    )
    assert out == "IndexError index 5 is out of range for array of length 1\n"


def test_thrown_value_is_available(ez: Ez) -> None:
    out = ez("try { throw [1, 2] } catch e { print(e.value, e.message, type(e)) }")
    assert out == "[1, 2] [1, 2] object\n"


def test_error_kinds_of_runtime_errors(ez: Ez) -> None:
    out = ez(
        'func kind(f) { try { f() } catch err { return err.kind + ": " + err.message }\n'
        ' return "none" }\n'
        "print(kind(func() { return undefined_name }))\n"
        'print(kind(func() { return 1 - "a" }))\n'
        "print(kind(func() { return [1][5] }))\n"
        "print(kind(func() { return 1 / 0 }))\n"
        "print(kind(func() { return 1 % 0 }))\n"
        "print(kind(func() { let z = null\n return z.k }))\n"
        "func one(a) { return a }\n"
        "print(kind(func() { return one(1, 2) }))\n"
        "print(kind(func() { let n = 5\n return n() }))\n"
        'print(kind(func() { return 1 < "a" }))\n'
        'print(kind(func() { return -"a" }))\n'
        "print(kind(func() { return {} + 1 }))\n"
        "print(kind(func() { for x in 5 { } }))\n"
        'print(kind(func() { let s = "ab"\n s[0] = "x" }))\n'
    )
    assert out.splitlines() == [
        "NameError: 'undefined_name' is not defined",
        "TypeError: cannot use - on number and string",
        "IndexError: index 5 is out of range for array of length 1",
        "ValueError: division by zero",
        "ValueError: modulo by zero",
        "TypeError: cannot read 'k' of null",
        "ArgumentError: one() takes 1 argument but 2 were given",
        "TypeError: n is not a function (it is a number)",
        "TypeError: cannot compare number and string with <",
        "TypeError: cannot use - on string",
        "TypeError: cannot use + on object and number",
        "TypeError: cannot loop over 5 (use an array, string or object)",
        "TypeError: strings cannot be changed; build a new one instead",
    ]


def test_listen_statement_calls_the_listen_builtin() -> None:
    from ezlang.lang.registry import BUILTINS

    calls: list[tuple[str, object]] = []
    saved = BUILTINS.get("listen")
    BUILTINS["listen"] = lambda event, fn: calls.append((event, fn(21)))
    try:
        run_source('listen "messageCreate" (message) { return message * 2 }')
    finally:
        if saved is None:
            del BUILTINS["listen"]
        else:
            BUILTINS["listen"] = saved
    assert calls == [("messageCreate", 42)]


def test_returned_namespace_holds_top_level_names() -> None:
    _, ns = run_source("let x = 1 + 2\nfunc f() { return x }\nif true { let hidden = 1 }")
    assert ns["x"] == 3 and callable(ns["f"]) and ns["f"]() == 3
    assert "hidden" not in ns


def test_plus_fast_path_handles_every_type_mix(ez: Ez) -> None:
    # `total = total + v` runs Python's + first and retries with EasyLang's on TypeError.
    out = ez(
        'let total = 0\nfor v in [1, 2.5, "x", 3, null, true] { total = total + v }\nprint(total)\n'
        "func add(a, b) { return a + b }\n"
        'print(add(1, 2), add("a", 1), add(1, "a"), add(1.5, 1), add([1], [2]), add(true, 1))'
    )
    assert out == "3.5x3nulltrue\n3 a1 1a 2.5 [1, 2] 2\n"


def test_closures_made_in_a_loop_keep_their_iteration_variables(ez: Ez) -> None:
    # As with JavaScript's `let`: each iteration has its own loop and body variables.
    out = ez(
        "let fns = []\nfor i in range(3) { push(fns, func() { return i }) }\n"
        "let got = []\nfor f in fns { push(got, f()) }\nprint(got)\n"
        "let gs = []\nlet j = 0\n"
        "while j < 3 {\n  let k = j * 10\n  push(gs, func() { k += 1\n return k })\n  j += 1\n}\n"
        "print(gs[0](), gs[0](), gs[2]())\n"
        "for m in [1, 2] {\n  let count = 0\n  let bump = func() { count += 1 }\n"
        "  bump()\n  bump()\n  print(count)\n}\n"
        "for q in [5] {\n  func show() { return q + later }\n  let later = 1\n  print(show())\n}\n"
    )
    assert out == "[0, 1, 2]\n1 2 21\n2\n2\n6\n"


def test_variables_outside_the_loop_stay_shared(ez: Ez) -> None:
    out = ez(
        "let total = 0\nlet adders = []\n"
        "for n in [1, 2, 3] { push(adders, func() { total += n }) }\n"
        "for a in adders { a() }\nprint(total)"
    )
    assert out == "6\n"


def test_caught_error_has_a_stack(ez: Ez) -> None:
    out = ez('func inner() { error("x") }\ntry { inner() } catch e { print(e.stack) }')
    assert out == '["<main> at test.ez:2:7", "inner at test.ez:1:16"]\n'


def test_strings_and_arrays_have_builtin_methods(ez: Ez) -> None:
    out = ez(
        'let a = [3, 1]\na.push(2)\nprint(a, a.length, a.join("-"), a.contains(3), a.index_of(1))\n'
        'print("a,b".split(","), " hi ".trim().upper(), "abc".starts_with("a"), "abc".length)'
    )
    assert out == '[3, 1, 2] 3 3-1-2 true 1\n["a", "b"] HI true 3\n'


def test_calling_a_missing_method_names_it(ez: Ez) -> None:
    out = ez('let msg = {content: "x"}\ntry { msg.reply("hi") } catch e { print(e.message) }')
    assert out == "msg.reply is not a function (it is null)\n"


def test_exact_division_of_whole_numbers_is_whole(ez: Ez) -> None:
    out = ez('let w = 6\nprint("-" * (w / 2), [10, 20, 30, 40][w / 2], 7 / 2, 1 / 3, type(6 / 2))')
    assert out == "--- 40 3.5 0.3333333333333333 number\n"
