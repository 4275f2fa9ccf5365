"""EasyLang parser, expressions: precedence climbing from ``or`` down to ``primary``.

One method per expression rule of the grammar in ``parser``'s docstring, loosest first.
"""

from __future__ import annotations

from ezlang.lang import nodes as n
from ezlang.lang.lexer import NAME, NUMBER, OP, STRING, Token
from ezlang.lang.parse_tokens import RESERVED, TokenCursor

_COMPARE_OPS = frozenset({"==", "!=", "<", "<=", ">", ">="})


class ExpressionParser(TokenCursor):
    """Parses expressions; function literals need statements, which ``Parser`` adds."""

    def expression(self) -> n.Expr:
        tok = self.peek()
        self.enter(tok)
        expr = self.or_expr()
        self.depth -= 1
        return expr

    def or_expr(self) -> n.Expr:
        left = self.and_expr()
        while True:
            tok = self.peek()
            if (tok.kind == NAME and tok.value == "or") or (tok.kind == OP and tok.value == "||"):
                self.advance()
                self.skip_newlines()
                left = n.Logical(tok.line, tok.col, "or", left, self.and_expr())
            else:
                return left

    def and_expr(self) -> n.Expr:
        left = self.not_expr()
        while True:
            tok = self.peek()
            if (tok.kind == NAME and tok.value == "and") or (tok.kind == OP and tok.value == "&&"):
                self.advance()
                self.skip_newlines()
                left = n.Logical(tok.line, tok.col, "and", left, self.not_expr())
            else:
                return left

    def not_expr(self) -> n.Expr:
        # The word `not` binds looser than comparisons, as in Python (`not a == b`); the
        # symbol `!` binds tightly, as in JavaScript (see unary).
        tok = self.peek()
        if tok.kind == NAME and tok.value == "not":
            self.advance()
            self.enter(tok)
            operand = self.not_expr()
            self.depth -= 1
            return n.Unary(tok.line, tok.col, "not", operand)
        return self.comparison()

    def binary_level(self, ops: frozenset[str] | tuple[str, ...], operand: str) -> n.Expr:
        parse = getattr(self, operand)
        left = parse()
        while True:
            tok = self.peek()
            if tok.kind == OP and tok.value in ops:
                self.advance()
                self.skip_newlines()
                left = n.Binary(tok.line, tok.col, str(tok.value), left, parse())
            else:
                return left

    def comparison(self) -> n.Expr:
        left = self.additive()
        while True:
            tok = self.peek()
            if tok.kind == OP and tok.value in _COMPARE_OPS:
                op = str(tok.value)
                self.advance()
            elif tok.kind == NAME and tok.value == "in":
                op = "in"
                self.advance()
            elif tok.kind == NAME and tok.value == "not" and self.at_in_after_not():
                op = "not in"
                self.advance()
                self.advance()
            else:
                return left
            self.skip_newlines()
            left = n.Binary(tok.line, tok.col, op, left, self.additive())

    def at_in_after_not(self) -> bool:
        nxt = self.tokens[self.i + 1]
        return nxt.kind == NAME and nxt.value == "in"

    def additive(self) -> n.Expr:
        return self.binary_level(("+", "-"), "term")

    def term(self) -> n.Expr:
        return self.binary_level(("*", "/", "%"), "unary")

    def unary(self) -> n.Expr:
        tok = self.peek()
        if tok.kind == OP and tok.value in ("-", "+", "!"):
            self.advance()
            self.enter(tok)
            operand = self.unary()
            self.depth -= 1
            op = "not" if tok.value == "!" else str(tok.value)
            if op == "-" and isinstance(operand, n.Literal) and type(operand.value) in (int, float):
                return n.Literal(tok.line, tok.col, -operand.value)
            return n.Unary(tok.line, tok.col, op, operand)
        return self.postfix()

    def postfix(self) -> n.Expr:
        expr = self.primary()
        while True:
            tok = self.tokens[self.i]  # no newline skipping: a call must start on the line
            if self.bracket_depth:
                tok = self.peek()
            if tok.kind != OP:
                return expr
            if tok.value == "(":
                self.advance()
                self.open_bracket()
                args: list[n.Expr] = []
                while not self.at_op(")"):
                    args.append(self.expression())
                    if not self.at_op(","):
                        break
                    self.advance()
                self.close(tok, "the argument list")
                self.close_bracket()
                expr = n.Call(expr.line, expr.col, expr, tuple(args))
            elif tok.value == ".":
                self.advance()
                name = self.peek()
                if name.kind != NAME:
                    raise self.error(f"expected a member name after '.', found {name.describe()}")
                self.advance()
                expr = n.Member(name.line, name.col, expr, str(name.value))
            elif tok.value == "[":
                self.advance()
                self.open_bracket()
                index = self.expression()
                self.close(tok)
                self.close_bracket()
                expr = n.Index(tok.line, tok.col, expr, index)
            else:
                return expr

    def primary(self) -> n.Expr:
        tok = self.peek()
        kind = tok.kind
        if kind == NUMBER or kind == STRING:
            self.advance()
            return n.Literal(tok.line, tok.col, tok.value)
        if kind == NAME:
            word = tok.value
            if word == "true" or word == "false":
                self.advance()
                return n.Literal(tok.line, tok.col, word == "true")
            if word == "null":
                self.advance()
                return n.Literal(tok.line, tok.col, None)
            if word == "func" or word == "function":
                self.advance()
                return self.func_rest(tok, None)
            if word in RESERVED:
                raise self.error(f"expected an expression, found the keyword '{word}'")
            self.advance()
            return n.Name(tok.line, tok.col, str(word))
        if kind == OP:
            if tok.value == "(":
                self.advance()
                self.open_bracket()
                expr = self.expression()
                self.close(tok)
                self.close_bracket()
                return expr
            if tok.value == "[":
                return self.array(tok)
            if tok.value == "{":
                return self.object(tok)
        raise self.error(f"expected an expression, found {tok.describe()}")

    def array(self, opener: Token) -> n.ArrayLit:
        self.advance()
        self.open_bracket()
        items: list[n.Expr] = []
        while not self.at_op("]"):
            items.append(self.expression())
            if not self.at_op(","):
                break
            self.advance()
        self.close(opener, "the array")
        self.close_bracket()
        return n.ArrayLit(opener.line, opener.col, tuple(items))

    def object(self, opener: Token) -> n.ObjectLit:
        self.advance()
        self.open_bracket()
        entries: list[tuple[str, n.Expr]] = []
        while not self.at_op("}"):
            key_tok = self.peek()
            if key_tok.kind == NAME:
                key = str(key_tok.value)
            elif key_tok.kind == STRING:
                key = str(key_tok.value)
            elif key_tok.kind == NUMBER:
                from ezlang.lang.values import format_number

                key = format_number(key_tok.value)  # type: ignore[arg-type]
            else:
                raise self.error(f"expected a key in the object, found {key_tok.describe()}")
            self.advance()
            if key_tok.kind == NAME and (self.at_op(",") or self.at_op("}")):
                if key in RESERVED:
                    raise self.error(f"expected ':' after the key '{key}'", self.peek())
                value: n.Expr = n.Name(key_tok.line, key_tok.col, key)  # shorthand {a, b}
            else:
                self.expect_op(":", f"after the key '{key}'")
                value = self.expression()
            entries.append((key, value))
            if not self.at_op(","):
                break
            self.advance()
        self.close(opener, "the object")
        self.close_bracket()
        return n.ObjectLit(opener.line, opener.col, tuple(entries))

    def func_rest(self, start: Token, name: str | None) -> n.FuncExpr:
        """Parameters and body of a function (``Parser``: a body is statements)."""
        raise NotImplementedError
