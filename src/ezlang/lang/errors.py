"""EasyLang errors.

Every error a user can cause is an :class:`EzError` with a ``kind`` (one of :data:`KINDS`) and a
message. Builtins and extension layers raise ``EzError(kind, message)`` without a position; the
runtime finds the ``.ez`` position and call stack from the traceback (compiled EasyLang code
carries ``.ez`` file names, lines and columns). Syntax errors carry their position directly.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from ezlang.lang.renamed import renamed_hint

KINDS = (
    "SyntaxError",
    "NameError",
    "TypeError",
    "ValueError",
    "IndexError",
    "ArgumentError",
    "ImportError",
    "DiscordError",
    "ShardingError",
    "TimeoutError",
    "Error",
)


@dataclass(frozen=True, slots=True)
class SourcePos:
    """A position in EasyLang source: 1-based line and column."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class EzError(Exception):
    """An EasyLang error: ``kind`` and ``message``; ``pos``/``stack`` once known.

    ``value`` is the thrown EasyLang value for ``throw value`` (kind ``Error``).
    """

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        pos: SourcePos | None = None,
        value: Any = None,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown EasyLang error kind {kind!r}")
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.pos = pos
        self.value = value
        # Filled in by the runtime: [(function name, SourcePos), ...] innermost last.
        self.stack: list[tuple[str, SourcePos]] = []

    def __str__(self) -> str:
        where = f" at {self.pos}" if self.pos else ""
        return f"{self.kind}: {self.message}{where}"

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception's default pickling calls EzError(message), which lacks the kind.
        state = {"stack": self.stack, "source_line": getattr(self, "source_line", None)}
        return (_rebuild_error, (self.kind, self.message, self.pos, self.value), state)


class ProgramReturn(BaseException):  # noqa: N818 (a signal, not an error)
    """Raised by ``return`` at the top level of a file and caught around that file's body: the
    file ends quietly. A ``BaseException`` so that EasyLang's ``catch`` never sees it."""


def _rebuild_error(kind: str, message: str, pos: SourcePos | None, value: Any) -> EzError:
    return EzError(kind, message, pos=pos, value=value)


# --------------------------------------------------------------------------- source registry
#
# The compiler registers every compiled source here under the ``co_filename`` it gives the
# code, so errors can find the ``.ez`` line and show it. Pseudo files (``<repl>``) may be
# compiled many times; each gets its own key and keeps its display name.

_SOURCES: dict[str, tuple[str, list[str]]] = {}
_pseudo_counter = 0
_pseudo_keys: list[str] = []
_MAX_PSEUDO = 2000


def register_source(filename: str, source: str) -> str:
    """Register ``source`` for ``filename``; returns the key to use as ``co_filename``."""
    global _pseudo_counter
    import linecache

    key = filename
    lines = source.splitlines()
    if filename.startswith("<") and filename in _SOURCES and _SOURCES[filename][1] != lines:
        _pseudo_counter += 1
        key = f"{filename}#{_pseudo_counter}"
        _pseudo_keys.append(key)
        if len(_pseudo_keys) > _MAX_PSEUDO:
            # A bot may eval ever-new code strings: forget the oldest sources (their errors
            # then show no source line) rather than grow forever.
            old = _pseudo_keys.pop(0)
            _SOURCES.pop(old, None)
            linecache.cache.pop(old, None)
    _SOURCES[key] = (filename, lines)
    # linecache lets Python's own traceback (shown with --debug) print .ez lines too.
    linecache.cache[key] = (len(source), None, [line + "\n" for line in lines], key)
    return key


def source_line(file_key: str, line: int) -> str | None:
    """Line ``line`` (1-based) of a registered source, or None."""
    entry = _SOURCES.get(file_key)
    if entry is None:
        try:
            with open(file_key, encoding="utf-8") as fh:
                lines = fh.read().splitlines()
        except (OSError, UnicodeDecodeError, ValueError):
            return None
    else:
        lines = entry[1]
    if 1 <= line <= len(lines):
        return lines[line - 1]
    return None


def _display_name(file_key: str) -> str:
    entry = _SOURCES.get(file_key)
    return entry[0] if entry else file_key


