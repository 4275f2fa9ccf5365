"""EasyLang lexer: source text → tokens with file, line and column.

Strings may span lines, and an unknown escape such as ``"\\d"`` reads as the character after
the backslash, as the older TypeScript EasyLang's lexer read them (docs/PORTING.md).

Words are all ``NAME`` tokens; the parser decides where a word is a keyword, so keywords are
reserved only where the grammar needs them (``msg.type``, ``{token: 1}``). Newlines become
``NEWLINE`` tokens; the parser ignores them where an expression obviously continues (inside
brackets, after a binary operator or a comma).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ezlang.lang.errors import EzError, SourcePos
from ezlang.lang.values import MAX_INT_DIGITS

NUMBER = "number"
STRING = "string"
NAME = "name"
OP = "op"
NEWLINE = "newline"
EOF = "eof"

# Longest first, so "==" wins over "=".
_OPERATORS = (
    "==", "!=", "<=", ">=", "&&", "||", "+=", "-=", "*=", "/=", "%=",
    "+", "-", "*", "/", "%", "<", ">", "=", "!", "(", ")", "[", "]", "{", "}",
    ",", ".", ":", ";",
)  # fmt: skip

# No \b \f \v: the older EasyLang read "\b" as "b" (so "C:\bots" kept its letters).
_ESCAPES = {
    "n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "0": "\0",
    "\n": "",
}  # fmt: skip


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ is ~2x slower
class Token:
    """One token. ``line``/``col`` are 1-based; ``end_col`` is exclusive on ``end_line``."""

    kind: str
    value: str | int | float
    line: int
    col: int
    end_line: int
    end_col: int
    text: str = ""

    def describe(self) -> str:
        """How the token is named in error messages."""
        if self.kind == EOF:
            return "end of file"
        if self.kind == NEWLINE:
            return "end of line"
        if self.kind == STRING:
            return "a string"
        if self.kind == NUMBER:
            return f"number {self.text}"
        return f"'{self.text}'"


_DIGITS = frozenset("0123456789")
_BLANKS = frozenset(" \t\r\f\v\ufeff")
_SKIP = re.compile("[ \t\r\f\v\ufeff]+")
# A name: a letter or "_" then letters, "_" and ASCII digits (other digits such as "²" are
# not part of names, and int() would reject them in numbers).
_NAME = re.compile(r"(?:[^\W\d]|_)(?:[^\W\d]|[0-9_])*")
_PLAIN_DQ = re.compile('[^"\\\\\n]+')
_PLAIN_SQ = re.compile("[^'\\\\\n]+")
_OP = re.compile("|".join(re.escape(op) for op in _OPERATORS))


def _is_digit(ch: str) -> bool:
    # Only ASCII digits: str.isdigit() also accepts "²" and other characters int() rejects.
    return ch in _DIGITS


def _is_name_char(ch: str) -> bool:
    return ch == "_" or (ch.isalnum() and (ch.isascii() or not ch.isdigit()))


class Lexer:
    """Turns EasyLang source into a list of :class:`Token` (see :func:`tokenize`)."""

    def __init__(self, source: str, filename: str = "<string>") -> None:
        self.src = source
        self.filename = filename
        self.i = 0
        self.line = 1
        self.line_start = 0
        self.tokens: list[Token] = []

    def error(self, message: str, line: int | None = None, col: int | None = None) -> EzError:
        if line is None:
            line = self.line
        if col is None:
            col = self.i - self.line_start + 1
        return EzError("SyntaxError", message, pos=SourcePos(self.filename, line, col))

    def col(self) -> int:
        return self.i - self.line_start + 1

    def add(self, kind: str, value: str | int | float, line: int, col: int, text: str) -> None:
        self.tokens.append(Token(kind, value, line, col, self.line, self.col(), text))

    def tokenize(self) -> list[Token]:
        src = self.src
        n = len(src)
        skip_match = _SKIP.match
        name_match = _NAME.match
        op_match = _OP.match
        while self.i < n:
            ch = src[self.i]
            if ch in _BLANKS:
                self.i = skip_match(src, self.i).end()  # type: ignore[union-attr]
            elif ch == "\n":
                self.add(NEWLINE, "\n", self.line, self.col(), "\\n")
                self.i += 1
                self.line += 1
                self.line_start = self.i
            elif ch == "#" or src.startswith("//", self.i):
                end = src.find("\n", self.i)
                self.i = n if end < 0 else end
            elif src.startswith("/*", self.i):
                self.block_comment()
            elif ch in _DIGITS or (ch == "." and self.i + 1 < n and src[self.i + 1] in _DIGITS):
                self.number()
            elif ch == "_" or ch.isalpha():
                m = name_match(src, self.i)
                assert m is not None
                word = m.group()
                col = self.col()
                self.i = m.end()
                self.add(NAME, word, self.line, col, word)
            elif ch == '"' or ch == "'":
                self.string(ch)
            else:
                if ch in "=!" and src.startswith("==", self.i + 1):
                    # JavaScript's strict operators: say what EasyLang writes instead.
                    op3 = src[self.i : self.i + 3]
                    raise self.error(
                        f"EasyLang has no '{op3}': '{op3[:2]}' already compares without "
                        f"converting types (1 == \"1\" is false); write '{op3[:2]}'"
                    )
                m = op_match(src, self.i)
                if m is None:
                    shown = ch if ch.isprintable() else repr(ch)
                    raise self.error(f"unexpected character '{shown}'")
                col = self.col()
                self.i = m.end()
                op = m.group()
                self.add(OP, op, self.line, col, op)
        self.add(EOF, "", self.line, self.col(), "")
        return self.tokens

    def block_comment(self) -> None:
        line, col = self.line, self.col()
        end = self.src.find("*/", self.i + 2)
        if end < 0:
            raise self.error(f"unterminated comment (the /* at {line}:{col} is never closed)")
        spans_lines = False
        while True:
            nl = self.src.find("\n", self.i, end)
            if nl < 0:
                break
            if not spans_lines:
                # A comment spanning lines ends the statement, like the newline it hides.
                spans_lines = True
                self.i = nl
                self.add(NEWLINE, "\n", self.line, self.col(), "\n")
            self.i = nl + 1
            self.line += 1
            self.line_start = self.i
        self.i = end + 2

    def number(self) -> None:
        src, n = self.src, len(self.src)
        start, col = self.i, self.col()
        if src[self.i] == "0" and self.i + 1 < n and src[self.i + 1] in "xXbBoO":
            base = {"x": 16, "b": 2, "o": 8}[src[self.i + 1].lower()]
            self.i += 2
            while self.i < n and (_is_name_char(src[self.i])):
                self.i += 1
            text = src[start : self.i]
            digits = text[2:]
            try:
                if not digits or "__" in digits or digits[0] == "_" or digits[-1] == "_":
                    raise ValueError
                value: int | float = int(digits.replace("_", ""), base)
            except ValueError:
                raise self.error(f"invalid number '{text}'", col=col) from None
            self.add(NUMBER, value, self.line, col, text)
            return
        is_float = False
        while self.i < n and (_is_digit(src[self.i]) or src[self.i] == "_"):
            self.i += 1
        if self.i + 1 < n and src[self.i] == "." and _is_digit(src[self.i + 1]):
            is_float = True
            self.i += 1
            while self.i < n and (_is_digit(src[self.i]) or src[self.i] == "_"):
                self.i += 1
        if self.i < n and src[self.i] in "eE":
            j = self.i + 1
            if j < n and src[j] in "+-":
                j += 1
            if j < n and _is_digit(src[j]):
                is_float = True
                self.i = j
                while self.i < n and _is_digit(src[self.i]):
                    self.i += 1
        if self.i < n and _is_name_char(src[self.i]):
            while self.i < n and _is_name_char(src[self.i]):
                self.i += 1
            raise self.error(f"invalid number '{src[start : self.i]}'", col=col)
        text = src[start : self.i]
        if "__" in text or text.endswith("_") or "_." in text or "._" in text:
            raise self.error(f"invalid number '{text}'", col=col)
        clean = text.replace("_", "")
        if not is_float and len(clean) > MAX_INT_DIGITS:
            # Python refuses such int() conversions (they take quadratic time); a literal this
            # long is almost surely a paste gone wrong, so say so at its position.
            raise self.error(
                f"number literal is too long ({len(clean)} digits; at most {MAX_INT_DIGITS})",
                col=col,
            )
        value = float(clean) if is_float else int(clean)
        self.add(NUMBER, value, self.line, col, text)

    def string(self, quote: str) -> None:
        src, n = self.src, len(self.src)
        line, col = self.line, self.col()
        self.i += 1
        parts: list[str] = []
        chunk_start = self.i
        plain = _PLAIN_DQ if quote == '"' else _PLAIN_SQ
        while True:
            if self.i >= n:
                raise self.error(
                    f"unterminated string (the {quote} at {line}:{col} is never closed)"
                    + self.multiline_hint(),
                    line=line,
                    col=col,
                )
            ch = src[self.i]
            if ch != quote and ch != "\\" and ch != "\n":
                self.i = plain.match(src, self.i).end()  # type: ignore[union-attr]
                continue
            if ch == quote:
                parts.append(src[chunk_start : self.i])
                self.i += 1
                break
            if ch == "\\":
                parts.append(src[chunk_start : self.i])
                parts.append(self.escape())
                chunk_start = self.i
                continue
            # A newline inside quotes is part of the string (the older EasyLang read it so).
            self.i += 1
            self.line += 1
            self.line_start = self.i
        text = src[self.line_start + col - 1 : self.i] if self.line == line else quote
        self.add(STRING, "".join(parts), line, col, text)

    def multiline_hint(self) -> str:
        """Strings may span lines, so a quote missing on one line pairs up with the next
        string's opening quote: point at the earlier string that ran across lines."""
        for tok in reversed(self.tokens):
            if tok.kind == STRING and tok.end_line > tok.line:
                return (
                    f"; the string at {tok.line}:{tok.col} runs on to line {tok.end_line}:"
                    " is its closing quote missing?"
                )
        return ""

    def escape(self) -> str:
        src, n = self.src, len(self.src)
        if self.i + 1 >= n:
            raise self.error("unterminated string (it ends with a backslash)")
        ch = src[self.i + 1]
        if ch in _ESCAPES:
            self.i += 2
            if ch == "\n":  # a backslash at the end of a line continues the string
                self.line += 1
                self.line_start = self.i
            return _ESCAPES[ch]
        if ch in "xu":
            if ch == "u" and self.i + 2 < n and src[self.i + 2] == "{":
                end = src.find("}", self.i + 3)
                digits = src[self.i + 3 : end] if end > 0 else ""
                width = len(digits) + 2
            else:
                width = 2 if ch == "x" else 4
                digits = src[self.i + 2 : self.i + 2 + width]
            valid = (
                bool(digits)
                and len(digits) <= 6
                and all(c in "0123456789abcdefABCDEF" for c in digits)
                and not (ch == "x" and len(digits) != 2)
                and not (ch == "u" and width == 4 and len(digits) != 4)
            )
            if valid and int(digits, 16) <= 0x10FFFF:
                self.i += 2 + width
                return chr(int(digits, 16))
        # Any other escape is the character itself ("\\d" is "d"), as in the older EasyLang
        # and in JavaScript.
        self.i += 2
        return ch


def tokenize(source: str, filename: str = "<string>") -> list[Token]:
    """Tokenize ``source``; raises ``EzError("SyntaxError")`` with a position on bad input."""
    return Lexer(source, filename).tokenize()
