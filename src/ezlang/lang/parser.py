"""EasyLang parser: tokens → AST (``ezlang.lang.nodes``), by recursive descent.

Each parsing method mirrors one rule of the grammar below (also in docs/GRAMMAR.md). The
parser stops at the first syntax error with a positioned ``EzError("SyntaxError")``; it never
skips code.

    program     = { sep } { statement { sep } } EOF ;
    sep         = NEWLINE | ";" ;
    statement   = let_stmt | func_decl | if_stmt | while_stmt | for_stmt | return_stmt
                | "break" | "continue" | throw_stmt | try_stmt | import_stmt | include_stmt
                | use_stmt | delete_stmt | listen_stmt | block | simple_stmt ;
    let_stmt    = ( "let" | "var" | "const" ) NAME [ "=" expression ] ;
    func_decl   = ( "func" | "function" ) NAME params block ;
    params      = "(" [ NAME { "," NAME } [ "," ] ] ")" ;
    if_stmt     = "if" expression block { "else" "if" expression block } [ "else" block ] ;
    while_stmt  = "while" expression block ;
    for_stmt    = "for" ( for_head | "(" for_head ")" ) block ;
    for_head    = [ "let" | "var" | "const" ] NAME "in" expression ;
    return_stmt = "return" [ expression ] ;          (* the value must start on the same line;
                                                         at the top level it ends the file *)
    throw_stmt  = "throw" expression ;
    try_stmt    = "try" block [ "catch" [ NAME | "(" NAME ")" ] block ] [ "finally" block ] ;
                                                      (* at least one of catch / finally *)
    import_stmt = "import" STRING [ "as" NAME ] ;
    include_stmt = "include" STRING ;                 (* runs the file in this file's scope *)
    use_stmt    = "use" "python" STRING [ "as" NAME ] ;
    delete_stmt = "delete" postfix ;                  (* postfix ends in .key or [key] *)
    listen_stmt = "listen" STRING params block ;
    block       = "{" { sep } { statement { sep } } "}" ;
    simple_stmt = expression [ ( "=" | "+=" | "-=" | "*=" | "/=" | "%=" ) expression ] ;
                                                      (* target: NAME, member or index *)
    expression  = or_expr ;
    or_expr     = and_expr { ( "or" | "||" ) and_expr } ;
    and_expr    = not_expr { ( "and" | "&&" ) not_expr } ;
    not_expr    = "not" not_expr | comparison ;      (* `not a == b` is `not (a == b)` *)
    comparison  = additive { ( "==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not" "in" )
                             additive } ;
    additive    = term { ( "+" | "-" ) term } ;
    term        = unary { ( "*" | "/" | "%" ) unary } ;
    unary       = ( "-" | "+" | "!" ) unary | postfix ;   (* `!a == b` is `(!a) == b` *)
    postfix     = primary { "(" [ expression { "," expression } [ "," ] ] ")"
                          | "." ANYNAME | "[" expression "]" } ;
    primary     = NUMBER | STRING | "true" | "false" | "null" | NAME | "(" expression ")"
                | "[" [ expression { "," expression } [ "," ] ] "]"
                | "{" [ entry { "," entry } [ "," ] ] "}"
                | ( "func" | "function" ) params block ;
    entry       = ( ANYNAME | STRING | NUMBER ) ":" expression | NAME ;

NAME is a word that is not a reserved word; ANYNAME is any word (member names and object
keys may be keywords: ``msg.type``, ``{if: 1}``). A statement ends at a newline, a ``;``, a
``}`` or the end of the file. Newlines are ignored inside ``( )``, ``[ ]`` and object
literals, and after a binary operator or a comma, so expressions may span lines there.

The parser is one class in three layers, a module each: ``parse_tokens`` (the token cursor,
brackets and errors), ``parse_expressions`` (expressions) and this module (statements).
"""

from __future__ import annotations

import sys

