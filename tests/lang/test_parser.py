"""Parser: the AST for each construct, and clear positioned syntax errors (never skipping)."""

from __future__ import annotations

import pytest

from ezlang.lang import nodes as n
from ezlang.lang.errors import EzError
from ezlang.lang.parser import parse, parse_expression


def one(src: str) -> n.Stmt:
    body = parse(src, "t.ez").body
    assert len(body) == 1, body
    return body[0]


def expr(src: str) -> n.Expr:
    stmt = one(src)
    assert isinstance(stmt, n.ExprStmt)
    return stmt.expr


def syntax_error(src: str) -> EzError:
    with pytest.raises(EzError) as info:
        parse(src, "t.ez")
    assert info.value.kind == "SyntaxError"
    assert info.value.pos is not None and info.value.pos.file == "t.ez"
    return info.value


def test_precedence_of_arithmetic() -> None:
    e = expr("1 + 2 * 3")
    assert isinstance(e, n.Binary) and e.op == "+"
    assert isinstance(e.right, n.Binary) and e.right.op == "*"


def test_comparison_binds_tighter_than_and_or() -> None:
    e = expr("a or b and c == d")
    assert isinstance(e, n.Logical) and e.op == "or"
    assert isinstance(e.right, n.Logical) and e.right.op == "and"
    assert isinstance(e.right.right, n.Binary) and e.right.right.op == "=="


def test_not_word_is_looser_than_comparison_but_bang_is_tight() -> None:
    e = expr("not a == b")
    assert isinstance(e, n.Unary) and isinstance(e.operand, n.Binary)
    e = expr("!a == b")
    assert isinstance(e, n.Binary) and isinstance(e.left, n.Unary)


def test_left_associative_subtraction() -> None:
    e = expr("10 - 4 - 3")
    assert isinstance(e, n.Binary) and isinstance(e.left, n.Binary)


def test_postfix_chain_positions() -> None:
    e = expr("o.a[2].b(1)")
    assert isinstance(e, n.Call)
    assert isinstance(e.callee, n.Member) and e.callee.name == "b"
    assert (e.line, e.col) == (1, 8)  # a method call points at the method's name
    assert (expr("f(1)").line, expr("f(1)").col) == (1, 1)


def test_binary_node_points_at_its_operator() -> None:
    e = expr("xx + yy")
    assert (e.line, e.col) == (1, 4)


def test_keywords_allowed_as_members_keys_and_plain_words_as_names() -> None:
    e = expr("{token: 1, if: 2, type: 3}")
    assert isinstance(e, n.ObjectLit)
    assert [k for k, _ in e.entries] == ["token", "if", "type"]
    assert isinstance(expr("msg.type"), n.Member)
    assert isinstance(expr("o.if"), n.Member)
    stmt = one("let message = 1")
    assert isinstance(stmt, n.Let) and stmt.name == "message"


def test_object_literal_keys_and_shorthand() -> None:
    e = expr('{"a b": 1, 2: 3, c}')
    assert isinstance(e, n.ObjectLit)
    assert [k for k, _ in e.entries] == ["a b", "2", "c"]
    assert isinstance(e.entries[2][1], n.Name)


def test_newlines_inside_brackets_and_after_operators_and_commas() -> None:
    stmt = one("let x = foo(1,\n  2,\n  [3,\n   4]) +\n  5")
    assert isinstance(stmt, n.Let) and isinstance(stmt.value, n.Binary)


def test_newline_ends_a_statement() -> None:
    body = parse("a\n(b)").body
    assert len(body) == 2  # not a call a(b)


def test_semicolons_separate_statements() -> None:
    assert len(parse("a = 1; b = 2; c()").body) == 3


def test_let_var_const() -> None:
    for kw in ("let", "var", "const"):
        stmt = one(f"{kw} x = 1")
        assert isinstance(stmt, n.Let) and stmt.kind == kw


