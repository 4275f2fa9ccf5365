"""EasyLang parser, first layer: the token cursor (see ``parser`` for the grammar).

``TokenCursor`` walks the token list of one file: looking ahead, consuming, matching
brackets (inside which newlines do not count), limiting nesting, and making positioned
``SyntaxError``s with hints. ``ExpressionParser`` (``parse_expressions``) and ``Parser``
(``parser``) build on it.
"""

from __future__ import annotations

from ezlang.lang.errors import EzError, SourcePos
from ezlang.lang.lexer import EOF, NAME, NEWLINE, OP, STRING, Token

#: Words that cannot be variable names (they may still be member names and object keys).
RESERVED = frozenset(
    "let var const func function if else while for return break continue throw try catch "
    "finally import true false null not and or".split()
)
_CLOSERS = {"(": ")", "[": "]", "{": "}"}

#: Deepest nesting of expressions and blocks; deeper input is a SyntaxError, not a crash.
MAX_DEPTH = 100


class TokenCursor:
    """A position in the token list of one source file, and the parser's state there."""

    def __init__(self, tokens: list[Token], filename: str, source: str = "") -> None:
        self.tokens = tokens
        self.filename = filename
        self.lines = source.splitlines()
        # > 0 while parsing the condition of an if/while: "=" there gets a "did you mean ==" hint.
        self.in_condition = 0
        self.i = 0
        # While > 0 we are inside ( [ or an object literal: newlines are insignificant.
        self.bracket_depth = 0
        self.open_brackets: list[Token] = []  # for "the ( opened at L:C is never closed"
        self.depth = 0

    # ------------------------------------------------------------------ token helpers

    def error(self, message: str, tok: Token | None = None) -> EzError:
        tok = tok or self.peek()
        if tok.kind == EOF and self.open_brackets and "opened at" not in message:
            b = self.open_brackets[-1]
            message += f" (the '{b.value}' opened at {b.line}:{b.col} is never closed)"
        message += self.string_hint()
        return EzError("SyntaxError", message, pos=SourcePos(self.filename, tok.line, tok.col))

    def string_hint(self) -> str:
        """A hint when a string just before the error ran across lines: strings may span lines
        (as in the older EasyLang), so a missing closing quote shows up later, elsewhere."""
        for prev in self.tokens[max(0, self.i - 3) : self.i + 1]:
            if prev.kind == STRING and prev.end_line > prev.line:
                return (
                    f" (the string starting at {prev.line}:{prev.col} runs on to line "
                    f"{prev.end_line}: is a closing quote missing?)"
                )
        return ""

    def quote_line(self, tok: Token) -> str:
        """`` (`if x > 3 {`)``: the source line of ``tok``, to show where a block opened."""
        if 1 <= tok.line <= len(self.lines):
            text = self.lines[tok.line - 1].strip()
            if text:
                return f" (`{text}`)"
        return ""

    def open_bracket(self) -> None:
        """Just consumed ( [ or an object's {: newlines are insignificant until it closes."""
        self.bracket_depth += 1
        self.open_brackets.append(self.tokens[self.i - 1])

    def close_bracket(self) -> None:
        self.bracket_depth -= 1
        self.open_brackets.pop()

    def peek(self) -> Token:
        if self.bracket_depth:
            self.skip_newlines()
        return self.tokens[self.i]

    def peek_next(self) -> Token:
        """The token after :meth:`peek` (newlines not skipped)."""
        self.peek()
        return self.tokens[min(self.i + 1, len(self.tokens) - 1)]

    def advance(self) -> Token:
        tok = self.peek()
        if tok.kind != EOF:
            self.i += 1
        return tok

    def skip_newlines(self) -> None:
        while self.tokens[self.i].kind == NEWLINE:
            self.i += 1

    def skip_separators(self) -> None:
        while True:
            tok = self.tokens[self.i]
            if tok.kind == NEWLINE or (tok.kind == OP and tok.value == ";"):
                self.i += 1
            else:
                return

    def at_op(self, op: str) -> bool:
        tok = self.peek()
        return tok.kind == OP and tok.value == op

    def at_word(self, word: str) -> bool:
        tok = self.peek()
        return tok.kind == NAME and tok.value == word

    def next_significant(self) -> Token:
        """The next token that is not a newline (without consuming anything)."""
        j = self.i
        while self.tokens[j].kind == NEWLINE:
            j += 1
        return self.tokens[j]

    def expect_op(self, op: str, what: str) -> Token:
        tok = self.peek()
        if tok.kind == OP and tok.value == op:
            return self.advance()
        raise self.error(f"expected '{op}' {what}, found {tok.describe()}")

    def expect_name(self, what: str) -> Token:
        tok = self.peek()
        if tok.kind != NAME:
            raise self.error(f"expected {what}, found {tok.describe()}")
        if tok.value in RESERVED:
            raise self.error(f"'{tok.value}' is a reserved word and cannot be used as {what}")
        return self.advance()

    def close(self, opener: Token, what: str = "") -> Token:
        """Consume the bracket closing ``opener``, or explain which bracket is unclosed."""
        closer = _CLOSERS[str(opener.value)]
        tok = self.peek()
        if tok.kind == OP and tok.value == closer:
            return self.advance()
        where = f"{opener.line}:{opener.col}"
        found = tok.describe()
        thing = what or f"the '{opener.value}'"
        hint = ""
        if self.in_condition and tok.kind == OP and tok.value == "=":
            hint = "; to compare, write '==' ('=' assigns)"
        raise self.error(
            f"expected '{closer}' to close {thing} opened at {where}, found {found}{hint}"
        )

    def enter(self, tok: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error("code is nested too deeply", tok)