from ezlang.lang import nodes as n
from ezlang.lang.errors import EzError
from ezlang.lang.lexer import EOF, NAME, NEWLINE, NUMBER, OP, STRING, Token, tokenize
from ezlang.lang.parse_expressions import ExpressionParser
from ezlang.lang.parse_tokens import MAX_DEPTH, RESERVED

_ASSIGN_OPS = frozenset({"=", "+=", "-=", "*=", "/=", "%="})

#: Words other languages use to define a function: ``def f(`` gets a hint naming ``func``.
_OTHER_FUNC_WORDS = frozenset({"def", "fn", "fun", "func_", "lambda", "sub", "proc"})

#: The older EasyLang's natural-language statements (``reply message "hi"``): each first word
#: with the EasyLang way to write it. They are out of scope; they get a SyntaxError that shows
#: the function call instead (docs/PORTING.md).
_NATURAL_STATEMENTS = {
    "start": "bot_start(token)  (for `start bot with token TOKEN`)",
    "reply": 'reply(message, "text")',
    "send": 'send_message(channel, "text")',
    "react": 'react(message, "👍")',
    "set": "name = value  (for `set name to value`)",
    "load": 'use python "module" as name  (for `load python package "module" as name`)',
    "register": 'slash_command("name", "description", func(i) { … })  (for `register slash command …`)',
    "ban": 'ban_member(fetch_member(guild_id, user_id), "reason")',
    "kick": 'kick_member(fetch_member(guild_id, user_id), "reason")',
    "timeout": "timeout_member(member, milliseconds, reason)",
    "add": "add_role_to_member(member, role)  (for `add role … to user …`)",
    "remove": "remove_role_from_member(member, role)  (for `remove role … from user …`)",
    "create": 'create_thread(channel, "name"), create_channel(guild, "name") or '
    'create_role(guild, "name")  (for `create thread …`, `create channel …`, `create role …`)',
}
#: Natural-language statements whose action ezlang has no builtin for yet (voice).
_NATURAL_WITHOUT_BUILTIN = frozenset({"join", "play"})

#: Bodies whose missing braces get the hint "EasyLang needs braces".
_BRACED = tuple(f"the body of the {w}" for w in ("if", "else", "while", "for"))