def test_function_forms() -> None:
    for src in ("func add(a, b) { return a + b }", "function add(a, b) { return a + b }"):
        stmt = one(src)
        assert isinstance(stmt, n.FuncDecl)
        assert stmt.func.name == "add" and stmt.func.params == ("a", "b")
    stmt = one("let f = func(a) { return a * 2 }")
    assert isinstance(stmt, n.Let) and isinstance(stmt.value, n.FuncExpr)


def test_if_else_if_else_with_optional_parens_and_newlines() -> None:
    stmt = one("if (a) {\n} else if b {\n}\nelse {\n  c()\n}")
    assert isinstance(stmt, n.If)
    assert stmt.orelse is not None and isinstance(stmt.orelse[0], n.If)
    inner = stmt.orelse[0]
    assert inner.orelse is not None and isinstance(inner.orelse[0], n.ExprStmt)


def test_loops() -> None:
    stmt = one("for x in xs { continue }")
    assert isinstance(stmt, n.For) and stmt.var == "x"
    stmt = one("for (let i in range(3)) { break }")
    assert isinstance(stmt, n.For) and stmt.var == "i"
    assert isinstance(one("while i < 3 { i += 1 }"), n.While)


def test_try_catch_finally_forms() -> None:
    stmt = one("try { a() } catch err { b() } finally { c() }")
    assert isinstance(stmt, n.Try) and stmt.catch_name == "err" and stmt.finalbody
    stmt = one("try { a() } catch (e) { }")
    assert isinstance(stmt, n.Try) and stmt.catch_name == "e"
    stmt = one("try { a() } finally { }")
    assert isinstance(stmt, n.Try) and stmt.handler is None


def test_import_and_listen() -> None:
    stmt = one('import "utils.ez" as utils')
    assert isinstance(stmt, n.Import) and stmt.path == "utils.ez" and stmt.alias == "utils"
    stmt = one('listen "messageCreate" (message) { print(message) }')
    assert isinstance(stmt, n.Listen) and stmt.event == "messageCreate"
    assert stmt.func.params == ("message",)
    assert isinstance(expr('listen("ready", f)'), n.Call)


def test_compound_assignments() -> None:
    for op in ("=", "+=", "-=", "*=", "/=", "%="):
        stmt = one(f"a[0] {op} 1")
        assert isinstance(stmt, n.Assign) and stmt.op == op


def test_return_without_value_before_newline() -> None:
    stmt = one("func f() {\n  return\n  g()\n}")
    assert isinstance(stmt, n.FuncDecl)
    ret = stmt.func.body[0]
    assert isinstance(ret, n.Return) and ret.value is None
    assert len(stmt.func.body) == 2


def test_parse_expression_only_accepts_a_lone_expression() -> None:
    assert isinstance(parse_expression("client.ws.ping"), n.Member)
    assert parse_expression("let x = 1") is None
    assert parse_expression("a b") is None


# ----------------------------------------------------------------------------- errors


def test_unclosed_block_names_where_it_was_opened() -> None:
    err = syntax_error("if x {\n  print(1)\n")
    assert err.message == (
        "expected '}' to close the block opened at 1:6 (`if x {`), found end of file"
    )


def test_unclosed_paren_names_where_it_was_opened() -> None:
    err = syntax_error("print(1, 2\nlet y = 3")
    assert "expected ')' to close the argument list opened at 1:6" in err.message


def test_unclosed_array() -> None:
    err = syntax_error("let a = [1, 2")
    assert "close the array opened at 1:9" in err.message


def test_missing_block_brace() -> None:
    err = syntax_error("while x\n  y()")
    assert err.message == (
        "expected '{' to start the body of the while loop, found 'y'"
        " (EasyLang needs braces around a body, even a one-line one)"
    )
    assert (err.pos.line, err.pos.col) == (2, 3)


def test_two_expressions_on_one_line_is_an_error_not_skipped() -> None:
    err = syntax_error("let x = 1 2")
    assert "expected the end of the statement" in err.message
    assert err.pos.col == 11


def test_keyword_as_variable_name() -> None:
    err = syntax_error("let if = 1")
    assert "'if' is a reserved word" in err.message


def test_expected_expression() -> None:
    err = syntax_error("let x = ")
    assert err.message == "expected an expression, found end of file"
    err = syntax_error("x = )")
    assert "expected an expression, found ')'" in err.message