def _function_display(co_name: str) -> str:
    if co_name == "<module>":
        return "<main>"
    base = co_name.split("$", 1)[0]
    return base or "<anonymous function>"


@functools.lru_cache(maxsize=512)
def _positions(code: Any) -> list[tuple[int | None, int | None, int | None, int | None]]:
    # (line, end line, column, end column) of every instruction; cached, since computing it
    # walks the whole code object and catch/format may do it often.
    return list(code.co_positions())


def caller_position() -> tuple[SourcePos, str | None] | None:
    """Where the innermost running EasyLang code is now (the line calling the builtin that asks),
    with that source line; None outside EasyLang code. For an error found later that belongs
    to this line (``listen`` of an event whose intent ``bot_start`` finds missing)."""
    import sys

    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        key = code.co_filename
        if key in _SOURCES:
            line, col = frame.f_lineno, 0
            try:
                pos = _positions(code)[frame.f_lasti // 2]
                line = pos[0] if pos[0] is not None else line
                col = pos[2] if pos[2] is not None else 0
            except (IndexError, AttributeError):
                pass
            return SourcePos(_display_name(key), line, col + 1), source_line(key, line)
        frame = frame.f_back  # type: ignore[assignment]
    return None


def _ez_frames(tb: Any) -> list[tuple[str, SourcePos, str]]:
    """The frames of compiled EasyLang code in a traceback: (function, position, file key)."""
    frames = []
    while tb is not None:
        code = tb.tb_frame.f_code
        key = code.co_filename
        if key in _SOURCES:
            line, col = tb.tb_lineno, 0
            try:
                pos = _positions(code)[tb.tb_lasti // 2]
                if pos[0] is not None:
                    line = pos[0]
                if pos[2] is not None:
                    col = pos[2]
            except (IndexError, AttributeError):
                pass
            sp = SourcePos(_display_name(key), line, col + 1)
            frames.append((_function_display(code.co_name), sp, key))
        tb = tb.tb_next
    return frames


# --------------------------------------------------------------------------- Python → EasyLang

_PY_TYPE_WORDS = {
    "int": "number", "float": "number", "str": "string", "bool": "boolean",
    "NoneType": "null", "list": "array", "tuple": "array", "dict": "object",
    "function": "function", "builtin_function_or_method": "function", "method": "function",
    "ErrorValue": "object", "range": "array",
}  # fmt: skip


def _word(pytype: str) -> str:
    return _PY_TYPE_WORDS.get(pytype, pytype)


def _demangle(name: str) -> str:
    return name.split("$", 1)[0] or name


def _callee(name: str) -> str:
    """How an arity message names the function: ``add()``, or "the anonymous function"."""
    base = name.rsplit(".", 1)[-1].split("$", 1)[0]
    return f"{base}()" if base else "the anonymous function"


def _arity(name: str, want: str, got: str) -> tuple[str, str]:
    noun = "argument" if want == "1" else "arguments"
    verb = "was" if got == "1" else "were"
    return "ArgumentError", f"{_callee(name)} takes {want} {noun} but {got} {verb} given"


def _convert_type_error(msg: str) -> tuple[str, str]:
    import re

    m = re.fullmatch(r"'(\w+)' object is not callable", msg)
    if m:
        return "TypeError", f"{_word(m.group(1))} is not a function"
    m = re.fullmatch(r"unsupported operand type\(s\) for (.+?): '(\w+)' and '(\w+)'", msg)
    if m:
        op = {"//": "/", "** or pow()": "**"}.get(m.group(1), m.group(1))
        return "TypeError", f"cannot use {op} on {_word(m.group(2))} and {_word(m.group(3))}"
    m = re.fullmatch(r"'(.+?)' not supported between instances of '(\w+)' and '(\w+)'", msg)
    if m:
        return "TypeError", (
            f"cannot compare {_word(m.group(2))} and {_word(m.group(3))} with {m.group(1)}"
        )
    m = re.fullmatch(r"bad operand type for unary (.): '(\w+)'", msg)
    if m:
        return "TypeError", f"cannot use {m.group(1)} on {_word(m.group(2))}"
    m = re.fullmatch(r"can't multiply sequence by non-int of type '(\w+)'", msg)
    if m:
        return "TypeError", (
            "a string or array can only be repeated by an integer number (use int(n) or floor(n))"
        )
    m = re.fullmatch(
        r"(.+?)\(\) takes (?:from \d+ to )?(\d+) positional arguments? but (\d+) (?:was|were) given",
        msg,
    )
    if m:
        return _arity(m.group(1), m.group(2), m.group(3))
    m = re.fullmatch(r"(.+?)\(\) takes no arguments \((\d+) given\)", msg)
    if m:
        return _arity(m.group(1), "0", m.group(2))
    m = re.fullmatch(r"(.+?)\(\) missing (\d+) required positional arguments?: (.+)", msg)
    if m:
        names = m.group(3).replace("'", "")
        return "ArgumentError", f"{_callee(m.group(1))} is missing {names}"
    m = re.fullmatch(r"(.+?) expected (?:at most |at least )?(\d+) arguments?, got (\d+)", msg)
    if m:
        return _arity(m.group(1), m.group(2), m.group(3))
    for py_name, word in _PY_TYPE_WORDS.items():
        msg = msg.replace(f"'{py_name}'", word)
    return "TypeError", msg


def _convert(exc: BaseException, frames: list[Any]) -> tuple[str, str]:
    """(kind, message) for a Python exception raised inside EasyLang code."""
    import re

    msg = str(exc)
    if isinstance(exc, RecursionError):
        return (
            "Error",
            "too much recursion (a function kept calling itself; maximum depth exceeded)",
        )
    if isinstance(exc, UnboundLocalError) or (
        isinstance(exc, NameError) and "where it is not associated with a value" in msg
    ):
        m = re.search(r"variable '([^']+)'", msg)
        local = _demangle(m.group(1)) if m else "a variable"
        return "NameError", f"'{local}' is used before it has a value (declare it before this line)"
    if isinstance(exc, NameError):
        name: str | None = getattr(exc, "name", None)
        if not name:
            m = re.search(r"name '([^']+)'", msg)
            name = m.group(1) if m else "?"
        name = _demangle(name)
        renamed = renamed_hint(name)
        if renamed is not None:
            return "NameError", renamed
        hint = _suggest(name, exc)
        return "NameError", f"'{name}' is not defined{hint}"
    if isinstance(exc, ZeroDivisionError):
        return "ValueError", "division by zero"
    if isinstance(exc, TypeError):
        return _convert_type_error(msg)
    if isinstance(exc, IndexError):
        return "IndexError", msg
    if isinstance(exc, KeyError):
        return "ValueError", f"missing key {msg}"
    if isinstance(exc, OverflowError):
        return "ValueError", "number too large"
    if isinstance(exc, TimeoutError):
        return "TimeoutError", msg or "timed out"
    if isinstance(exc, ValueError):
        return "ValueError", msg
    if isinstance(exc, MemoryError):
        return "Error", "out of memory"
    return "Error", f"internal error ({type(exc).__name__}: {msg})"


def _suggest(name: str, exc: BaseException) -> str:
    import difflib

    candidates: set[str] = set()
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename in _SOURCES:
            frame = tb.tb_frame
            candidates.update(frame.f_locals)
            candidates.update(frame.f_globals)
            builtins = frame.f_globals.get("__builtins__")
            if isinstance(builtins, dict):
                candidates.update(builtins)
        tb = tb.tb_next
    names = {_demangle(c) for c in candidates if not c.startswith(("$", "__"))}
    close = difflib.get_close_matches(name, sorted(names), n=1, cutoff=0.75)
    return f" (did you mean '{close[0]}'?)" if close else ""


def to_ez_error(exc: BaseException, *, locate: bool = True) -> EzError:
    """The :class:`EzError` for an exception raised by (or inside) EasyLang code.

    An ``EzError`` gets its position and call stack from its traceback (if it has none yet);
    a Python exception becomes an ``EzError`` of the matching kind with an EasyLang wording
    (``1 - "a"`` → TypeError "cannot use - on number and string"). The original exception is
    kept as ``__cause__`` for ``--debug``. ``locate=False`` skips the position and stack
    (``catch`` needs only kind and message; they are found later if the error is shown).
    """
    frames = _ez_frames(exc.__traceback__) if locate else []
    if isinstance(exc, EzError):
        err = exc
    else:
        kind, message = _convert(exc, frames)
        err = EzError(kind, message)
        err.__cause__ = exc
        err.__traceback__ = exc.__traceback__
        if not locate and message.endswith("is not a function"):
            # The message names the callee from the source, so catch sees the same text.
            frames = _ez_frames(exc.__traceback__)
    if frames and len(frames) >= len(err.stack):
        err.stack = [(fn, pos) for fn, pos, _ in frames]
        if err.pos is None or getattr(err, "_pos_from_stack", False):
            fn, pos, key = frames[-1]
            err.pos = pos
            err._pos_from_stack = True  # type: ignore[attr-defined]
            err.source_line = source_line(key, pos.line)  # type: ignore[attr-defined]
            _name_the_callee(err)
    return err


def _name_the_callee(err: EzError) -> None:
    """``null is not a function`` → ``msg.reply is not a function (it is null)``: name what
    was called, read from the source at the error's column."""
    import re

    line = getattr(err, "source_line", None)
    if err.kind != "TypeError" or line is None or err.pos is None:
        return
    m = re.fullmatch(r"(\w+) is not a function", err.message)
    if m is None:
        return
    start = err.pos.col - 1
    callee = re.match(r"[A-Za-z_][\w.]*(?:\[[^\]\n]*\][\w.]*)*", line[start:])
    if callee is None or line[start + callee.end() :].lstrip()[:1] != "(":
        return
    # A method call's position is its member name: include the object path before it.
    while start > 0 and (line[start - 1].isalnum() or line[start - 1] in "_."):
        start -= 1
    text = line[start : err.pos.col - 1 + callee.end()].lstrip(".")
    kind = m.group(1)
    article = "" if kind == "null" else ("an " if kind[0] in "aeiou" else "a ")
    err.message = f"{text} is not a function (it is {article}{kind})"
    err.args = (err.message,)


_MAX_SHOWN = 100


def format_error(exc: BaseException, debug: bool = False) -> str:
    """The text shown for an error: ``Kind: message``, ``  at file:line:col``, the source
    line with a caret, and the EasyLang call stack (innermost last). Python internals only
    with ``debug=True``."""
    err = to_ez_error(exc)
    out = [f"{err.kind}: {err.message}"]
    if err.pos is not None:
        out.append(f"  at {err.pos}")
        text = getattr(err, "source_line", None)
        if text is None:
            text = source_line(err.pos.file, err.pos.line)
        if text is not None and text.strip():
            # One space per tab keeps the caret under the right character.
            text = text.replace("\t", " ")
            stripped = text.lstrip().rstrip()
            indent = len(text) - len(text.lstrip())
            caret = max(0, err.pos.col - 1 - indent)
            if len(stripped) > _MAX_SHOWN:
                # Show a window around the caret of a very long line.
                start = max(0, min(caret - _MAX_SHOWN // 2, len(stripped) - _MAX_SHOWN))
                window = stripped[start : start + _MAX_SHOWN]
                prefix = "…" if start > 0 else ""
                suffix = "…" if start + _MAX_SHOWN < len(stripped) else ""
                stripped = prefix + window + suffix
                caret = caret - start + len(prefix)
            out.append(f"    {stripped}")
            out.append("    " + " " * caret + "^")
    if len(err.stack) > 1:
        out.append("  call stack (innermost last):")
        out.extend(_stack_lines(err.stack))
    if debug:
        import traceback

        original = err.__cause__ if err.__cause__ is not None else err
        out.append("")
        out.append("Python traceback (--debug):")
        out.append("".join(traceback.format_exception(original)).rstrip())
    return "\n".join(out) + "\n"


def _stack_lines(stack: list[tuple[str, SourcePos]]) -> list[str]:
    lines: list[str] = []
    i = 0
    while i < len(stack):
        fn, pos = stack[i]
        j = i
        while j + 1 < len(stack) and stack[j + 1] == (fn, pos):
            j += 1
        lines.append(f"    {fn} at {pos}")
        if j > i:
            lines.append(f"    ... the line above repeated {j - i} more times")
        i = j + 1
    if len(lines) > 40:
        lines = lines[:20] + [f"    ... {len(lines) - 40} more ..."] + lines[-20:]
    return lines