class Parser(ExpressionParser):
    """Recursive-descent parser over the token list of one source file: statements here,
    expressions and tokens in its base classes."""

    def parse_program(self) -> n.Module:
        body: list[n.Stmt] = []
        self.skip_separators()
        while self.peek().kind != EOF:
            body.append(self.statement())
            self.skip_separators()
        return n.Module(1, 1, tuple(body), self.filename)

    def end_statement(self) -> None:
        tok = self.tokens[self.i]
        if tok.kind == NEWLINE or (tok.kind == OP and tok.value == ";"):
            self.i += 1
        elif tok.kind == EOF or (tok.kind == OP and tok.value == "}"):
            pass
        else:
            raise self.error(f"expected the end of the statement, found {tok.describe()}", tok)

    def statement(self) -> n.Stmt:
        tok = self.peek()
        if tok.kind == NAME:
            word = tok.value
            if word in ("let", "var", "const"):
                stmt: n.Stmt = self.let_stmt()
            elif word in ("func", "function") and self.peek_next().kind == NAME:
                stmt = self.func_decl()
                return stmt
            elif word == "if":
                return self.if_stmt()
            elif word == "while":
                return self.while_stmt()
            elif word == "for":
                return self.for_stmt()
            elif word == "try":
                return self.try_stmt()
            elif word == "return":
                stmt = self.return_stmt()
            elif word == "break":
                self.advance()
                stmt = n.Break(tok.line, tok.col)
            elif word == "continue":
                self.advance()
                stmt = n.Continue(tok.line, tok.col)
            elif word == "throw":
                self.advance()
                stmt = n.Throw(tok.line, tok.col, self.expression())
            elif word == "import":
                stmt = self.import_stmt()
            elif word == "delete" and self.peek_next().kind == NAME:
                stmt = self.delete_stmt()
            elif word == "include" and self.peek_next().kind == STRING:
                stmt = self.include_stmt()
            elif (
                word == "use"
                and self.peek_next().kind == NAME
                and self.peek_next().value == "python"
            ):
                stmt = self.use_stmt()
            elif word == "listen" and self.peek_next().kind == STRING:
                return self.listen_stmt()
            elif word in ("else", "catch", "finally"):
                raise self.error(
                    f"'{word}' without a matching '{'try' if word != 'else' else 'if'}'"
                )
            else:
                self.check_foreign_statement(tok)
                stmt = self.simple_stmt()
        elif tok.kind == OP and tok.value == "{" and not self.starts_object():
            body = self.block("the block")
            return n.Block(tok.line, tok.col, body)
        else:
            stmt = self.simple_stmt()
        self.end_statement()
        return stmt

    def check_foreign_statement(self, tok: Token) -> None:
        """Hints for statements from other languages or the older EasyLang's natural-language
        statements: ``def f(x):``, ``elif x:``, ``reply message "hi"``. Each of these is a word
        followed on the same line by a word, string or number, which is never EasyLang."""
        nxt = self.tokens[self.i + 1]
        if nxt.kind not in (NAME, STRING, NUMBER) or nxt.line != tok.line:
            return
        word = str(tok.value)
        if word in _OTHER_FUNC_WORDS and nxt.kind == NAME:
            raise self.error(
                f"EasyLang uses 'func' to define a function: func {nxt.value}(...) {{ ... }}"
                f" (not '{word}')"
            )
        if word == "elif":
            raise self.error("EasyLang writes 'else if' (not 'elif'): } else if cond { ... }")
        if word in _NATURAL_STATEMENTS:
            raise self.error(
                f"'{word} …' is a natural-language statement of the older EasyLang; "
                f"EasyLang writes a function call: {_NATURAL_STATEMENTS[word]}"
            )
        if word in _NATURAL_WITHOUT_BUILTIN:
            raise self.error(
                f"'{word} …' is a natural-language statement of the older EasyLang; EasyLang "
                "writes function calls, and has no builtin for this one yet (docs/PORTING.md)"
            )

    def starts_object(self) -> bool:
        """At a statement's ``{``: is it an object literal (``{key: …``) rather than a block?"""
        key, colon = self.tokens[self.i + 1], self.tokens[min(self.i + 2, len(self.tokens) - 1)]
        return key.kind in (NAME, STRING, NUMBER) and colon.kind == OP and colon.value == ":"

    def block(self, what: str) -> tuple[n.Stmt, ...]:
        """``{ statements }``; ``what`` names the construct in error messages."""
        self.skip_newlines()
        tok = self.peek()
        if not (tok.kind == OP and tok.value == "{"):
            hint = ""
            if tok.kind == OP and tok.value == ":":
                hint = " (EasyLang puts a body in braces, not after ':': if x { ... })"
            elif (
                tok.kind == OP
                and tok.value == "="
                and what.startswith(("the body of the if", "the body of the while"))
            ):
                hint = "; to compare, write '==' ('=' assigns): x == 5"
            elif what.startswith(_BRACED):
                hint = " (EasyLang needs braces around a body, even a one-line one)"
            raise self.error(f"expected '{{' to start {what}, found {tok.describe()}{hint}")
        self.advance()
        self.enter(tok)
        saved, self.bracket_depth = self.bracket_depth, 0
        saved_open, self.open_brackets = self.open_brackets, []
        body: list[n.Stmt] = []
        while True:
            self.skip_separators()
            cur = self.peek()
            if cur.kind == OP and cur.value == "}":
                self.advance()
                break
            if cur.kind == EOF:
                raise self.error(
                    f"expected '}}' to close the block opened at {tok.line}:{tok.col}"
                    f"{self.quote_line(tok)}, found end of file",
                    cur,
                )
            body.append(self.statement())
        self.bracket_depth = saved
        self.open_brackets = saved_open
        self.depth -= 1
        return tuple(body)

    def let_stmt(self) -> n.Let:
        kw = self.advance()
        name = self.expect_name(f"a variable name after '{kw.value}'")
        value = None
        if self.at_op("="):
            self.advance()
            self.skip_newlines()
            value = self.expression()
        elif kw.value == "const":
            raise self.error(f"const {name.value} needs a value ('const {name.value} = ...')")
        return n.Let(name.line, name.col, str(kw.value), str(name.value), value)

    def params(self, what: str) -> tuple[str, ...]:
        opener = self.peek()
        self.expect_op("(", f"before the parameters of {what}")
        self.open_bracket()
        names: list[str] = []
        while not self.at_op(")"):
            tok = self.expect_name("a parameter name")
            if tok.value in names:
                raise self.error(f"duplicate parameter '{tok.value}'", tok)
            names.append(str(tok.value))
            if not self.at_op(","):
                break
            self.advance()
        self.close(opener, "the parameter list")
        self.close_bracket()
        return tuple(names)

    def func_rest(self, start: Token, name: str | None) -> n.FuncExpr:
        what = f"function {name}" if name else "the function"
        params = self.params(what)
        body = self.block(f"the body of {what}")
        end_line = self.tokens[self.i - 1].line
        return n.FuncExpr(start.line, start.col, name, params, body, end_line)

    def func_decl(self) -> n.FuncDecl:
        start = self.advance()
        name = self.expect_name("a function name")
        func = self.func_rest(start, str(name.value))
        return n.FuncDecl(start.line, start.col, func)

    def condition(self) -> n.Expr:
        self.in_condition += 1
        try:
            return self.expression()
        finally:
            self.in_condition -= 1

    def if_stmt(self) -> n.If:
        start = self.advance()
        cond = self.condition()
        then = self.block("the body of the if")
        orelse: tuple[n.Stmt, ...] | None = None
        nxt = self.next_significant()
        if nxt.kind == NAME and nxt.value == "else":
            self.skip_newlines()
            self.advance()
            if self.at_word("if"):
                orelse = (self.if_stmt(),)
            else:
                orelse = self.block("the body of the else")
        return n.If(start.line, start.col, cond, then, orelse)

    def while_stmt(self) -> n.While:
        start = self.advance()
        cond = self.condition()
        body = self.block("the body of the while loop")
        return n.While(start.line, start.col, cond, body)

    def for_stmt(self) -> n.For:
        start = self.advance()
        opener = self.peek() if self.at_op("(") else None
        if opener is not None:
            self.advance()
            self.open_bracket()
        if self.peek().kind == NAME and self.peek().value in ("let", "var", "const"):
            self.advance()
        var = self.expect_name("a loop variable name after 'for'")
        if not self.at_word("in"):
            raise self.error(
                f"expected 'in' after 'for {var.value}', found {self.peek().describe()}"
            )
        self.advance()
        iterable = self.expression()
        if opener is not None:
            self.close(opener)
            self.close_bracket()
        body = self.block("the body of the for loop")
        return n.For(start.line, start.col, str(var.value), iterable, body)

    def try_stmt(self) -> n.Try:
        start = self.advance()
        body = self.block("the body of the try")
        catch_name: str | None = None
        handler = finalbody = None
        nxt = self.next_significant()
        if nxt.kind == NAME and nxt.value == "catch":
            self.skip_newlines()
            self.advance()
            if self.at_op("("):
                opener = self.advance()
                self.open_bracket()
                catch_name = str(self.expect_name("a name for the caught error").value)
                self.close(opener)
                self.close_bracket()
            elif self.peek().kind == NAME:
                catch_name = str(self.expect_name("a name for the caught error").value)
            handler = self.block("the body of the catch")
            nxt = self.next_significant()
        if nxt.kind == NAME and nxt.value == "finally":
            self.skip_newlines()
            self.advance()
            finalbody = self.block("the body of the finally")
        if handler is None and finalbody is None:
            raise self.error(
                f"expected 'catch' or 'finally' after the try block, found {nxt.describe()}", nxt
            )
        return n.Try(start.line, start.col, body, catch_name, handler, finalbody)

    def return_stmt(self) -> n.Return:
        start = self.advance()
        tok = self.tokens[self.i]
        if tok.kind in (NEWLINE, EOF) or (tok.kind == OP and tok.value in (";", "}")):
            return n.Return(start.line, start.col, None)
        return n.Return(start.line, start.col, self.expression())

    def import_stmt(self) -> n.Import:
        start = self.advance()
        tok = self.peek()
        if tok.kind != STRING:
            raise self.error(
                f"expected a file name in quotes after 'import', found {tok.describe()}"
            )
        self.advance()
        alias = None
        if self.at_word("as"):
            self.advance()
            alias = str(self.expect_name("a name after 'as'").value)
        return n.Import(start.line, start.col, str(tok.value), alias)

    def delete_stmt(self) -> n.Delete:
        start = self.advance()
        target = self.postfix()
        if not isinstance(target, n.Member | n.Index):
            raise self.error("delete needs an object key: delete obj[key] or delete obj.key", start)
        return n.Delete(start.line, start.col, target)

    def include_stmt(self) -> n.Include:
        start = self.advance()
        path = self.advance()
        return n.Include(start.line, start.col, str(path.value))

    def use_stmt(self) -> n.UsePython:
        start = self.advance()
        self.advance()  # python
        tok = self.peek()
        if tok.kind != STRING:
            raise self.error(
                f"expected a module name in quotes after 'use python', found {tok.describe()}"
            )
        self.advance()
        module = str(tok.value)
        if self.at_word("as"):
            self.advance()
            alias = str(self.expect_name("a name after 'as'").value)
        else:
            alias = module.rsplit(".", 1)[-1]
            if not alias.isidentifier() or alias in RESERVED:
                raise self.error(
                    f'write use python "{module}" as NAME: "{alias}" cannot be a variable name',
                    tok,
                )
        return n.UsePython(start.line, start.col, module, alias)

    def listen_stmt(self) -> n.Listen:
        start = self.advance()
        event = self.advance()
        func = self.func_rest(start, None)
        func = n.FuncExpr(
            func.line, func.col, f"listen_{event.value}", func.params, func.body, func.end_line
        )
        return n.Listen(start.line, start.col, str(event.value), func)

    def simple_stmt(self) -> n.Stmt:
        start = self.peek()
        expr = self.expression()
        tok = self.tokens[self.i]
        if tok.kind == OP and tok.value in _ASSIGN_OPS:
            if not isinstance(expr, n.Name | n.Member | n.Index):
                raise self.error("cannot assign to this (only to a variable, o.key or a[i])", start)
            self.advance()
            self.skip_newlines()
            value = self.expression()
            return n.Assign(tok.line, tok.col, expr, str(tok.value), value)
        return n.ExprStmt(start.line, start.col, expr)


def _ensure_stack() -> None:
    # Each nesting level costs ~12 Python frames of recursive descent.
    if sys.getrecursionlimit() < MAX_DEPTH * 12 + 1000:
        sys.setrecursionlimit(MAX_DEPTH * 12 + 1000)


_ensure_stack()


def parse(source: str, filename: str = "<string>") -> n.Module:
    """Parse a whole file. Raises ``EzError("SyntaxError")`` at the first error."""
    _ensure_stack()
    tokens = tokenize(source, filename)
    return Parser(tokens, filename, source).parse_program()


def parse_expression(source: str, filename: str = "<string>") -> n.Expr | None:
    """Parse ``source`` as one bare expression, or return None if it is not exactly that."""
    _ensure_stack()
    tokens = tokenize(source, filename)
    parser = Parser(tokens, filename)
    parser.skip_separators()
    try:
        expr = parser.expression()
    except EzError:
        return None
    parser.skip_separators()
    if parser.peek().kind != EOF:
        return None
    return expr