def test_invalid_assignment_target() -> None:
    err = syntax_error("f() = 3")
    assert "cannot assign to this" in err.message


def test_else_without_if() -> None:
    assert "'else' without a matching 'if'" in syntax_error("else { }").message


def test_try_needs_catch_or_finally() -> None:
    assert "expected 'catch' or 'finally'" in syntax_error("try { }\nx()").message


def test_const_needs_a_value() -> None:
    assert "needs a value" in syntax_error("const X").message


def test_duplicate_parameter() -> None:
    assert "duplicate parameter 'a'" in syntax_error("func f(a, a) { }").message


def test_deep_nesting_is_a_syntax_error_not_a_crash() -> None:
    err = syntax_error("x = " + "(" * 500 + "1" + ")" * 500)
    assert "nested too deeply" in err.message
    err = syntax_error("if a {" * 300 + "}" * 300)
    assert "nested too deeply" in err.message


def test_end_of_file_inside_brackets_names_the_unclosed_bracket() -> None:
    err = syntax_error("let x = (1 +\n")
    assert err.message == (
        "expected an expression, found end of file (the '(' opened at 1:9 is never closed)"
    )
    err = syntax_error("print(foo(1, [2,\n")
    assert "the '[' opened at 1:14 is never closed" in err.message


# ----------------------------------------------------------------------------- wave 2 syntax


def test_in_and_not_in_are_comparisons() -> None:
    (stmt,) = parse("x = a + 1 in b and c not in d").body
    assert isinstance(stmt, n.Assign)
    both = stmt.value
    assert isinstance(both, n.Logical)
    assert isinstance(both.left, n.Binary) and both.left.op == "in"
    assert isinstance(both.left.left, n.Binary) and both.left.left.op == "+"
    assert isinstance(both.right, n.Binary) and both.right.op == "not in"


def test_for_in_still_reads_its_loop_variable() -> None:
    (stmt,) = parse("for k in keys in xs { }").body
    assert isinstance(stmt, n.For) and stmt.var == "k"
    assert isinstance(stmt.iterable, n.Binary) and stmt.iterable.op == "in"


def test_include_and_use_python_statements() -> None:
    inc, use, bare = parse(
        'include "cmds/ping.ez"\nuse python "math" as m\nuse python "os.path"'
    ).body
    assert inc == n.Include(1, 1, "cmds/ping.ez")
    assert use == n.UsePython(2, 1, "math", "m")
    assert bare == n.UsePython(3, 1, "os.path", "path")


def test_include_and_use_stay_ordinary_names_elsewhere() -> None:
    (a, b) = parse("include = 1\nuse(2)").body
    assert isinstance(a, n.Assign) and isinstance(b, n.ExprStmt)


@pytest.mark.parametrize(
    ("source", "hint"),
    [
        ("if x = 5 {\n}", "to compare, write '=='"),
        ("while (x = 5) {\n}", "to compare, write '=='"),
        ("def f(x):\n  return x", "EasyLang uses 'func' to define a function"),
        ("fn f() { }", "EasyLang uses 'func'"),
        ("if x { } elif y { }", "EasyLang writes 'else if'"),
        ("if x:\n  y()", "not after ':'"),
        ("if a { } else print(1)", "EasyLang needs braces around a body"),
        ('reply message "hi"', "natural-language statement of the older EasyLang"),
        ("start bot with token t", "bot_start(token)"),
        ('send channel "hi"', "send_message(channel"),
        ("ban user spammer", "ban_member(fetch_member(guild_id, user_id)"),
        ("timeout user x 60", "timeout_member(member, milliseconds, reason)"),
        ("add role helper to user x", "add_role_to_member(member, role)"),
        ('create thread "Help"', 'create_thread(channel, "name")'),
        ("join voice channel x", "has no builtin for this one yet"),
        ("use python math", "expected a module name in quotes after 'use python'"),
    ],
)
def test_syntax_hints(source: str, hint: str) -> None:
    assert hint in syntax_error(source).message
